"""Keep a worker process serving across database outages, without a restart.

Procrastinate's worker stops when the database goes away (its heartbeat or listener fails, or
fetching a job raises). The supervisor then waits until the database answers again and starts
a fresh worker in the same process: a new registration, the same pool. Jobs the old one was
running are retried by `recover_stalled_jobs` once its heartbeat is stale, and executions are
idempotent, so nothing runs twice. SIGTERM/SIGINT stop it gracefully; a second one exits at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable

import psycopg
from procrastinate import App, exceptions, utils, worker

from orders.db import Q

log = logging.getLogger(__name__)
DATABASE_ERRORS = (exceptions.ConnectorException, psycopg.Error, OSError)
MAX_BACKOFF_SECONDS = 5.0


class Supervisor:
    def __init__(self, app: App, make_worker: Callable[[], worker.Worker]):
        self.app, self.make_worker = app, make_worker
        self.stopping = asyncio.Event()
        self.worker: worker.Worker | None = None

    async def run(self) -> None:
        self._install_signal_handlers()
        while not self.stopping.is_set():
            try:
                await self._open_and_work()
            except DATABASE_ERRORS as exc:
                log.error("worker lost the database: %s", exc)
            if not self.stopping.is_set():
                await self._wait_for_database()
        await self.app.connector.close_async()

    async def _open_and_work(self) -> None:
        await self._open()
        self.worker = self.make_worker()
        await self.worker.run()
        if not self.stopping.is_set():
            log.error("worker stopped on its own (a side task lost the database); restarting")

    async def _wait_for_database(self) -> None:
        delay = 0.2
        while not self.stopping.is_set():
            if await self._database_answers():
                log.warning("database is back: starting a new worker")
                return
            await sleep_unless(self.stopping, delay)
            delay = min(delay * 2, MAX_BACKOFF_SECONDS)

    async def _open(self) -> None:
        """Open the app's pool; once open it reconnects by itself. A pool whose first fill timed
        out (database down at start for 30 s) was closed by psycopg_pool: make a new one."""
        with contextlib.suppress(exceptions.AppNotOpen):
            if self.app.connector.pool.closed:
                await self.app.connector.close_async()
        await self.app.open_async()

    async def _database_answers(self) -> bool:
        try:
            await self._open()
            async with self.app.connector.pool.connection(timeout=2) as conn:
                await conn.execute(Q["database_ping"])
            return True
        except (*DATABASE_ERRORS, exceptions.AppNotOpen):
            return False

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._on_signal)

    def _on_signal(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)  # a second signal takes the default: exit now
        log.info("stopping: waiting for running jobs (ORDERS_SHUTDOWN_TIMEOUT_SECONDS)")
        self.stopping.set()
        if self.worker is not None:
            self.worker.stop()


async def sleep_unless(event: asyncio.Event, seconds: float) -> bool:
    """Sleep `seconds`; True if the time ran out, False if `event` was set first."""
    timer = asyncio.ensure_future(asyncio.sleep(seconds))
    await utils.wait_any(timer, event.wait())
    return timer.done() and not timer.cancelled()
