"""`orders dev`: one command that runs the whole service on a laptop.

With DATABASE_URL unset, PostgreSQL runs from a data folder in the project (.data/postgres),
so data survives a restart. Ctrl-C stops the API, the worker and the database, in that order.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
import psycopg

from orders import pgserver
from orders.config import Settings
from orders.migrate import migrate

PROJECT_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("ORDERS_DEV_DATA", PROJECT_DIR / ".data"))


def start_embedded_database(port: int) -> str:
    """Start (or reuse) the project's own cluster and make sure its `orders` database exists."""
    bindir = pgserver.find_bindir()
    datadir = DATA_DIR / "postgres"
    if not (datadir / "postmaster.pid").exists():
        pgserver.start(bindir, datadir, port, DATA_DIR / "postgres.log")
    server = f"postgresql://postgres@127.0.0.1:{port}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'orders'").fetchone():
            conn.execute("CREATE DATABASE orders")
    return f"{server}/orders"


def stop_embedded_database() -> None:
    pgserver.stop(pgserver.find_bindir(), DATA_DIR / "postgres")


def run(settings: Settings, port: int) -> None:
    embedded = settings.database_url is None
    pg_port = int(os.environ.get("ORDERS_DEV_PG_PORT", "54329"))
    url = start_embedded_database(pg_port) if embedded else settings.database_url
    migrate(url)
    mail_dir = os.environ.get("ORDERS_MAIL_DIR", str(DATA_DIR / "mail"))
    env = {**os.environ, "DATABASE_URL": url, "ORDERS_ENV": "dev", "ORDERS_MAIL_DIR": mail_dir}
    cli = [sys.executable, "-m", "orders"]
    children = [
        subprocess.Popen([*cli, "api", "--bind", f"127.0.0.1:{port}"], env=env),
        subprocess.Popen([*cli, "worker", "--name", "dev-worker"], env=env),
    ]
    click.echo(
        f"\n  orders is running: http://127.0.0.1:{port}   (database: {url})\n"
        f"  dashboard: http://127.0.0.1:{port}/dashboard   (an admin account: "
        f"DATABASE_URL={url} .venv/bin/orders users add --email you@example.com)\n"
        + ("" if settings.smtp_host else f"  mail is written as .eml files to {mail_dir}\n")
        + "  Ctrl-C stops everything.\n"
    )
    stopping: list[int] = []
    for signum in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C, or a supervisor's stop
        signal.signal(signum, lambda num, _frame: stopping.append(num))
    try:
        while not stopping and all(child.poll() is None for child in children):
            time.sleep(0.2)
    finally:
        _stop(children)
        if embedded:
            stop_embedded_database()


def _stop(children: list[subprocess.Popen]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children:
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
