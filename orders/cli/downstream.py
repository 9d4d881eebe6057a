"""The operator's commands for what leaves the system: webhook deliveries and circuit breakers.

orders webhooks deliveries [--status failed] [--email E] [--before ID] [--limit 50]
orders webhooks problems               # failed or retrying, with their circuit
orders webhooks show ID                # the body posted and every attempt
orders webhooks redeliver ID           # one more attempt now, same Idempotency-Key
orders circuits                        # every circuit, open ones first
orders circuits reset HOST             # close HOST's circuits (host:port, host, or smtp)
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import click

from orders.cli.common import services, table

STATUSES = click.Choice(["pending", "delivering", "delivered", "failed", "cancelled"])


@click.group()
def webhooks() -> None:
    """Webhook deliveries of every account."""


@webhooks.command("deliveries")
@click.option("--status", type=STATUSES)
@click.option("--email", help="Only this customer's deliveries.")
@click.option("--before", "before_id", type=int, help="Page on: deliveries with a smaller id.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
def webhooks_deliveries(**filters) -> None:
    """Newest first; page with --before <last id shown>."""
    from orders.webhooks.service import list_any

    with services() as (db, _):
        click.echo(table(list_any(db, filters)))


@webhooks.command("problems")
@click.option("--status", type=click.Choice(["failed", "pending"]))
@click.option("--email", help="Only this customer's deliveries.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
def webhooks_problems(status: str | None, email: str | None, limit: int) -> None:
    """Deliveries that failed for good or wait for a retry, with their circuit's state."""
    from orders.webhooks.service import problems

    with services() as (db, _):
        click.echo(table(problems(db, status, email, limit)))


@webhooks.command("show")
@click.argument("delivery_id", type=int)
def webhooks_show(delivery_id: int) -> None:
    """One delivery: its fields, the JSON body it posts, and every attempt."""
    from orders.webhooks.service import delivery

    with services() as (db, _):
        detail = delivery(db, None, delivery_id)
    fields = detail.model_dump(exclude={"payload", "history"})
    click.echo(table([{"field": k, "value": v} for k, v in fields.items()]) + "\n")
    click.echo(json.dumps(detail.payload, indent=2, sort_keys=True) + "\n")
    click.echo(table([a.model_dump() for a in detail.history]))


@webhooks.command("redeliver")
@click.argument("delivery_id", type=int)
def webhooks_redeliver(delivery_id: int) -> None:
    """Attempt a delivered, failed or cancelled delivery once more, now."""
    from orders.webhooks.service import redeliver

    with services() as (db, _):
        again = redeliver(db, None, delivery_id)
    click.echo(f"delivery {again.delivery_id} {again.status}, event {again.event_id}")


@click.group(invoke_without_command=True)
@click.pass_context
def circuits(ctx: click.Context) -> None:
    """Circuit breakers of webhook destinations and the SMTP server (open ones first)."""
    if ctx.invoked_subcommand is not None:
        return
    from orders.webhooks.circuits import list_circuits

    with services() as (db, _):
        click.echo(table(list_circuits(db)))


@circuits.command("reset")
@click.argument("host")
def circuits_reset(host: str) -> None:
    """Close HOST's circuits (host:port, a host's every port, or `smtp`): work waiting for it
    is attempted at once."""
    from orders.webhooks.circuits import reset

    with services() as (db, _):
        changed = reset(db, host, datetime.now(UTC))
    if not changed:
        raise click.ClickException(f"no circuit for {host!r}")
    for row in changed:
        click.echo(f"{row['kind']} {row['destination']}: {row['from_state']} -> closed")


COMMANDS = [webhooks, circuits]
