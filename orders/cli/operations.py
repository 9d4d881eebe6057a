"""`orders stats`, `orders prune`, `orders digest`: the operator's view and upkeep."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from orders.cli.common import actor, services, table
from orders.database import Database
from orders.dev import record as devrecord


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


@click.command()
@click.option(
    "--retention-hours",
    type=click.IntRange(min=1),
    help="Finished jobs only; default: 168 hours.",
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
    with services() as (db, settings):
        queued = queue_due_mail(db, at, actor(settings))
        click.echo(
            f"queued {queued.digests} provider digests and {queued.notices} customer notices "
            f"({queued.requests} requests)"
        )
        if queued.mails:
            click.echo(_wait_until_sent(db, queued, at, wait, settings.dev_data_dir))


def _wait_until_sent(db: Database, queued, at: datetime, wait: float, data: Path) -> str:
    from orders.providers.digests import status_of

    deadline = time.monotonic() + wait
    while (status := status_of(db, queued, at)).get("pending") and time.monotonic() < deadline:
        time.sleep(0.2)
    if status.get("pending"):
        return f"{status['pending']} not sent yet: is a worker running (`orders worker`)?"
    sent = f"sent {status.get('sent', 0)}, failed {status.get('failed', 0)}"
    if (dev := devrecord.running(data)) and dev.get("mail_dir"):
        return f"{sent} (by `orders dev`: .eml files in {dev['mail_dir']})"
    return sent


COMMANDS = [stats, prune, digest]
