"""`orders orders list|show`, `retry`, `cancel`, `requeue-failed`: orders, as the API has them."""

from __future__ import annotations

import click
from tabulate import tabulate

from orders.cli.common import actor, cell, services, table


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
    click.echo(tabulate([[k, cell(v)] for k, v in fields.items()], tablefmt="plain") + "\n")
    click.echo(table([t.model_dump(exclude={"entry_id"}) for t in detail.timeline]))
    if detail.next_cursor:
        click.echo(f"\nolder: orders orders show {order_id} --cursor {detail.next_cursor}")


@click.command()
@click.argument("order_id", type=int)
def retry(order_id: int) -> None:
    """Put a failed order back in the queue, due now."""
    from orders.operations.console import retry as retry_order

    with services() as (db, settings):
        order = retry_order(db, order_id, actor(settings))
    click.echo(f"order {order.order_id} {order.status}, job {order.job_id}")


@click.command()
@click.argument("order_id", type=int)
def cancel(order_id: int) -> None:
    """Cancel a scheduled order, or dismiss a failed one."""
    from orders.operations.console import cancel as cancel_order

    with services() as (db, settings):
        order = cancel_order(db, order_id, actor(settings))
    click.echo(f"order {order.order_id} {order.status}")


@click.command("requeue-failed")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def requeue_failed(yes: bool) -> None:
    """Retry every failed order (each in its own transaction), with a progress bar."""
    from orders.operations.console import failed_order_ids, requeue_failed

    with services() as (db, settings):
        ids = failed_order_ids(db)
        if not ids:
            click.echo("no failed orders")
            return
        if not yes:
            click.confirm(f"Requeue {len(ids)} failed orders?", abort=True)
        with click.progressbar(length=len(ids), label="requeueing") as bar:
            done = requeue_failed(db, ids, actor(settings), bar.update)
    click.echo(f"requeued {done} of {len(ids)} failed orders")


COMMANDS = [orders_group, retry, cancel, requeue_failed]
