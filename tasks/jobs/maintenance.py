"""Periodic housekeeping. Procrastinate defers each periodic tick once, however many workers run.

Configurable schedules are registered by the worker from its settings (tasks/jobs/periodic.py);
the tasks read the worker's settings from their context. (Jobs of dead or frozen workers are
retried by every worker's control loop each second: tasks/supervision/control.py.)
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import psycopg
from procrastinate import JobContext
from psycopg.rows import dict_row

from orders.database import Q
from orders.operations.retention import Retention, prune
from orders.scheduling.jobs import execution
from orders.settings import Settings
from tasks.jobs.app import app, settings_of

log = logging.getLogger(__name__)
STUCK_BATCH = 500


@app.task(queue="maintenance", name="recover_stuck_orders", pass_context=True)
async def recover_stuck_orders(context: JobContext, timestamp: int) -> int:
    """Re-defer due orders whose job vanished, failed or was cancelled behind the app's back."""
    now = datetime.now(UTC)
    params = {
        "overdue_before": now - timedelta(seconds=settings_of(context).stuck_grace_seconds),
        "limit": STUCK_BATCH,
    }
    async with (
        app.connector.pool.connection() as conn,
        conn.transaction(),
        conn.cursor(row_factory=dict_row) as cur,
    ):
        await cur.execute(Q["session_set_actor"], {"actor": "worker:recover_stuck_orders"})
        stuck = await (await cur.execute(Q["order_list_stuck"], params)).fetchall()
        for order in stuck:
            await _requeue(conn, cur, order, now)
    return len(stuck)


async def _requeue(conn, cur, order: dict, now: datetime) -> None:
    reason = f"stuck-order recovery: job {order['job_id']} was {order['job_status']}"
    await cur.execute(Q["session_set_reason"], {"reason": reason})
    deferrer = execution(order["order_id"], order["user_id"], order["level"], now, conn)
    job_id = await deferrer.defer_async()
    await cur.execute(
        Q["order_set_job"], {"order_id": order["order_id"], "job_id": job_id, "now": now}
    )
    log.warning("order %s re-deferred as job %s (%s)", order["order_id"], job_id, reason)


@app.periodic(cron="*/10 * * * *")
@app.task(queue="maintenance", name="prune_history", pass_context=True)
async def prune_history(context: JobContext, timestamp: int) -> dict[str, int]:
    """Delete history past its retention, in bounded batches (orders.operations.retention)."""
    settings = settings_of(context)
    now = datetime.fromtimestamp(timestamp, UTC)
    deleted = await asyncio.to_thread(_prune, settings, Retention.from_settings(settings), now)
    log.info("pruned history: %s", deleted)
    return deleted


def _prune(settings: Settings, retention: Retention, now: datetime) -> dict[str, int]:
    url = settings.require_database_url()
    keepalives = settings.keepalives().connect_kwargs()
    with psycopg.connect(url, autocommit=True, row_factory=dict_row, **keepalives) as conn:
        return prune(conn, retention, now)


@app.task(queue="maintenance", name="prune_finished_jobs", pass_context=True)
async def prune_finished_jobs(context: JobContext, timestamp: int) -> int:
    """Kept for workers of the previous release, which still defer it (expand/contract)."""
    settings = settings_of(context)
    retention = Retention.from_settings(settings)
    only_jobs = Retention({"procrastinate_jobs": retention.keep["procrastinate_jobs"]})
    now = datetime.fromtimestamp(timestamp, UTC)
    return (await asyncio.to_thread(_prune, settings, only_jobs, now))["procrastinate_jobs"]


@app.periodic(cron="* * * * * */10")
@app.task(queue="maintenance", name="fold_rollups")
async def fold_rollups(timestamp: int) -> int:
    """Fold metric deltas into the rollups, so they stay small when nobody reads them."""
    async with app.connector.pool.connection() as conn:
        cursor = await conn.execute(Q["rollup_fold"])
        return (await cursor.fetchone())[0]


@app.periodic(cron="17 * * * *")
@app.task(queue="maintenance", name="prune_sessions")
async def prune_sessions(timestamp: int) -> int:
    """Delete sessions whose refresh token expired; `timestamp` is the tick it runs for."""
    async with app.connector.pool.connection() as conn:
        cursor = await conn.execute(
            Q["auth_session_prune"], {"now": datetime.fromtimestamp(timestamp, UTC)}
        )
    log.info("pruned %d expired sessions", cursor.rowcount)
    return cursor.rowcount


@app.periodic(cron="27 * * * *")
@app.task(queue="maintenance", name="prune_login_failures", pass_context=True)
async def prune_login_failures(context: JobContext, timestamp: int) -> int:
    """Forget failed-login counts whose window and lock are both over."""
    params = {
        "now": datetime.fromtimestamp(timestamp, UTC),
        "window": timedelta(seconds=settings_of(context).login_window_seconds),
    }
    async with app.connector.pool.connection() as conn:
        cursor = await conn.execute(Q["login_failure_prune"], params)
    log.info("pruned %d login failure counters", cursor.rowcount)
    return cursor.rowcount
