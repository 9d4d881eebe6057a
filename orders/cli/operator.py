"""The operator's half of the `orders` command: stats, orders list/show, retry, cancel,
requeue-failed, prune and admin accounts. Each command runs the same services as the API."""

from __future__ import annotations

import getpass
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import click
from pydantic import ValidationError
from tabulate import tabulate

from orders.core.errors import ApiError
from orders.database import Database
from orders.dev import record as devrecord
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
        error = exc.errors(include_url=False)[0]
        raise click.ClickException(f"{'.'.join(map(str, error['loc']))}: {error['msg']}") from None
    finally:
        db.close()


def actor() -> str:
    """Who the audit trail names for CLI actions."""
    return f"operator:{os.environ.get('ORDERS_OPERATOR') or getpass.getuser()}"


def table(rows: list[dict], columns: list[str] | None = None) -> str:
    if not rows:
        return "(none)"
    columns = columns or list(rows[0])
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    return tabulate(cells, headers=columns, tablefmt="simple", disable_numparse=True)


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


@click.command()
@click.option("--hours", default=1.0, show_default=True, help="Window for run counts and lateness.")
def stats(hours: float) -> None:
    """Orders per status, queue depth, failures, lateness, live workers and history sizes."""
    from orders.operations.console import overview, table_sizes

    with services() as (db, _):
        o, sizes = overview(db, datetime.now(UTC), hours), table_sizes(db)
    click.echo(table([s.model_dump() for s in o.orders], ["status", "n"]) + "\n")
    click.echo(table([q.model_dump() for q in o.queues]) + "\n")
    late = o.lateness
    click.echo(
        f"overdue {late.overdue} · stuck {late.stuck} · most overdue {late.max_lateness:.1f} s\n"
        f"last {hours:g} h: {late.runs} runs, {late.failed} failed, lateness p50 "
        f"{late.p50:.3f} s, p95 {late.p95:.3f} s, max {late.max:.3f} s\n"
        f"failed orders {len(o.failed)} · live workers {len(o.workers)}\n"
    )
    click.echo(table([_size_row(s) for s in sizes]))


def _size_row(size) -> dict:
    """A history table's estimated rows and its size on disk, for people."""
    return {
        "table": size.table_name,
        "rows (estimate)": size.rows_estimate,
        "size": _bytes(size.bytes),
    }


def _bytes(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


@click.group("orders")
def orders_group() -> None:
    """Look at orders of every account."""


@orders_group.command("list")
@click.option(
    "--status",
    type=click.Choice(["scheduled", "processing", "completed", "failed", "cancelled", "expired"]),
)
@click.option("--email", help="Only this customer's orders.")
@click.option("--recurring/--one-time", default=None, help="Only recurring or one-time orders.")
@click.option("--before", "before_id", type=int, help="Page on: orders with a smaller id.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
def orders_list(**filters) -> None:
    """Newest first; page with --before <last id shown>."""
    from orders.operations.console import list_orders

    filters["is_recurring"] = filters.pop("recurring")
    with services() as (db, _):
        rows = list_orders(db, filters)
    click.echo(table(rows))


@orders_group.command("show")
@click.argument("order_id", type=int)
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 1000))
@click.option("--cursor", help="Page on: the cursor printed under the previous page.")
def orders_show(order_id: int, limit: int, cursor: str | None) -> None:
    """One order's fields and its timeline (audit, jobs, runs, errors), newest first."""
    from orders.core.pagination import PageQuery
    from orders.operations.console import order_detail

    with services() as (db, _):
        detail = order_detail(db, order_id, PageQuery(limit=limit, cursor=cursor))
    fields = detail.order.model_dump(exclude={"payload"})
    click.echo(tabulate([[k, _cell(v)] for k, v in fields.items()], tablefmt="plain") + "\n")
    click.echo(table([t.model_dump(exclude={"entry_id"}) for t in detail.timeline]))
    if detail.next_cursor:
        click.echo(f"\nolder: orders orders show {order_id} --cursor {detail.next_cursor}")


@click.command()
@click.argument("order_id", type=int)
def retry(order_id: int) -> None:
    """Put a failed order back in the queue, due now."""
    from orders.operations.console import retry as retry_order

    with services() as (db, _):
        order = retry_order(db, order_id, actor())
    click.echo(f"order {order.order_id} {order.status}, job {order.job_id}")


