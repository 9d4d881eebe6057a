"""A worker process's bookkeeping, on one direct connection that order runs never use.

- Liveness: the process holds a session advisory lock keyed by its worker id for as long as it
  lives. A killed process's connections close at once, so its lock is free at once: every worker
  sweeps each second and retries the running jobs of processes whose lock is free, so a SIGKILLed
  worker's jobs run elsewhere within about a second. A frozen process keeps its lock, but its
  heartbeat stops: its jobs are retried once the heartbeat is older than the stalled timeout.
- Heartbeat: Procrastinate's, on this connection, so a pool busy with long tasks never delays it.
  A worker whose registration was pruned (it was frozen for too long) stops and starts over.
- Alarm: LISTEN for new execution jobs and ask when the next job is due (an indexed query), so
  idle executor slots and Procrastinate's own loop wake exactly then, not at the next poll.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import errors, sql
from psycopg.rows import dict_row

from orders.database import Q

log = logging.getLogger(__name__)
LOCK_CLASS = 0x0DE5_0003  # advisory lock (LOCK_CLASS, worker_id): "this worker process lives"
ORDERS_CHANNEL = "procrastinate_queue_v1#orders"  # Procrastinate's NOTIFY channel of the queue
SWEEP_SECONDS = 1.0
DEBOUNCE_SECONDS = 0.05  # a burst of inserted jobs costs one due-time query, not one each
CLOCK_SLACK = timedelta(milliseconds=50)
ORPHANS_PER_SWEEP = 100


class WorkerGone(RuntimeError):
    """This worker's registration was removed by another worker: start over."""


@dataclass(frozen=True)
class Timing:
    heartbeat: float
    stalled_after: float
    poll: float
    statement_timeout: float = 5.0


class Control:
    def __init__(
        self,
        url: str,
        timing: Timing,
        name: str,
        levels: tuple[int, ...],
        queues: list[str],
        wake_orders: Callable[[], None] | None,
        wake_queues: Callable[[], None],
        on_beat: Callable[..., None],  # on_beat(registered=True)
        connect_kwargs: dict[str, Any] | None = None,
    ):
        self.url, self.timing, self.name = url, timing, name
        self.levels, self.queues = list(levels), queues
        self.wake_orders, self.wake_queues, self.on_beat = wake_orders, wake_queues, on_beat
        self.connect_kwargs = connect_kwargs or {}
        self._orders = Alarm(lambda: self.wake_orders()) if wake_orders else None
        self._queues = Alarm(lambda: self.wake_queues())

    async def run(self, worker_id: int) -> None:
        """Hold the liveness lock and keep the books until cancelled; raises when the
        connection is lost (the worker must stop: its lock is gone) or it was unregistered."""
        async with await psycopg.AsyncConnection.connect(
            self.url, autocommit=True, row_factory=dict_row, **self.connect_kwargs
        ) as conn:
            await conn.execute(Q["session_set_statement_timeout"], self._timeout())
            await conn.execute(Q["worker_process_register"], self._process(worker_id))
            if self.wake_orders is not None:
                await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(ORDERS_CHANNEL)))
            await self._loop(conn, worker_id)

    def _timeout(self) -> dict[str, str]:
        return {"statement_timeout": str(int(self.timing.statement_timeout * 1000))}

    def _process(self, worker_id: int) -> dict[str, Any]:
        name = self.name or f"{socket.gethostname()}:{os.getpid()}"
        return {
            "lock_class": LOCK_CLASS,
            "worker_id": worker_id,
            "name": name,
            "host": socket.gethostname(),
            "pid": os.getpid(),
        }

    async def _loop(self, conn, worker_id: int) -> None:
        beat_at = sweep_at = time.monotonic()
        alarms = [a for a in (self._orders, self._queues) if a is not None]
        await self._next_due(conn)
        while True:
            deadline = min(beat_at, sweep_at, *(a.deadline for a in alarms))
            if await _notified(conn, deadline - time.monotonic()) and self._orders:
                self._orders.wake()  # a new execution job: maybe due now
                await asyncio.sleep(DEBOUNCE_SECONDS)
                await self._next_due(conn)
            if any([await alarm.ring() for alarm in alarms]):
                await self._next_due(conn)
            now = time.monotonic()
            if now >= beat_at:
                await self._beat(conn, worker_id)
                beat_at = now + self.timing.heartbeat
            if now >= sweep_at:
                await _tolerant(self._sweep(conn))
                sweep_at = now + SWEEP_SECONDS

    async def _next_due(self, conn) -> None:
        """Set the alarms: the earliest execution job and the earliest job of the other queues
        due after the last one each alarm rang for."""
        params = {
            "levels": self.levels if self._orders else [],
            "queues": self.queues,
            "orders_after": self._orders.after if self._orders else self._queues.after,
            "queues_after": self._queues.after,
        }
        if (row := await _tolerant(_fetch_one(conn, Q["job_next_due"], params))) is None:
            return  # slow: keep the alarms as they are
        if self._orders:
            self._orders.set(row["orders_due_at"], self.timing.poll)
        self._queues.set(row["queues_due_at"], self.timing.poll)

    async def _beat(self, conn, worker_id: int) -> None:
        row = await _tolerant(_fetch_one(conn, Q["worker_heartbeat"], {"worker_id": worker_id}))
        if row is None:
            return  # a slow statement: the health endpoint shows the heartbeat's age
        if not row["registered"]:
            self.on_beat(False)  # /healthz says so until a new registration beats
            raise WorkerGone(f"worker {worker_id} was unregistered (stalled too long?)")
        self.on_beat()

    async def _sweep(self, conn) -> None:
        """Retry the running jobs of dead or frozen workers; forget dead worker processes."""
        params = {
            "lock_class": LOCK_CLASS,
            "stalled_seconds": self.timing.stalled_after,
            "limit": ORPHANS_PER_SWEEP,
        }
        for job in await (await conn.execute(Q["job_list_orphaned"], params)).fetchall():
            await _rescue(conn, job)
        await conn.execute(Q["worker_process_prune_dead"], {"lock_class": LOCK_CLASS})


