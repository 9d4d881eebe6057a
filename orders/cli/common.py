"""What every command shares: the services it runs on, the audit actor, tables, exits."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import click
from pydantic import ValidationError
from tabulate import tabulate

from orders.core.errors import ApiError
from orders.database import Database
from orders.settings import Settings


@contextmanager
def services() -> Iterator[tuple[Database, Settings]]:
    """The database the services work on, and a clean one-line exit on expected errors."""
    try:
        settings = Settings()
        db = settings.database()
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None
    db.open()
    try:
        yield db, settings
    except ApiError as exc:
        raise click.ClickException(exc.message) from None
    except ValidationError as exc:
        raise click.ClickException(first_error(exc)) from None
    finally:
        db.close()


def actor(settings: Settings) -> str:
    """Who the audit trail names for CLI actions (ORDERS_OPERATOR, else the login name)."""
    return f"operator:{settings.operator or getpass.getuser()}"


def table(rows: list[dict], columns: list[str] | None = None) -> str:
    if not rows:
        return "(none)"
    columns = columns or list(rows[0])
    cells = [[cell(row.get(c)) for c in columns] for row in rows]
    return tabulate(cells, headers=columns, tablefmt="simple", disable_numparse=True)


def cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def or_exit(check):
    """Run `check`; a configuration or migration error becomes a one-line message and exit 1."""
    try:
        return check()
    except RuntimeError as exc:  # MigrationError is a RuntimeError too
        raise click.ClickException(str(exc)) from None


def first_error(exc: ValidationError) -> str:
    """The first invalid field and why, as one line: `field: message`."""
    error = exc.errors(include_url=False)[0]
    return f"{'.'.join(map(str, error['loc'])) or 'input'}: {error['msg']}"
