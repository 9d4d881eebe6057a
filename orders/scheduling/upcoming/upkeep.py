"""Keeping upcoming runs as time passes: one pass a minute purges minutes gone by and extends
every active order whose expansion ends inside the horizon, a quarter horizon further
(store.SLACK).

The work of a pass follows the runs that enter the horizon in that minute, not the number of
orders: an order is read only when its first unwritten slot (orders.upcoming_until) comes within
reach, through a partial index. Orders are read a chunk at a time without locks, expanded in
Python with no transaction open, then written in one short transaction per chunk that skips
orders someone holds (a run, an API change) and orders an API change rewrote meanwhile: those
are extended by a later pass or were already rewritten.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from orders.database import Q
from orders.scheduling.upcoming.expansion import Expansion, expand
from orders.scheduling.upcoming.store import first_reach, horizon_end, reach, rows_of

PURGE_BATCH = 20_000
PURGE_MAX_BATCHES = 50  # a backlog larger than a million rows is worked off over several passes
MAX_CHUNKS = 1_000  # a pass stops after this many chunks; the next one goes on


@dataclass
class Pass:
    """What one pass did: rows purged, orders read and extended, rows written."""

    purged: int = 0
    read: int = 0
    extended: int = 0
    written: int = 0
    chunks: int = 0


def upkeep(conn, now: datetime, hours: float, chunk: int = 1000) -> Pass:
    """One pass at `now` on `conn` (autocommit, dict rows): purge, then extend chunk by chunk."""
    done = Pass(purged=purge(conn, now))
    due, after = horizon_end(now, hours), (None, 0)
    while done.chunks < MAX_CHUNKS:
        params = {"target": due, "after_until": after[0], "after_id": after[1], "limit": chunk}
        orders = conn.execute(Q["order_list_upcoming_due"], params).fetchall()
        if not orders:
            break
        after = (orders[-1]["expanded_until"], orders[-1]["order_id"])
        _extend(conn, orders, now, hours, done)
        if len(orders) < chunk:
            break
    return done


def _extend(conn, orders: list[dict], now: datetime, hours: float, done: Pass) -> None:
    target = reach(now, hours)
    expansions = [
        expand(o, now, target, start=o["expanded_until"])
        if o["expanded_until"] is not None
        else expand(o, now, first_reach(now, hours, o["order_id"]))
        for o in orders
    ]
    with conn.transaction():
        result = conn.execute(Q["upcoming_extend"], _chunk_params(orders, expansions)).fetchone()
    done.read += len(orders)
    done.extended += result["orders"]
    done.written += result["rows"]
    done.chunks += 1


def _chunk_params(orders: list[dict], expansions: list[Expansion]) -> dict[str, list]:
    rows = rows_of(expansions)
    return {
        "order_ids": [o["order_id"] for o in orders],
        "seen": [o["expanded_until"] for o in orders],
        "untils": [e.until for e in expansions],
        "row_order_ids": rows.pop("order_ids"),
        **rows,
    }


def purge(conn, now: datetime) -> int:
    """Delete the rows of minutes before `now`'s, in bounded batches; how many."""
    before, purged = now.replace(second=0, microsecond=0), 0
    for _ in range(PURGE_MAX_BATCHES):
        deleted = conn.execute(
            Q["upcoming_purge_past"], {"before": before, "limit": PURGE_BATCH}
        ).rowcount
        purged += deleted
        if deleted < PURGE_BATCH:
            break
    return purged