async def _rescue(conn, job: dict[str, Any]) -> None:
    try:
        await conn.execute(Q["job_retry_orphaned"], {"job_id": job["id"]})
        log.warning(
            "job %s (%s) retried: its worker %s died", job["id"], job["task_name"], job["worker_id"]
        )
    except errors.UniqueViolation:
        # Its queueing lock is taken: a newer job of the same order replaced it. Retire it.
        await conn.execute(Q["job_abort_orphaned"], {"job_id": job["id"]})
        log.warning("job %s aborted: a newer job of the same queueing lock replaced it", job["id"])
    except errors.RaiseException:
        pass  # another worker's sweep retried it first


async def _notified(conn, timeout: float) -> bool:
    """Wait up to `timeout` seconds for a notification on this connection."""
    async for _ in conn.notifies(timeout=max(timeout, 0.0), stop_after=1):
        return True
    return False


async def _fetch_one(conn, query: str, params: dict[str, Any]) -> dict[str, Any] | None:
    return await (await conn.execute(query, params)).fetchone()


async def _tolerant(coro):
    """Run `coro`; a statement that timed out is logged and skipped (tried again next tick).
    A lost connection is not tolerated: it ends the worker's liveness."""
    try:
        return await coro
    except (errors.QueryCanceled, errors.LockNotAvailable) as exc:
        log.warning("worker bookkeeping was slow: %s", exc)
        return None


class Alarm:
    """Wakes its sleeper when the next job is due. It rings once for every due time (the next
    one is looked for after the last it rang for), and only once that time has come by the wall
    clock, so the claim that follows finds the job due; at the latest it rings after the poll
    interval, which catches anything missed."""

    def __init__(self, wake: Callable[[], None]):
        self.wake = wake
        self.after = datetime.now(UTC)
        self.due: datetime | None = None
        self.deadline = time.monotonic()

    def set(self, due: datetime | None, poll: float) -> None:
        self.due = due
        wait = poll if due is None else min((due - datetime.now(UTC)).total_seconds(), poll)
        self.deadline = time.monotonic() + wait

    async def ring(self) -> bool:
        if time.monotonic() < self.deadline:
            return False
        now = datetime.now(UTC)
        if self.due is not None and now < self.due <= now + CLOCK_SLACK:
            await asyncio.sleep((self.due - now).total_seconds())  # the monotonic clock led
            now = datetime.now(UTC)
        self.after = self.due if self.due is not None and self.due <= now else now
        self.wake()
        return True
