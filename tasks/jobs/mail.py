"""Mail tasks: provider digests and customer notices, queued set-based; the outbox sender.

A digest run is ONE transaction and ONE statement (orders/providers/providers.sql,
provider_digest_queue): it picks every request not yet notified, skipping rows a concurrent run
holds, inserts one digest and one outbox mail per provider and marks the requests. It commits
all of that or nothing, so a request is never in two digests nor left out; a missed period only
means the next run finds more. The same transaction defers `send_outbox`, which then finds the
mail committed. Their schedules are registered by the worker from its settings
(tasks/jobs/periodic.py).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from procrastinate import JobContext
from psycopg.rows import dict_row

from orders.database import Q
from orders.database.queue import MAIL_QUEUE, SEND_OUTBOX
from orders.mail.outbox import Policy, deliver_due
from orders.mail.transport import transport_for
from tasks.jobs.app import app, settings_of

log = logging.getLogger(__name__)


@app.periodic(cron="* * * * * */30")  # the API also defers it when it queues mail
@app.task(queue=MAIL_QUEUE, name=SEND_OUTBOX, pass_context=True)
async def send_outbox(context: JobContext, timestamp: int | None = None) -> int:
    """Deliver due mail: deferred by each transaction that queues mail, and periodically for
    retries (failed attempts wait with exponential backoff)."""
    settings = settings_of(context)
    async with app.connector.pool.connection() as conn:
        result = await deliver_due(conn, transport_for(settings), Policy.from_settings(settings))
    if result.unavailable and not result.circuit_open:  # an open circuit was logged once
        log.warning("mail delivery paused: %s", result.unavailable)
    return result.sent


@app.task(queue="mail", name="send_provider_digests")
async def send_provider_digests(timestamp: int) -> int:
    """Queue one digest mail per provider with all its requests not yet notified."""
    async with app.connector.pool.connection() as conn:
        return (await queue_provider_digests(conn, datetime.now(UTC)))["mails"]


@app.task(queue="mail", name="send_customer_notices")
async def send_customer_notices(timestamp: int) -> int:
    """Queue one mail per customer about answers not yet told (ORDERS_CUSTOMER_NOTIFY=digest;
    in immediate mode answers are told at once and this finds nothing left)."""
    async with app.connector.pool.connection() as conn:
        return (await queue_customer_notices(conn, datetime.now(UTC)))["mails"]


async def queue_provider_digests(conn, now: datetime) -> dict:
    """{"mails": digests queued, "requests": requests they list}, in one transaction."""
    return await _queue(conn, "provider_digest_queue", {"now": now})


async def queue_customer_notices(conn, now: datetime) -> dict:
    return await _queue(conn, "customer_notice_queue", {"request_ids": None, "now": now})


async def _queue(conn, query: str, params: dict) -> dict:
    async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        row = await (await cur.execute(Q[query], params)).fetchone()
        if row["mails"]:
            await send_outbox.configure(connection=conn).defer_async()
    log.info("%s: %d mails for %d requests", query, row["mails"], row["requests"])
    return row
