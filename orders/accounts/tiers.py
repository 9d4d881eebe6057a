"""Account tiers and fair-share weights (sql/0060, 0066): operators give an account a tier,
which raises the run level of all its orders, and optionally its own weight in the fair share
of a batch. The SQL function account_set_tier does the work and audits it; this module is what
the CLI calls."""

from __future__ import annotations

import psycopg
from pydantic import BaseModel

from orders.core.errors import refusal
from orders.database import Database, Q


class AccountTier(BaseModel):
    user_id: int
    email: str
    tier: str
    share_weight: int  # its own, or its tier's when it has none
    waiting_runs: int


class Tier(BaseModel):
    tier: str
    priority_boost: int
    share_weight: int
    description: str
    accounts: int


def set_tier(
    db: Database, email: str, tier: str, share_weight: int | None, operator: str
) -> AccountTier:
    """Give `email`'s account `tier` (and `share_weight`; None: the tier's), as `operator`."""
    params = {"email": email, "tier": tier, "share_weight": share_weight, "operator": operator}
    try:
        with db.transaction(actor=operator) as conn:
            return AccountTier(**conn.execute(Q["account_set_tier"], params).fetchone())
    except psycopg.Error as exc:
        raise refusal(exc) from None


def list_tiers(db: Database) -> list[Tier]:
    with db.read() as conn:
        return [Tier(**row) for row in conn.execute(Q["tier_list"])]
