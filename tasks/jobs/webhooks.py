"""deliver_webhooks: post due webhook deliveries (orders/webhooks/delivery.py), on queue `webhooks`.

Woken by the transaction that writes the events (one waiting job at most, see webhook_wake in
sql/0041) and swept periodically for retries (ORDERS_WEBHOOK_SWEEP_CRON). One delivery loop
per worker process (the `delivery_lock` run_worker puts in additional_context): a job arriving
while this process already delivers returns at once, so webhooks hold at most one of a worker's
slots and order runs never wait behind receivers. For isolation, run workers with
`--queues webhooks` next to the others.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from procrastinate import JobContext

from orders.database import Q
from tasks.jobs.app import app, settings_of

EVENT_RETENTION_DAYS = 30  # delivered events are kept this long for GET /webhooks/deliveries

log = logging.getLogger(__name__)


@app.task(queue="webhooks", name="deliver_webhooks", pass_context=True)
async def deliver_webhooks(context: JobContext, timestamp: int | None = None) -> int:
    """Deliver everything due; returns how many deliveries succeeded."""
    from orders.webhooks.delivery import Policy, deliver_due  # httpx: only once it delivers

    lock: asyncio.Lock = context.additional_context["delivery_lock"]
    if lock.locked():  # this process already delivers: that loop will find this job's work
        return 0
    policy = Policy.from_settings(settings_of(context))
    async with lock, app.connector.pool.connection() as conn:
        stats = await deliver_due(conn, policy, context.worker_name or "worker")
        if stats.handed_over:
            async with conn.transaction():
                await conn.execute(Q["webhook_wake"])
    if stats.claimed:
        log.info(
            "webhooks: %d delivered, %d failed attempts", stats.delivered, stats.failed_attempts
        )
    return stats.delivered


@app.periodic(cron="37 * * * *")
@app.task(queue="maintenance", name="prune_webhook_events", pass_context=True)
async def prune_webhook_events(context: JobContext, timestamp: int) -> int:
    """Forget settled webhook events past EVENT_RETENTION_DAYS, in bounded batches."""
    now = datetime.fromtimestamp(timestamp, UTC)
    days = EVENT_RETENTION_DAYS
    params = {"cutoff": now - timedelta(days=days), "batch": 10_000}
    async with app.connector.pool.connection() as conn:
        deleted = await prune_events(conn, params)
    log.info("pruned %d webhook events", deleted)
    return deleted


async def prune_events(conn, params: dict) -> int:
    """Delete batch after batch, each in its own transaction, until none is left."""
    deleted = 0
    while True:
        async with conn.transaction():
            count = (await conn.execute(Q["webhook_event_prune"], params)).rowcount
        if not count:
            return deleted
        deleted += count