@click.command()
@click.argument("order_id", type=int)
def cancel(order_id: int) -> None:
    """Cancel a scheduled order, or dismiss a failed one."""
    from orders.operations.console import cancel as cancel_order

    with services() as (db, _):
        order = cancel_order(db, order_id, actor())
    click.echo(f"order {order.order_id} {order.status}")


@click.command("requeue-failed")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def requeue_failed(yes: bool) -> None:
    """Retry every failed order (each in its own transaction), with a progress bar."""
    from orders.operations.console import failed_order_ids, requeue_failed

    with services() as (db, _):
        ids = failed_order_ids(db)
        if not ids:
            click.echo("no failed orders")
            return
        if not yes:
            click.confirm(f"Requeue {len(ids)} failed orders?", abort=True)
        with click.progressbar(length=len(ids), label="requeueing") as bar:
            done = requeue_failed(db, ids, actor(), bar.update)
    click.echo(f"requeued {done} of {len(ids)} failed orders")


@click.command()
@click.option(
    "--retention-hours",
    type=click.IntRange(min=1),
    help="Finished jobs only; default: ORDERS_JOB_RETENTION_HOURS.",
)
def prune(retention_hours: int | None) -> None:
    """Delete history past its retention now (as the prune_history task does), expired
    revoked tokens and stale login counters."""
    from orders.operations.console import prune_now
    from orders.operations.retention import Retention

    with services() as (db, settings):
        retention = Retention.from_settings(settings)
        if retention_hours:
            retention.keep["procrastinate_jobs"] = timedelta(hours=retention_hours)
        window = timedelta(seconds=settings.login_window_seconds)
        counts = prune_now(db, datetime.now(UTC), retention, window)
    click.echo(", ".join(f"{n} {what}" for what, n in counts.items()) + " deleted")


@click.group()
def users() -> None:
    """Accounts: create admins, change roles."""


@users.command("add")
@click.option("--email", required=True)
@click.option(
    "--role", type=click.Choice(["customer", "admin"]), default="admin", show_default=True
)
def users_add(email: str, role: str) -> None:
    """Create an account; the password is prompted for or read from ORDERS_USER_PASSWORD."""
    from orders.accounts.models import Credentials
    from orders.accounts.service import create_user

    password = os.environ.get("ORDERS_USER_PASSWORD") or click.prompt(
        "Password", hide_input=True, confirmation_prompt=True
    )
    with services() as (db, _):
        user = create_user(db, Credentials(email=email, password=password), role)
    click.echo(f"user {user.user_id}: {user.email} ({user.role})")


@users.command("set-role")
@click.argument("email")
@click.argument("role", type=click.Choice(["customer", "provider", "admin"]))
def users_set_role(email: str, role: str) -> None:
    """Change an account's role (takes effect on its next request)."""
    from orders.accounts.service import set_role

    with services() as (db, _):
        user = set_role(db, email, role)
    click.echo(f"user {user.user_id}: {user.email} ({user.role})")


@click.command()
@click.option("--now", "now_", is_flag=True, help="Queue the digests and notices due now.")
@click.option("--wait", default=30.0, show_default=True, help="Seconds to wait for the sending.")
def digest(now_: bool, wait: float) -> None:
    """Send provider digests (and customer notices) now instead of at the next ORDERS_DIGEST_CRON
    tick; a running worker sends them (`orders dev`: .eml files in .data/mail)."""
    from orders.providers.digests import queue_due_mail

    if not now_:
        raise click.UsageError("digests go out on ORDERS_DIGEST_CRON; --now sends the due ones now")
    at = datetime.now(UTC)
    with services() as (db, _):
        queued = queue_due_mail(db, at, actor())
        click.echo(
            f"queued {queued.digests} provider digests and {queued.notices} customer notices "
            f"({queued.requests} requests)"
        )
        if queued.mails:
            click.echo(_wait_until_sent(db, queued, at, wait))


def _wait_until_sent(db: Database, queued, at: datetime, wait: float) -> str:
    from orders.providers.digests import status_of

    deadline = time.monotonic() + wait
    while (status := status_of(db, queued, at)).get("pending") and time.monotonic() < deadline:
        time.sleep(0.2)
    if status.get("pending"):
        return f"{status['pending']} not sent yet: is a worker running (`orders worker`)?"
    sent = f"sent {status.get('sent', 0)}, failed {status.get('failed', 0)}"
    if (dev := devrecord.running()) and dev.get("mail_dir"):
        return f"{sent} (by `orders dev`: .eml files in {dev['mail_dir']})"
    return sent


COMMANDS = [stats, orders_group, retry, cancel, requeue_failed, prune, users, digest]
