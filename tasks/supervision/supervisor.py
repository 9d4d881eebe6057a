"""Keep a worker process serving across database outages, without a restart.

The worker stops when its control connection is lost (tasks/supervision/control.py: with it went its
liveness lock, so its running jobs are retried elsewhere) or when its registration was pruned.
The supervisor then closes the pool, waits until a new connection to the database answers, and
starts a fresh worker in the same process: a new registration and a new pool (not one stuck in
its reconnect backoff). Order runs are transactions, so an interrupted one simply happens again,
once. SIGTERM/SIGINT stop it gracefully; a second one exits at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable

import psycopg
from procrastinate import App, exceptions

from orders.database import Q
from tasks.supervision.control import WorkerGone
from tasks.supervision.procrastinate_internals import InternalsWorker

log = logging.getLogger(__name__)
DATABASE_ERRORS = (exceptions.ConnectorException, psycopg.Error, OSError)
MAX_BACKOFF_SECONDS = 2.0


class Supervisor:
    def __init__(self, app: App, make_worker: Callable[[], InternalsWorker], url: str):
        self.app, self.make_worker, self.url = app, make_worker, url
        self.stopping = asyncio.Event()
        self.worker: InternalsWorker | None = None

    async def run(self) -> None:
        self._install_signal_handlers()
        while not self.stopping.is_set():
            try:
                await self._open_and_work()
            except DATABASE_ERRORS as exc:
                log.error("worker lost the database: %s", exc)
            except WorkerGone as exc:  # taken for dead by its peers: a new registration
                log.error("%s; starting over", exc)
            await self._close()  # a fresh pool next time, not one stuck in reconnect backoff
            if not self.stopping.is_set():
                await self._wait_for_database()

    async def _open_and_work(self) -> None:
        await self.app.open_async()
        self.worker = self.make_worker()
        await self.worker.run()
        if not self.stopping.is_set():
            log.error("worker stopped on its own (it lost its connection); restarting")

    async def _close(self) -> None:
        """Close the pool (psycopg_pool waits at most 5 s for connections in use)."""
        with contextlib.suppress(*DATABASE_ERRORS):
            await self.app.connector.close_async()

    async def _wait_for_database(self) -> None:
        delay = 0.2
        while not self.stopping.is_set():
            if await self._database_answers():
                log.warning("database is back: starting a new worker")
                return
            await sleep_unless(self.stopping, delay)
            delay = min(delay * 2, MAX_BACKOFF_SECONDS)

    async def _database_answers(self) -> bool:
        """A new connection answers (not the pool's: it may still be in its backoff)."""
        try:
            async with await psycopg.AsyncConnection.connect(
                self.url, connect_timeout=2, autocommit=True
            ) as conn:
                await conn.execute(Q["database_ping"])
            return True
        except DATABASE_ERRORS:
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
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait((timer, waiter), return_when=asyncio.FIRST_COMPLETED)
    finally:  # the loser is cancelled, as procrastinate.utils.wait_any did
        for task in (timer, waiter):
            if not task.done():
                task.cancel()
        await asyncio.gather(timer, waiter, return_exceptions=True)
    return timer.done() and not timer.cancelled()
