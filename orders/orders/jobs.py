"""The order's Procrastinate job: deferred and cancelled on the caller's transaction."""

from __future__ import annotations

from datetime import datetime

from orders.db import Q
from orders.errors import Busy
from tasks.app import app
from tasks.orders import execute_order


def defer_execution(conn, order_id: int, run_at: datetime) -> int:
    """Queue the order's next run on `conn`'s transaction; at most one waits per order."""
    return execute_order.configure(
        connection=conn, schedule_at=run_at, queueing_lock=f"order:{order_id}"
    ).defer(order_id=order_id)


def defer_executions(conn, runs: list[tuple[int, datetime]]) -> list[int]:
    """Queue many orders' first runs on `conn`'s transaction in one statement; job ids in the
    order of `runs` (each job as `defer_execution` would make it)."""
    batch = [
        execute_order.configure(
            schedule_at=run_at,
            queueing_lock=f"order:{order_id}",
            task_kwargs={"order_id": order_id},
        ).job
        for order_id, run_at in runs
    ]
    deferred = app.job_manager.batch_defer_jobs(jobs=batch, connection=conn)
    return [job.id for job in deferred]


def cancel_pending(conn, job_id: int | None) -> None:
    """Cancel the order's waiting job; a job that is running right now is a 409."""
    if job_id is None or app.job_manager.cancel_job_by_id(job_id, connection=conn):
        return
    job = conn.execute(Q["job_get_status"], {"job_id": job_id}).fetchone()
    if job is not None and job["status"] == "doing":  # finished jobs are deleted: None
        raise Busy("the order is executing right now", "order_executing")
