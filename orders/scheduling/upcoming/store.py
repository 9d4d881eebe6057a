"""Writing upcoming runs from the API's own transaction: an order that changes is expanded
again (or forgotten) together with the change, so readers never see its old schedule."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from orders.database import Q
from orders.scheduling.upcoming.expansion import Expansion, expand

# Every run before the horizon's end (now + hours + MARGIN) is in the table: readers see the
# whole horizon even while the upkeep (every minute) runs a few minutes late.
MARGIN = timedelta(minutes=10)
# An order that is (re)written is expanded a quarter horizon further (6 h at 24 h), so an order
# that runs hourly is touched every 6 h for 6 rows rather than every hour for one: a quarter
# more rows held, several times fewer order updates a minute.
SLACK = 0.25


def horizon_end(now: datetime, hours: float) -> datetime:
    """Every run of an active order before this instant is in the table (the upkeep extends
    the orders whose expansion ends earlier)."""
    return now + timedelta(hours=hours) + MARGIN


def reach(now: datetime, hours: float) -> datetime:
    """How far an order is extended when the upkeep writes it."""
    return horizon_end(now, hours) + timedelta(hours=hours * SLACK)


def first_reach(now: datetime, hours: float, order_id: int) -> datetime:
    """How far an order is expanded the first time (or again from scratch): somewhere within
    the slack, by its id, so that orders expanded together (a batch, the first pass after the
    migration) do not all come due for extension in the same hour forever after."""
    spread = (order_id * 0.6180339887498949) % 1.0  # the golden ratio: evenly spread ids
    return horizon_end(now, hours) + timedelta(hours=hours * SLACK * spread)


def rows_of(expansions: Iterable[Expansion]) -> dict[str, list]:
    """The runs of `expansions` as one array per column, for upcoming_insert_many."""
    columns: dict[str, list] = {k: [] for k in ("order_ids", "user_ids", "minutes", "firsts")}
    columns["runs"] = []
    for expansion in expansions:
        for minute, (first, runs) in expansion.minutes.items():
            columns["order_ids"].append(expansion.order_id)
            columns["user_ids"].append(expansion.user_id)
            columns["minutes"].append(minute)
            columns["firsts"].append(first)
            columns["runs"].append(runs)
    return columns


def rewrite(
    conn, orders: list[dict[str, Any]], now: datetime, hours: float, new: bool = False
) -> list[Expansion]:
    """Replace the upcoming runs of `orders` (rows of orders, locked or just inserted by the
    caller's transaction) with their schedule from now on; `new`: they have none yet.
    Three statements whatever the number of orders."""
    expansions = [
        expand(order, now, first_reach(now, hours, order["order_id"]))
        for order in orders
        if _active(order)
    ]
    ids = [order["order_id"] for order in orders]
    if not new:
        conn.execute(Q["upcoming_delete_orders"], {"order_ids": ids})
    if expansions:
        conn.execute(Q["upcoming_insert_many"], rows_of(expansions))
        untils = {"order_ids": [e.order_id for e in expansions]}
        conn.execute(
            Q["order_set_upcoming_many"], untils | {"untils": [e.until for e in expansions]}
        )
    return expansions


def forget(conn, order_ids: list[int]) -> None:
    """The orders will not run again (cancelled, failed): no upcoming runs."""
    conn.execute(Q["upcoming_delete_orders"], {"order_ids": order_ids})


def _active(order: dict[str, Any]) -> bool:
    return order["status"] in ("scheduled", "processing") and order["next_run_at"] is not None
