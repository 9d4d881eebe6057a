"""The `orders` command: migrate the database, run the API, run workers, or all of it for dev."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click

from orders.cli.downstream import COMMANDS as DOWNSTREAM
from orders.cli.operator import COMMANDS
from orders.cli.pauses import COMMANDS as PAUSES
from orders.cli.tiers import COMMANDS as TIERS
from orders.settings import Settings

PROJECT_DIR = Path(__file__).resolve().parents[2]


def _or_exit(check):
    """Run `check`; a configuration or migration error becomes a one-line message and exit 1."""
    try:
        return check()
    except RuntimeError as exc:  # MigrationError is a RuntimeError too
        raise click.ClickException(str(exc)) from None


SERVICES = {"api", "worker", "dev", "db"}  # long-running or one-shot server commands: log INFO


@click.group()
@click.option(
    "--log-level", help="Python logging level (default: INFO for servers, WARNING for the rest)."
)
@click.pass_context
def main(ctx: click.Context, log_level: str | None) -> None:
    """Schedule and run orders with PostgreSQL as the only server."""
    default = "INFO" if ctx.invoked_subcommand in SERVICES else "WARNING"  # tables stay clean
    logging.basicConfig(
        level=(log_level or default).upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command("migrate")
def db_migrate() -> None:
    """Apply Procrastinate's schema and every pending sql/NNNN_*.sql migration (each waits at
    most ORDERS_MIGRATION_LOCK_TIMEOUT_SECONDS for a lock, then retries)."""
    from orders.database.migrate import Locking, migrate

    settings = Settings()
    locking = Locking(
        lock_timeout=settings.migration_lock_timeout_seconds,
        index_lock_timeout=settings.migration_index_lock_timeout_seconds,
        attempts=settings.migration_attempts,
    )
    url = _or_exit(settings.require_database_url)
    applied = _or_exit(lambda: migrate(url, locking=locking))
    click.echo("applied: " + ", ".join(applied) if applied else "database is up to date")


@db.command("url")
def db_url() -> None:
    """Print the database URL the commands use (DATABASE_URL, or the running `orders dev`'s)."""
    click.echo(_or_exit(Settings().require_database_url))


@db.command("psql", context_settings={"ignore_unknown_options": True})
@click.argument("psql_args", nargs=-1, type=click.UNPROCESSED)
def db_psql(psql_args: tuple[str, ...]) -> None:
    """Open psql on that database; arguments go to psql (e.g. -c 'SELECT ...')."""
    from orders.dev.pgserver import find_psql

    url = _or_exit(Settings().require_database_url)
    psql = _or_exit(find_psql)
    os.execv(psql, [psql, url, *psql_args])  # noqa: S606 - replace this process: psql owns the tty


@main.command()
@click.option("--bind", default="127.0.0.1:8000", show_default=True)
@click.option("--workers", default=2, show_default=True, help="gunicorn worker processes.")
@click.option("--threads", default=4, show_default=True, help="Threads per worker process.")
def api(bind: str, workers: int, threads: int) -> None:
    """Serve the HTTP API with gunicorn (wsgi:app)."""
    _or_exit(Settings().require_jwt_secret)  # fail here, clearly, not in every gunicorn worker
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


@main.command()
@click.option("--concurrency", default=4, show_default=True, help="Jobs run at once.")
@click.option("--queues", default="", help="Comma-separated queues to serve (all if empty).")
@click.option("--name", default=None, help="Worker name shown to operators.")
def worker(concurrency: int, queues: str, name: str | None) -> None:
    """Run a Procrastinate worker: execute orders and periodic maintenance."""
    from tasks.supervision.worker import run_worker

    _or_exit(Settings().require_database_url)
    run_worker(concurrency, [q for q in queues.split(",") if q] or None, name)


@main.group()
def providers() -> None:
    """Providers that fulfil orders."""


@providers.command("add")
@click.option("--name", required=True, help="Shown to customers and in the digest.")
@click.option("--email", required=True, help="Where the provider's digest goes.")
@click.option("--expected-response-hours", type=int, required=True, help="Promised answer time.")
@click.option("--login", is_flag=True, help="Also create a provider login with this email.")
def providers_add(name: str, email: str, expected_response_hours: int, login: bool):
    """Create a provider (and with --login its login account) in one transaction.

    The login's password is prompted for (hidden) or read from ORDERS_PROVIDER_PASSWORD, never
    taken as an argument: arguments end up in shell history and `ps`.
    """
    from pydantic import ValidationError

    from orders.core.errors import ApiError
    from orders.providers.models import NewProvider
    from orders.providers.service import add_provider

    url = _or_exit(Settings().require_database_url)
    password = _provider_password() if login else None
    try:
        fields = {"name": name, "email": email, "expected_response_hours": expected_response_hours}
        provider = add_provider(url, NewProvider(**fields, password=password))
    except ValidationError as exc:
        raise click.ClickException(_first_error(exc)) from None
    except ApiError as exc:
        raise click.ClickException(exc.message) from None
    login = f", login {provider.email}" if provider.user_id else ""
    click.echo(f"provider {provider.provider_id}: {provider.name} <{provider.email}>{login}")


def _provider_password() -> str:
    if password := os.environ.get("ORDERS_PROVIDER_PASSWORD"):
        return password
    return click.prompt(
        "Password for the provider login", hide_input=True, confirmation_prompt=True
    )


def _first_error(exc) -> str:
    error = exc.errors(include_url=False)[0]
    return f"{'.'.join(map(str, error['loc'])) or 'input'}: {error['msg']}"


@main.command()
@click.option("--port", default=8000, show_default=True, help="HTTP port for the API.")
def dev(port: int) -> None:
    """Run everything locally: embedded PostgreSQL (unless DATABASE_URL is set), API, one worker."""
    from orders.dev.server import run

    run(Settings(ORDERS_ENV="dev"), port)


for _command in [*COMMANDS, *DOWNSTREAM, *PAUSES, *TIERS]:
    main.add_command(_command)


if __name__ == "__main__":
    main()
