"""The operator's pause commands (the SQL functions orders_pause / orders_resume do the work):

orders pause --all | --queue NAME | --account EMAIL | --order ID [--reason TEXT]
orders resume --all | --queue NAME | --account EMAIL | --order ID
orders pauses                          # what is paused now, and the latest pauses and resumes
"""

from __future__ import annotations

import click

from orders.cli.common import actor, services, table


def _target_options(command):
    """--all, --queue, --account, --order: exactly one of them."""
    for option in reversed(
        [
            click.option("--all", "all_", is_flag=True, help="Every queue but maintenance."),
            click.option("--queue", help="orders, mail or webhooks (never maintenance)."),
            click.option("--account", help="An account's email: none of its orders run."),
            click.option("--order", "order_id", type=int, help="One order (keeps its schedule)."),
        ]
    ):
        command = option(command)
    return command


def _request(all_: bool, queue: str | None, account: str | None, order_id: int | None, reason=None):
    from orders.scheduling.pauses import PauseRequest

    given = {"all": all_ or None, "queue": queue, "account": account, "order": order_id}
    chosen = [(scope, value) for scope, value in given.items() if value is not None]
    if len(chosen) != 1:
        raise click.UsageError("give exactly one of --all, --queue, --account, --order")
    scope, value = chosen[0]
    target = None if scope == "all" else str(value)
    return PauseRequest(scope=scope, target=target, reason=reason)


@click.command()
@_target_options
@click.option("--reason", help="Why; kept in the audit (operator_actions, order_events).")
def pause(all_, queue, account, order_id, reason) -> None:
    """Pause execution of everything, a queue, an account or an order, as this operator."""
    from orders.scheduling.pauses import pause as pause_it

    with services() as (db, settings):
        request = _request(all_, queue, account, order_id, reason)
        result = pause_it(db, request, actor(settings))
    click.echo(f"paused {request.scope}: {', '.join(result.changed)}")


@click.command()
@_target_options
def resume(all_, queue, account, order_id) -> None:
    """Resume what `orders pause` paused; resumed orders run at their next slot (or now)."""
    from orders.scheduling.pauses import resume as resume_it

    with services() as (db, settings):
        request = _request(all_, queue, account, order_id)
        result = resume_it(db, request, actor(settings))
    click.echo(f"resumed {request.scope}: {', '.join(result.changed)}")


@click.command()
def pauses() -> None:
    """What is paused now (queues, accounts, orders), then the latest pauses and resumes."""
    from orders.scheduling.pauses import list_pauses

    with services() as (db, _):
        current = list_pauses(db)
    click.echo(table([p.model_dump() for p in current.paused]) + "\n")
    click.echo(table([a.model_dump(exclude={"action_id"}) for a in current.actions]))


COMMANDS = [pause, resume, pauses]
