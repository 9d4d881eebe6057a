"""The claim: which due orders a batch takes, by run level and fair share between accounts.

Run levels are strict: a batch takes every due order it can of the highest level before any of
a lower one, so no lower-level order starts while a higher-level one waits
(tasks/supervision/worker.py
PRIORITY_LEVELS; an order's level is its priority plus its account tier's boost, sql/0060).
Within a level the batch is shared: each account with due orders (account_queue, least recently
served first) gets its weighted share, earliest due first; what the shares leave (an account
with fewer due orders than its share, and a sixteenth of the batch kept for it) goes to the
level's earliest due orders, whoever's they are. So an account with 100,000 orders due does not
starve one with 10, and nothing account_queue misses can wait forever. Every worker process
claims this way, so the sharing holds across all of them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from orders.database import Q

RESERVE_DIVISOR = 16  # a batch keeps 1/16 for the earliest due orders, whoever's they are


@dataclass(frozen=True)
class Served:
    """The accounts a batch shared one level between, and the share each was offered."""

    level: int
    user_ids: list[int]
    shares: list[int]

    def drained(self, rows: list[dict[str, Any]]) -> list[bool]:
        """Per account: it got less than its share, so it may have nothing left due."""
        got = Counter(r["user_id"] for r in rows if r["priority"] == self.level)
        return [got[u] < share for u, share in zip(self.user_ids, self.shares, strict=True)]


def fair_shares(weights: list[int], capacity: int) -> list[int]:
    """Each account's share of `capacity` by weight, at least one each (len(weights) must not
    exceed `capacity`)."""
    total = sum(weights)
    return [max(1, capacity * w // total) for w in weights]


async def claim(
    conn: psycopg.AsyncConnection, levels: list[int], now: datetime, batch: int, fair: bool = True
) -> tuple[list[dict[str, Any]], list[Served]]:
    """Lock up to `batch` due execution jobs with their orders; the accounts shared between
    (fair=False: none, each level's earliest due first, whoever's: ORDERS_FAIR_SHARE)."""
    rows: list[dict[str, Any]] = []
    served: list[Served] = []
    for level in await _levels_due(conn, levels, now):
        if (capacity := batch - len(rows)) <= 0:
            break
        fair_part = capacity - capacity // RESERVE_DIVISOR
        share = await _share(conn, level, now, fair_part) if fair else Served(level, [], [])
        params = {"level": level, "now": now, "batch": capacity}
        params |= {"user_ids": share.user_ids, "shares": share.shares}
        rows += await (await conn.execute(Q["execution_claim_level"], params)).fetchall()
        served.append(share)
    return rows, served


async def advance(
    conn: psycopg.AsyncConnection, served: list[Served], rows: list[dict], now: datetime
) -> None:
    """After the batch's runs: note the accounts served, and move on the drained ones."""
    for share in served:
        if share.user_ids:
            params = {"level": share.level, "user_ids": share.user_ids, "now": now}
            params["drained"] = share.drained(rows)
            await conn.execute(Q["account_queue_advance"], params)


async def _levels_due(conn, levels: list[int], now: datetime) -> list[int]:
    cursor = await conn.execute(Q["execution_levels_due"], {"levels": levels, "now": now})
    return [row["level"] for row in await cursor.fetchall()]


async def _share(conn, level: int, now: datetime, capacity: int) -> Served:
    params = {"level": level, "now": now, "limit": capacity}
    accounts = await (await conn.execute(Q["account_queue_list_due"], params)).fetchall()
    weights = [a["share_weight"] for a in accounts]
    shares = fair_shares(weights, capacity) if accounts else []
    return Served(level, [a["user_id"] for a in accounts], shares)
