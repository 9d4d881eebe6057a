"""Order runs, many per transaction: the batch executor's claim, run and failure paths.

A batch is ONE transaction: claim up to `batch` due execution jobs together with their orders
(FOR UPDATE SKIP LOCKED on both: a job or an order someone else holds is skipped, never waited
for), run every claimed order set-based (mark it processing, hand it over, record the execution,
delete the finished job, defer the next run, complete or reschedule the order), commit. A run IS
its transaction: if the worker dies before COMMIT nothing happened and the jobs are due again for
any worker; once COMMIT returns the job is gone and cannot run again. So every run happens
exactly once, and the commit is synchronous: a run is on disk before anything reads its effects.

When a statement fails, the batch goes back to a savepoint and is split in halves until the
failing order is alone; its failure is recorded (a retry with backoff, or `failed` after the last
attempt) and every other order of the batch still runs, in the same transaction. A timeout (a lock
or statement that took too long) delays the runs a moment without counting an attempt.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import errors

from orders.database import Q
from tasks.executor import claim
from tasks.executor import params as rows_of
from tasks.executor.plan import Policy, Run, plan_runs

log = logging.getLogger(__name__)
SKIPPED = "missed run skipped: missed_runs is none"
EXPIRED = "expired: its run could not start within expires_after"
# Errors that say the database was busy, not that the order is wrong: retried, never counted.
TRANSIENT = (
    errors.LockNotAvailable,
    errors.QueryCanceled,
    errors.DeadlockDetected,
    errors.SerializationFailure,
)


def utc_now() -> datetime:
    return datetime.now(UTC)


async def run_batch(conn: psycopg.AsyncConnection, policy: Policy, clock=utc_now) -> Batch:
    """Claim and run one batch on `conn` (autocommit off, dict rows)."""
    batch = Batch(conn, policy, clock())
    async with conn.transaction():
        await batch.run()
    return batch


@dataclass
class Batch:
    """One transaction's worth of runs, and what became of them."""

    conn: psycopg.AsyncConnection
    policy: Policy
    now: datetime
    claimed: int = 0
    ran: int = 0
    failed: int = 0
    delayed: int = 0

    async def run(self) -> None:
        actor = {"actor": f"worker:{self.policy.worker}"}
        await self.conn.execute(Q["session_begin_run"], self.policy.timeouts.params() | actor)
        policy = self.policy
        rows, served = await claim.claim(
            self.conn, list(policy.levels), self.now, policy.batch, policy.fair
        )
        self.claimed = len(rows)
        # In order_id order: rows locked by this batch's triggers are locked in one order.
        rows.sort(key=lambda r: r["order_id"])
        runs = [Run(r["job_id"], r["attempts"], r["priority"], r) for r in rows if _due(r)]
        stale = [r["job_id"] for r in rows if not _due(r)]
        if stale:  # superseded, paused, or no longer scheduled: retire it, run nothing
            await self.conn.execute(Q["job_finish_many"], {"job_ids": stale})
        # a schedule that cannot go on fails alone
        for run, exc in plan_runs(runs, self.now, self.policy.missed):
            runs.remove(run)
            await self._record_failure(run, exc)
        await self._execute(runs)
        await self._advance(served, rows)

    async def _advance(self, served: list[claim.Served], rows: list[dict[str, Any]]) -> None:
        """Move account_queue on: a hint for the next claims, never worth failing a batch."""
        try:
            async with self.conn.transaction():
                await claim.advance(self.conn, served, rows, self.now)
        except psycopg.Error as exc:
            if self.conn.broken:
                raise
            log.warning("account_queue not moved on after the batch: %s", exc)

    async def _execute(self, runs: list[Run]) -> None:
        """Write `runs`; on an error split them until the failing run is alone, record it."""
        if not runs:
            return
        try:
            async with self.conn.transaction():  # a savepoint
                await self._write(runs)
            self.ran += len(runs)
        except TRANSIENT as exc:
            log.warning("%d runs delayed: %s", len(runs), exc)
            await self._delay(runs)
        except psycopg.Error as exc:
            if isinstance(exc, psycopg.OperationalError) and self.conn.broken:
                raise  # the connection is gone: nothing of the batch happened
            if len(runs) == 1:
                await self._record_failure(runs[0], exc)
            else:
                await self._execute(runs[: len(runs) // 2])
                await self._execute(runs[len(runs) // 2 :])

    async def _write(self, runs: list[Run]) -> None:
        if passed := [r for r in runs if not r.runs]:
            await self._pass_over(passed)
        if runs := [r for r in runs if r.runs]:
            await self._write_runs(runs)

    async def _pass_over(self, runs: list[Run]) -> None:
        """Runs that do not happen: a missed run the policy skips (the order goes on at its next
        slot) or an expired one-time order. Each is noted in the order's audit trail."""
        execute, now = self.conn.execute, self.now
        await execute(Q["job_finish_many"], {"job_ids": [r.job_id for r in runs]})
        if skipped := [r for r in runs if not r.expired]:
            await execute(Q["session_set_reason"], {"reason": SKIPPED})
            next_job_ids = await self._defer_next(skipped)
            await execute(
                Q["order_reschedule_many"], rows_of.completion(skipped, next_job_ids, now)
            )
        if gone := [r for r in runs if r.expired]:
            await execute(Q["session_set_reason"], {"reason": EXPIRED})
            params = {"order_ids": [r.order_id for r in gone], "error": EXPIRED, "now": now}
            await execute(Q["order_expire_many"], params)
        await execute(Q["session_set_reason"], {"reason": ""})

    async def _write_runs(self, runs: list[Run]) -> None:
        ids, now, execute = [r.order_id for r in runs], self.now, self.conn.execute
        # One round trip per statement, on purpose: between statements the server sees the
        # session idle in its transaction, so a worker frozen here loses it after the idle
        # timeout (in pipeline mode the server would wait for the rest, holding the orders).
        await execute(Q["execution_mark_processing"], {"order_ids": ids, "now": now})
        await execute(Q["provider_request_insert_many"], {"order_ids": ids, "now": now})
        await execute(Q["order_place_notify_many"], {"order_ids": ids})
        await execute(Q["execution_insert_many"], rows_of.execution_rows(runs, now, self.policy))
        await execute(Q["job_finish_many"], {"job_ids": [r.job_id for r in runs]})
        next_job_ids = await self._defer_next([r for r in runs if not r.last])
        await execute(Q["execution_complete_many"], rows_of.completion(runs, next_job_ids, now))

    async def _defer_next(self, runs: list[Run]) -> dict[int, int]:
        """{order_id: its next job's id} for the runs that have a next run."""
        if not runs:
            return {}
        cursor = await self.conn.execute(Q["job_defer_next_runs"], rows_of.next_jobs(runs))
        ids = (await cursor.fetchone())["job_ids"]
        return dict(zip([r.order_id for r in runs], ids, strict=True))

    async def _delay(self, runs: list[Run]) -> None:
        retry_at = self.now + timedelta(seconds=self.policy.transient_delay)
        job_ids = [r.job_id for r in runs]
        await self.conn.execute(Q["job_delay_many"], {"job_ids": job_ids, "retry_at": retry_at})
        self.delayed += len(runs)

    async def _record_failure(self, run: Run, exc: BaseException) -> None:
        """Keep the error (job_errors, the order's last_error, the audit trail); after the
        last attempt the run and the order are failed and the job finished, else it waits."""
        policy, now, execute = self.policy, self.now, self.conn.execute
        attempt = run.attempts + 1
        final = policy.gives_up(attempt)
        error = f"{type(exc).__name__}: {exc}"[:2000]
        log.warning(
            "order %s run %s attempt %s failed: %s", run.order_id, run.run_number, attempt, error
        )
        async with self.conn.transaction():
            await execute(
                Q["job_error_insert"], rows_of.job_error(run, attempt, exc, error, policy)
            )
            reason = f"attempt {attempt} failed: {error}"[:500]
            await execute(Q["session_set_reason"], {"reason": reason})
            if final:
                await execute(
                    Q["order_execution_insert"],
                    rows_of.failed_run(run, attempt, error, now, policy),
                )
                await execute(Q["job_finish_many"], {"job_ids": [run.job_id]})
                await execute(Q["upcoming_delete_orders"], {"order_ids": [run.order_id]})
            else:
                retry = {"job_id": run.job_id, "retry_at": policy.retry_at(now, run.attempts)}
                await execute(Q["job_retry_later"], retry)
            status = "failed" if final else "scheduled"
            await execute(Q["order_record_failure"], rows_of.failure(run, status, error, now))
            await execute(Q["session_set_reason"], {"reason": ""})
        self.failed += 1


def _due(row: dict[str, Any]) -> bool:
    """The job is its order's current one and the order may run: a paused order's job is
    retired (the order keeps its schedule; resuming defers a new job)."""
    current = row["status"] == "scheduled" and row["order_job_id"] == row["job_id"]
    return current and not row["paused"]
