"""The order's Procrastinate job: deferred and cancelled on the caller's transaction."""

from __future__ import annotations

from datetime import datetime

from procrastinate.jobs import JobDeferrer

from orders.core.errors import Busy
from orders.database import Q, queue


def execution(order_id: int, user_id: int, level: int, run_at: datetime, conn=None) -> JobDeferrer:
    """The job of an order's run: one waits per order (queueing lock), at its run level, and
    names its account (the fair claim shares batches between accounts: tasks/executor/claim.py)."""
    return queue.job(
        queue.EXECUTE_ORDER,
        queue.ORDERS_QUEUE,
        conn,
        schedule_at=run_at,
        queueing_lock=f"order:{order_id}",
        priority=level,
        task_kwargs={"order_id": order_id, "user_id": user_id},
    )


def run_levels(conn, user_id: int, priorities: list[str]) -> list[int]:
    """The run level of this account's orders of these priorities (orders_run_level)."""
    params = {"user_id": user_id, "priorities": priorities}
    return conn.execute(Q["account_run_levels"], params).fetchone()["levels"]


def defer_execution(conn, order_id: int, user_id: int, priority: str, run_at: datetime) -> int:
    """Queue the order's next run on `conn`'s transaction; at most one waits per order."""
    [level] = run_levels(conn, user_id, [priority])
    return execution(order_id, user_id, level, run_at, conn).defer()


def defer_executions(conn, user_id: int, runs: list[tuple[int, str, datetime]]) -> list[int]:
    """Queue many orders' first runs (order id, priority, time) on `conn`'s transaction in one
    statement; job ids in the order of `runs` (each job as `defer_execution` would make it)."""
    levels = run_levels(conn, user_id, [priority for _, priority, _ in runs])
    batch = [
        execution(order_id, user_id, level, run_at).job
        for (order_id, _, run_at), level in zip(runs, levels, strict=True)
    ]
    return queue.defer_many(conn, batch)


def cancel_pending(conn, job_id: int | None) -> None:
    """Cancel the order's waiting job; a job that is running right now is a 409."""
    if job_id is None or queue.cancel(conn, job_id):
        return
    job = conn.execute(Q["job_get_status"], {"job_id": job_id}).fetchone()
    if job is not None and job["status"] == "doing":  # finished jobs are deleted: None
        raise Busy("the order is executing right now", "order_executing")
