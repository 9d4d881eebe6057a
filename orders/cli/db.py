"""`orders db`: migrate the schema, print the URL, open psql."""

from __future__ import annotations

import os

import click

from orders.cli.common import or_exit
from orders.settings import Settings


@click.group()
def db() -> None:
    """Database schema commands."""


@db.command("migrate")
def db_migrate() -> None:
    """Apply Procrastinate's schema and every pending sql/NNNN_*.sql migration (each waits at
    most 5 s for a lock, 600 s for an index build's, then retries: orders/database/migrate.py)."""
    from orders.database.migrate import Locking, migrate

    settings = Settings()
    locking = Locking()
    url = or_exit(settings.require_database_url)
    applied = or_exit(lambda: migrate(url, locking=locking))
    click.echo("applied: " + ", ".join(applied) if applied else "database is up to date")


@db.command("url")
def db_url() -> None:
    """Print the database URL the commands use (DATABASE_URL, or the running `orders dev`'s)."""
    click.echo(or_exit(Settings().require_database_url))


@db.command("psql", context_settings={"ignore_unknown_options": True})
@click.argument("psql_args", nargs=-1, type=click.UNPROCESSED)
def db_psql(psql_args: tuple[str, ...]) -> None:
    """Open psql on that database; arguments go to psql (e.g. -c 'SELECT ...')."""
    from orders.dev.pgserver import find_psql

    settings = Settings()
    url = or_exit(settings.require_database_url)
    psql = or_exit(lambda: find_psql(settings.pg_bindir))
    os.execv(psql, [psql, url, *psql_args])  # noqa: S606 - replace this process: psql owns the tty


COMMANDS = [db]
