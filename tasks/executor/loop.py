"""The batch executor: a few slots per worker process, each on its own direct connection,
claiming and running batches of due orders (tasks/executor/runs.py) until none is left, then
waiting to be
woken (a new execution job, or the next one's due time: see tasks/supervision/control.py) or for
the poll
interval. Runs never share a connection with the worker's bookkeeping, and a slot never gives up:
a lost connection is reopened with backoff (its batch rolled back, due again for any worker).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg.rows import dict_row

from tasks.executor.runs import Batch, Policy, run_batch
from tasks.supervision.supervisor import sleep_unless

log = logging.getLogger(__name__)
MAX_BACKOFF_SECONDS = 5.0


class Executor:
    def __init__(
        self,
        url: str,
        policy: Policy,
        slots: int,
        poll_seconds: float,
        connect_kwargs: dict[str, Any] | None = None,
        on_batch: Callable[[Batch, float], None] | None = None,
    ):
        self.url, self.policy, self.poll_seconds = url, policy, poll_seconds
        self.on_batch = on_batch
        self.connect_kwargs = connect_kwargs or {}
        self._wakes = [asyncio.Event() for _ in range(slots)]
        self._stopping = asyncio.Event()

    def wake(self) -> None:
        """Something became due: every idle slot looks for work now."""
        for event in self._wakes:
            event.set()

    def stop(self) -> None:
        """Graceful stop: each slot finishes the batch it is running, then returns."""
        self._stopping.set()
        self.wake()

    async def run(self) -> None:
        """Run every slot until stopped (or cancelled: each slot still finishes its batch)."""
        self._stopping.clear()
        await asyncio.gather(*(self._slot(wake) for wake in self._wakes))

    async def _slot(self, wake: asyncio.Event) -> None:
        delay = 0.2
        while not self._stopping.is_set():
            try:
                async with await self._connect() as conn:
                    delay = 0.2
                    await self._work(conn, wake)
            except (psycopg.Error, OSError) as exc:
                log.warning("executor slot: %s; reconnecting in %.1f s", exc, delay)
            except Exception:
                log.exception("executor slot failed; restarting it in %.1f s", delay)
            await sleep_unless(self._stopping, delay)
            delay = min(delay * 2, MAX_BACKOFF_SECONDS)

    async def _connect(self) -> psycopg.AsyncConnection:
        return await psycopg.AsyncConnection.connect(
            self.url, row_factory=dict_row, **self.connect_kwargs
        )

    async def _work(self, conn: psycopg.AsyncConnection, wake: asyncio.Event) -> None:
        while not self._stopping.is_set():  # a wake during a batch is kept: look again at once
            started = time.monotonic()
            batch = await _finish_even_if_cancelled(run_batch(conn, self.policy))
            if self.on_batch is not None:
                self.on_batch(batch, time.monotonic() - started)
            if batch.claimed < self.policy.batch:
                await sleep_unless(wake, self.poll_seconds)
                wake.clear()


async def _finish_even_if_cancelled(coro):
    """Await `coro`; if we are cancelled meanwhile, let it finish first (a batch is one short
    transaction, bounded by its statement timeout), then stop."""
    task = asyncio.ensure_future(coro)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        while not task.done():  # Procrastinate cancels its side tasks more than once
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(task)
        raise
