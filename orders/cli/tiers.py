"""The operator's tier commands (sql/0060, 0066):

orders tiers                                   # the tiers, their boost and weight, accounts
orders set-tier EMAIL TIER [--weight N]        # audited; the account's waiting runs re-level
"""

from __future__ import annotations

import click

from orders.cli.common import actor, services, table


@click.command()
def tiers() -> None:
    """The account tiers: priority boost, fair-share weight, how many accounts."""
    from orders.accounts.tiers import list_tiers

    with services() as (db, _):
        rows = [t.model_dump() for t in list_tiers(db)]
    click.echo(table(rows))


@click.command("set-tier")
@click.argument("email")
@click.argument("tier")
@click.option(
    "--weight",
    type=click.IntRange(1, 1000),
    help="The account's own weight in the fair share of a batch (default: its tier's).",
)
def set_tier(email: str, tier: str, weight: int | None) -> None:
    """Give an account a tier (e.g. vip): its orders, waiting ones included, run at a higher
    level. Audited in operator_actions as this operator."""
    from orders.accounts.tiers import set_tier as set_it

    with services() as (db, settings):
        account = set_it(db, email, tier, weight, actor(settings))
    click.echo(
        f"{account.email}: tier {account.tier}, weight {account.share_weight}, "
        f"{account.waiting_runs} waiting runs re-levelled"
    )


COMMANDS = [tiers, set_tier]
