"""Post due webhook deliveries: claim, commit, post, record. No transaction waits on HTTP.

A claim (one short transaction) marks up to N deliveries `delivering` with a lease and commits;
the posts run concurrently (at most ORDERS_WEBHOOK_CONCURRENCY per process); each finished
batch of answers is recorded in one transaction, with the circuit of each destination. A
worker that dies in between loses nothing: when the lease ends the delivery is claimed again
and posted with the same body and Idempotency-Key (at least once), its lost attempt recorded.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import httpx
from psycopg.rows import dict_row

from orders.database import Q
from orders.webhooks import circuits
from orders.webhooks.posting import Outcome, Policy, post, utc_now

__all__ = ["Policy", "Stats", "deliver_due"]

log = logging.getLogger(__name__)


@dataclass
class Stats:
    delivered: int = 0
    failed_attempts: int = 0
    claimed: int = 0
    handed_over: bool = False  # stopped on the time budget: another job should go on


async def deliver_due(
    conn,
    policy: Policy,
    worker: str,
    clock: Callable[[], datetime] = utc_now,
    client: httpx.AsyncClient | None = None,
) -> Stats:
    """Deliver until nothing is due (or the time budget is spent). `conn`: an autocommit
    async connection, used between posts only (never held across one)."""
    stats, inflight, outcomes = Stats(), {}, []
    own_client = client is None
    client = client or policy.client()
    deadline = time.monotonic() + policy.time_budget
    try:
        while True:
            stats.handed_over = time.monotonic() >= deadline
            free = policy.concurrency - len(inflight)
            refill = free >= _refill_at(policy, inflight) and not stats.handed_over
            wanted = free if refill else 0
            if outcomes or wanted:
                claims = await _settle(conn, outcomes, wanted, policy, worker, clock(), stats)
                for claim in claims:
                    inflight[asyncio.create_task(post(client, claim, policy, clock))] = claim
                stats.claimed += len(claims)
            if not inflight:
                break
            done = await _finished(set(inflight))
            outcomes = [task.result() for task in done]
            for task in done:
                del inflight[task]
    finally:
        for task in inflight:
            task.cancel()  # their leases run out and they are posted again
        if own_client:
            await client.aclose()
    return stats


def _refill_at(policy: Policy, inflight: dict) -> int:
    """Claim again once a quarter of the slots are free (or none is busy): claims, like
    records, then cover several deliveries each instead of one."""
    return 1 if not inflight else max(1, policy.concurrency // 4)


async def _finished(tasks: set[asyncio.Task]) -> set[asyncio.Task]:
    """The posts done within a second, plus those finishing within 5 ms of the first."""
    done, pending = await asyncio.wait(tasks, timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
    if done and pending:
        more, _ = await asyncio.wait(pending, timeout=0.005)
        done |= more
    return done


async def _settle(
    conn, outcomes: list[Outcome], wanted: int, policy: Policy, worker: str, now, stats: Stats
) -> list[dict]:
    """Record finished posts and claim up to `wanted` more: one short transaction, pipelined
    (about two round trips). Losing it in a server crash only means posting again with the
    same keys, so it does not wait for the WAL flush."""
    async with conn.pipeline(), conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(Q["session_set_async_commit"])
        if outcomes:
            await _record(cur, outcomes, policy, worker, now, stats)
        return await _claim(cur, policy, now, wanted) if wanted else []


async def claim_now(conn, policy: Policy, now: datetime, limit: int) -> list[dict]:
    """Claim without posting (what a worker that dies right after its claim leaves behind)."""
    return await _settle(conn, [], limit, policy, "claim_now", now, Stats())


async def _claim(cur, policy: Policy, now: datetime, limit: int) -> list[dict]:
    params = {
        "now": now,
        "limit": limit,
        "per_destination": policy.per_destination,
        "lease": policy.lease,
    }
    await cur.execute(Q["webhook_claim_lock"])
    params["probes"] = await circuits.take_probes(cur, "webhook", None, now, policy.lease)
    return await (await cur.execute(Q["webhook_claim"], params)).fetchall()


async def _record(
    cur, outcomes: list[Outcome], policy: Policy, worker: str, now: datetime, stats: Stats
) -> None:
    for o in outcomes:
        if o.ok:
            stats.delivered += 1
        else:
            stats.failed_attempts += 1
    columns = {
        "delivery_ids": [o.claim["delivery_id"] for o in outcomes],
        "attempts": [o.claim["attempt"] for o in outcomes],
        "urls": [o.claim["url"] for o in outcomes],
        "codes": [o.status_code for o in outcomes],
        "durations": [o.duration_ms for o in outcomes],
        "excerpts": [o.excerpt for o in outcomes],
        "errors": [o.error for o in outcomes],
        "started": [o.started_at for o in outcomes],
        "ok": [o.ok for o in outcomes],
        "retry_in": [policy.retry_in(o.claim["attempt"]) for o in outcomes],
    }
    params = columns | {"worker": worker, "now": now, "max_attempts": policy.max_attempts}
    await cur.execute(Q["webhook_record_results"], params)
    for destination, ok, error in _circuit_outcomes(outcomes):
        await circuits.record(cur, "webhook", destination, ok, error, now, policy.breaker)


def _circuit_outcomes(outcomes: list[Outcome]) -> list[tuple[str, bool, str | None]]:
    """Per destination, in order, runs of successes collapsed into one (the healthy path costs
    one call per destination per batch). A 4xx answer other than 408/429 is the receiver's
    verdict on the request, not an outage: it does not count against the circuit."""
    calls: dict[str, list[tuple[str, bool, str | None]]] = {}
    for o in outcomes:
        destination, code = o.claim["destination"], o.status_code
        healthy = o.ok or (code is not None and 400 <= code < 500 and code not in (408, 429))
        mine = calls.setdefault(destination, [])
        if not (healthy and mine and mine[-1][1]):
            mine.append((destination, healthy, None if healthy else o.error))
    return [call for mine in calls.values() for call in mine]
