"""`orders dev`: one command that runs the whole service on a laptop.

With DATABASE_URL unset, PostgreSQL runs from a data folder in the project (.data/postgres),
so data survives a restart. Ctrl-C stops the API, the worker and the database, in that order.
While it runs, .data/dev.json tells the other `orders` commands where its database is.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import click
import psycopg

from orders.database.migrate import migrate
from orders.dev import pgserver
from orders.dev import record as devrecord
from orders.settings import Settings


def start_embedded_database(settings: Settings) -> str:
    """Start (or reuse) the project's own cluster and make sure its `orders` database exists."""
    bindir = pgserver.find_bindir(settings.pg_bindir)
    data, port = settings.dev_data_dir, settings.dev_pg_port
    datadir = data / "postgres"
    if not (datadir / "postmaster.pid").exists():
        pgserver.start(bindir, datadir, port, data / "postgres.log", settings.pg_user)
    server = f"postgresql://postgres@127.0.0.1:{port}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'orders'").fetchone():
            conn.execute("CREATE DATABASE orders")
    return f"{server}/orders"


def stop_embedded_database(settings: Settings) -> None:
    bindir = pgserver.find_bindir(settings.pg_bindir)
    pgserver.stop(bindir, settings.dev_data_dir / "postgres", settings.pg_user)


def run(settings: Settings, port: int) -> None:
    data = settings.dev_data_dir
    if (other := devrecord.running(data)) is not None:
        raise click.ClickException(
            f"`orders dev` is already running here (pid {other['pid']}, {other['api']})"
        )
    embedded = settings.database_url is None
    url = start_embedded_database(settings) if embedded else settings.database_url
    migrate(url)
    # unset, the mail goes beside the dev database (ORDERS_MAIL_DIR's own default is for tests)
    chosen = "mail_dir" in settings.model_fields_set
    mail_dir = str(settings.mail_dir if chosen else data / "mail")
    info = {
        "database_url": url,
        "api": f"http://127.0.0.1:{port}",
        "status_log": str(settings.log_file.resolve()),  # absolute: children may chdir
        "mail_dir": None if settings.smtp_host else mail_dir,  # .eml files, without SMTP
    }
    env = {**os.environ, "DATABASE_URL": url, "ORDERS_ENV": "dev"}
    env |= {"ORDERS_MAIL_DIR": mail_dir, "ORDERS_LOG_FILE": info["status_log"]}
    cli = [sys.executable, "-m", "orders"]
    children = [
        subprocess.Popen([*cli, "api", "--bind", f"127.0.0.1:{port}"], env=env),
        subprocess.Popen([*cli, "worker", "--name", "dev-worker"], env=env),
    ]
    devrecord.write(data, info)
    click.echo(banner(info))
    try:
        _wait(children)
    finally:
        devrecord.remove(data)
        _stop(children)
        if embedded:
            stop_embedded_database(settings)


def banner(info: dict) -> str:
    api = info["api"]
    return (
        f"\n  orders is running: {api}   (database: {info['database_url']})\n"
        f"  dashboard:  {api}/dashboard   (an admin: orders users add --email you@example.com)\n"
        f"  status log: {info['status_log']}   (one JSON line per order status change)\n"
        + (f"  mail:       .eml files in {info['mail_dir']}\n" if info["mail_dir"] else "")
        + '  in another terminal: export PATH="$PWD/.venv/bin:$PATH", then `orders stats`, '
        "`orders digest --now`... (they use this database by themselves)\n"
        "  Ctrl-C stops everything.\n"
    )


def _wait(children: list[subprocess.Popen]) -> None:
    """Until Ctrl-C, a supervisor's SIGTERM, or a child exits."""
    stopping: list[int] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda num, _frame: stopping.append(num))
    while not stopping and all(child.poll() is None for child in children):
        time.sleep(0.2)


def _stop(children: list[subprocess.Popen]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children:
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
