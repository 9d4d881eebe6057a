"""The parameters of a batch's set-based statements (orders/scheduling/executions.sql), one array
per column, built from its runs."""

from __future__ import annotations

import traceback
from datetime import datetime
from typing import Any

from tasks.executor.plan import Policy, Run


def execution_rows(runs: list[Run], now: datetime, policy: Policy) -> dict[str, Any]:
    return {
        "order_ids": [r.order_id for r in runs],
        "run_numbers": [r.run_number for r in runs],
        "job_ids": [r.job_id for r in runs],
        "scheduled_for": [r.slot for r in runs],
        "attempts": [r.attempts + 1 for r in runs],
        "missed": [r.missed for r in runs],
        "started": now,
        "worker": policy.worker,
    }


def next_jobs(runs: list[Run]) -> dict[str, Any]:
    return {"order_ids": [r.order_id for r in runs], "run_at": [r.next_run_at for r in runs]}


def completion(runs: list[Run], next_job_ids: dict[int, int], now: datetime) -> dict[str, Any]:
    return {
        "order_ids": [r.order_id for r in runs],
        "last": [r.last for r in runs],
        "next_run_at": [r.next_run_at for r in runs],
        "next_job_ids": [next_job_ids.get(r.order_id) for r in runs],
        "slots": [r.slot for r in runs],
        "now": now,
    }


def job_error(run: Run, attempt: int, exc: BaseException, error: str, policy: Policy) -> dict:
    frames = traceback.format_exception(exc, limit=-8)
    return {
        "job_id": run.job_id,
        "task_name": "execute_order",
        "attempt": attempt,
        "error": error,
        "traceback": "".join(frames)[-8000:],
        "worker": policy.worker,
        "order_id": run.order_id,
    }


def failed_run(run: Run, attempt: int, error: str, now: datetime, policy: Policy) -> dict:
    return {
        "order_id": run.order_id,
        "run_number": run.run_number,
        "job_id": run.job_id,
        "scheduled_for": run.slot or run.order["next_run_at"],
        "started_at": now,
        "worker": policy.worker,
        "attempts": attempt,
        "outcome": "failed",
        "error": error,
    }


def failure(run: Run, status: str, error: str, now: datetime) -> dict:
    return {
        "order_id": run.order_id,
        "job_id": run.job_id,
        "status": status,
        "error": error,
        "now": now,
    }
