"""Deferring and cancelling Procrastinate jobs by task name, on the caller's transaction.

The API and the CLI never import the worker (`tasks/`): they name the task and its queue, so an
order, its audit row and its job commit together on one connection. The app below is never
opened; every call passes `connection=`. The tasks themselves are defined in tasks/jobs/.
"""

from __future__ import annotations

from typing import Any

import procrastinate
from procrastinate.jobs import Job, JobDeferrer

ORDERS_QUEUE = "orders"  # execute_order jobs: run by the worker's batch executor
MAIL_QUEUE = "mail"
EXECUTE_ORDER = "execute_order"
SEND_OUTBOX = "send_outbox"

_QUEUE = procrastinate.App(connector=procrastinate.PsycopgConnector())


def job(name: str, queue: str, conn: Any = None, **options: Any) -> JobDeferrer:
    """A job of task `name` to `.defer()` on `conn`'s transaction (`Task.configure` options)."""
    return _QUEUE.configure_task(name, queue=queue, connection=conn, **options)


def defer_many(conn: Any, jobs: list[Job]) -> list[int]:
    """Insert many jobs in one statement on `conn`'s transaction; their ids in order."""
    return [j.id for j in _QUEUE.job_manager.batch_defer_jobs(jobs=jobs, connection=conn)]


def cancel(conn: Any, job_id: int) -> bool:
    """Cancel a waiting job on `conn`'s transaction; False if it is not waiting."""
    return _QUEUE.job_manager.cancel_job_by_id(job_id, connection=conn)
