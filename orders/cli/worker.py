"""`orders worker`: the only command that imports the worker (`tasks/`)."""

from __future__ import annotations

import click

from orders.cli.common import or_exit
from orders.settings import Settings


@click.command()
@click.option("--concurrency", default=4, show_default=True, help="Jobs run at once.")
@click.option("--queues", default="", help="Comma-separated queues to serve (all if empty).")
@click.option("--name", default=None, help="Worker name shown to operators.")
def worker(concurrency: int, queues: str, name: str | None) -> None:
    """Run a Procrastinate worker: execute orders and periodic maintenance."""
    from tasks.supervision.worker import run_worker

    settings = Settings()  # built once: the worker and its tasks share it
    or_exit(settings.require_database_url)
    run_worker(concurrency, [q for q in queues.split(",") if q] or None, name, settings=settings)


COMMANDS = [worker]
