"""execute_order: run one order exactly once in effect, on top of at-least-once jobs.

One transaction per run: lock the order row, drop stale jobs, mark it processing, place it,
record the execution, then complete it or defer its next run. A duplicate of the job waits
on the row lock and then finds the order pointing at another job, so it does nothing.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from procrastinate import JobContext, RetryStrategy
from psycopg.rows import dict_row

from orders.config import Settings
from orders.db import Q
from orders.orders.schedule import recurrence_of
from tasks.app import app

log = logging.getLogger(__name__)


class OrderRetry(RetryStrategy):
    """Exponential backoff; a run gets ORDERS_RUN_MAX_ATTEMPTS attempts, the first included
    (read from the environment when the worker runs). Procrastinate's own max_attempts counts
    retries, and 0 would mean unlimited, so the decision is made here."""

    def __init__(self, settings: Settings | None = None):
        settings = settings or Settings()
        super().__init__(exponential_wait=settings.retry_base)
        self.run_max_attempts = settings.run_max_attempts

    def get_retry_decision(self, *, exception, job):
        if job.attempts + 1 >= self.run_max_attempts:  # job.attempts: attempts before this one
            return None
        return super().get_retry_decision(exception=exception, job=job)


def now() -> datetime:
    return datetime.now(UTC)


async def _one(cur, query: str, **params) -> dict | None:
    return await (await cur.execute(Q[query], params)).fetchone()


@app.task(name="execute_order", queue="orders", pass_context=True, retry=OrderRetry())
async def execute_order(context: JobContext, order_id: int) -> None:
    """Run the order's due execution if this job is still the order's job."""
    job, worker = context.job, context.worker_name or "worker"
    async with app.connector.pool.connection() as conn:
        try:
            await _run(conn, job, worker, order_id)
        except Exception as exc:
            await _record_failure(conn, job, worker, order_id, exc)
            raise  # the retry strategy decides what happens next


async def _run(conn, job, worker: str, order_id: int) -> None:
    started = now()
    async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(Q["session_begin_run"], {"actor": f"worker:{worker}"})
        order = await _one(cur, "order_lock_for_execution", order_id=order_id)
        if order is None or order["job_id"] != job.id or order["status"] != "scheduled":
            log.info("job %s for order %s is stale; nothing to do", job.id, order_id)
            return
        async with conn.pipeline():  # the writes below need no answer: one round trip
            await cur.execute(Q["order_mark_processing"], {"order_id": order_id, "now": started})
            await place_order(cur, order, started)
            await _record_execution(cur, order, job, worker, started)
            await _finish_run(conn, cur, order)


async def place_order(cur, order: dict, now: datetime) -> None:
    """Performing an order = handing it over: a request to its provider (if it names one) and a
    NOTIFY on channel `order_placed`, both part of the run's transaction. The request's unique
    (order, run) is a second guard: a run never makes two requests."""
    if order["provider_id"] is not None:
        run = {"order_id": order["order_id"], "run_number": order["executions_count"] + 1}
        await cur.execute(Q["provider_request_insert"], run | {"now": now})
    await cur.execute(Q["order_place_notify"], {"order_id": order["order_id"]})


async def _record_execution(
    cur, order: dict, job, worker: str, started: datetime, error: str | None = None
) -> None:
    await cur.execute(
        Q["order_execution_insert"],
        {
            "order_id": order["order_id"],
            "run_number": order["executions_count"] + 1,
            "job_id": job.id,
            "scheduled_for": order["next_run_at"],
            "started_at": started,
            "finished_at": now(),
            "worker": worker,
            "attempts": job.attempts + 1,
            "outcome": "failed" if error else "succeeded",
            "error": error,
        },
    )


async def _finish_run(conn, cur, order: dict) -> None:
    done = order["executions_count"] + 1
    recurrence = recurrence_of(order)
    last = recurrence is None or (
        order["max_executions"] is not None and done >= order["max_executions"]
    )
    next_run_at = None if last else recurrence.next_after(order["next_run_at"], now())
    next_job = None
    if next_run_at is not None:
        next_job = await execute_order.configure(
            connection=conn, schedule_at=next_run_at, queueing_lock=f"order:{order['order_id']}"
        ).defer_async(order_id=order["order_id"])
    await cur.execute(
        Q["order_complete_run"],
        {
            "order_id": order["order_id"],
            "status": "completed" if last else "scheduled",
            "ran_for": order["next_run_at"],
            "next_run_at": next_run_at,
            "job_id": next_job or order["job_id"],
            "now": now(),
        },
    )


async def _record_failure(conn, job, worker: str, order_id: int, exc: Exception) -> None:
    """Keep the error on the order; when no retry is left, the run and the order are failed."""
    final = execute_order.retry_strategy.get_retry_decision(exception=exc, job=job) is None
    error = repr(exc)[:2000]
    async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        order = await _one(cur, "order_lock_for_execution", order_id=order_id)
        if order is None or order["job_id"] != job.id:
            return
        await cur.execute(Q["session_set_actor"], {"actor": f"worker:{worker}"})
        reason = f"attempt {job.attempts + 1} failed: {error}"[:500]
        await cur.execute(Q["session_set_reason"], {"reason": reason})
        if final:
            await _record_execution(cur, order, job, worker, now(), error)
        await cur.execute(
            Q["order_record_failure"],
            {
                "order_id": order_id,
                "job_id": job.id,
                "status": "failed" if final else "scheduled",
                "error": error,
                "now": now(),
            },
        )
