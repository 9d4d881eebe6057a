"""`orders api` and `orders dev`: serve the HTTP API, or run everything locally."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from orders.cli.common import or_exit
from orders.settings import Settings

PROJECT_DIR = Path(__file__).resolve().parents[2]


@click.command()
@click.option("--bind", default="127.0.0.1:8000", show_default=True)
@click.option("--workers", default=2, show_default=True, help="gunicorn worker processes.")
@click.option("--threads", default=4, show_default=True, help="Threads per worker process.")
def api(bind: str, workers: int, threads: int) -> None:
    """Serve the HTTP API with gunicorn (wsgi:app)."""
    or_exit(Settings().require_jwt_secret)  # fail here, clearly, not in every gunicorn worker
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "--chdir",
        str(PROJECT_DIR),
        "--bind",
        bind,
        *gunicorn_options(workers, threads),
        "--access-logfile",
        "-",
        "wsgi:app",
    ]
    os.execv(sys.executable, argv)  # noqa: S606 - replace this process: signals go to gunicorn


def gunicorn_options(workers: int, threads: int) -> list[str]:
    """Threads overlap the database waits of one process; the pool is shared by its threads."""
    return ["--workers", str(workers), "--worker-class", "gthread", "--threads", str(threads)]


@click.command()
@click.option("--port", default=8000, show_default=True, help="HTTP port for the API.")
def dev(port: int) -> None:
    """Run everything locally: embedded PostgreSQL (unless DATABASE_URL is set), API, one worker."""
    from orders.dev.server import run

    run(Settings(ORDERS_ENV="dev"), port)


COMMANDS = [api, dev]
