"""The worker process: Procrastinate's worker, woken exactly when the next job is due.

Procrastinate wakes on NOTIFY when a job is inserted, but a job scheduled for later is only
noticed by polling (5 s by default). This worker also keeps an alarm: it asks the database
when the earliest waiting job is due (one indexed query) and sleeps until then. It re-asks
after each alarm and whenever a job is inserted (debounced), so the database sees at most a
few cheap queries per second per worker, and far fewer when idle.
"""

from __future__ import annotations

import asyncio
import logging
import traceback

from procrastinate import worker
from psycopg.rows import dict_row

from orders.config import Settings
from orders.db import Q
from orders.status_log import Paging, Writer
from tasks.app import app
from tasks.health import WorkerHealth, metrics_middleware, serve
from tasks.supervisor import Supervisor, sleep_unless

log = logging.getLogger(__name__)
DEBOUNCE_SECONDS = 0.05  # a burst of inserted jobs costs one due-time query, not one each


class DueTimeWorker(worker.Worker):
    """A Procrastinate worker with an alarm set for the next due job."""

    def __init__(
        self, health: WorkerHealth | None = None, status_log: Writer | None = None, **kwargs
    ):
        super().__init__(**kwargs)
        self._rearm = asyncio.Event()
        self.health, self.status_log = health, status_log

    async def _update_heartbeat(self):
        """Procrastinate's heartbeat loop, also telling our health endpoint it beat."""
        while True:
            await asyncio.sleep(self.update_heartbeat_interval)
            await self.app.job_manager.update_heartbeat(self.worker_id)
            if self.health is not None:
                self.health.beat(registered=await self._registered())

    async def _registered(self) -> bool:
        """Is this worker's row still in procrastinate_workers? (Peers delete the rows of
        workers they take for dead, and retry their jobs.)"""
        async with self.app.connector.pool.connection() as conn:
            cursor = await conn.execute(Q["worker_registered"], {"worker_id": self.worker_id})
            return (await cursor.fetchone())[0]

    def _start_side_tasks(self):
        tasks = [*super()._start_side_tasks(), asyncio.create_task(self._alarm(), name="alarm")]
        if self.status_log is not None:
            tasks.append(asyncio.create_task(self._write_status_log(), name="status_log"))
        return tasks

    async def _write_status_log(self) -> None:
        """Append new status changes to the log file; failures are reported, never fatal."""
        while True:
            await asyncio.to_thread(self.status_log.run_once)
            await asyncio.sleep(self.status_log.every)

    async def _handle_notification(self, *, channel, notification):
        await super()._handle_notification(channel=channel, notification=notification)
        if notification["type"] == "job_inserted":
            self._rearm.set()

    async def _alarm(self) -> None:
        while True:
            self._rearm.clear()
            due_in = await self._next_due_in()
            wait = self.fetch_job_polling_interval if due_in is None else due_in
            rang = await sleep_unless(self._rearm, min(wait, self.fetch_job_polling_interval))
            if rang and due_in is not None:
                self._new_job_event.set()
            else:
                await asyncio.sleep(DEBOUNCE_SECONDS)

    async def _next_due_in(self) -> float | None:
        queues = list(self.queues) if self.queues else None
        async with self.app.connector.pool.connection() as conn:
            cursor = await conn.cursor(row_factory=dict_row).execute(
                Q["job_next_due_in"], {"queues": queues}
            )
            row = await cursor.fetchone()
        return None if row["seconds"] is None else max(row["seconds"], 0.0)


async def record_job_error(call_next, context, worker):
    """Worker middleware: keep every failed attempt's error in job_errors, then let
    Procrastinate retry or fail the job as usual. Losing the record never loses the job."""
    try:
        return await call_next()
    except Exception as exc:
        try:
            await _insert_job_error(context, exc)
        except Exception:
            log.exception("could not record the error of job %s", context.job.id)
        raise


async def _insert_job_error(context, exc: Exception) -> None:
    frames = traceback.format_exception(exc, limit=-8)
    params = {
        "job_id": context.job.id,
        "task_name": context.job.task_name,
        "attempt": context.job.attempts + 1,
        "error": f"{type(exc).__name__}: {exc}"[:2000],
        "traceback": "".join(frames)[-8000:],
        "worker": context.worker_name or "worker",
    }
    async with context.app.connector.pool.connection() as conn:
        await conn.execute(Q["job_error_insert"], params)


def run_worker(
    concurrency: int, queues: list[str] | None, name: str | None, settings: Settings | None = None
) -> None:
    """Run one worker process until SIGTERM/SIGINT (graceful, bounded by the shutdown timeout)."""
    settings = settings or Settings()
    app.perform_import_paths()  # registers the order and maintenance tasks
    health = WorkerHealth(stale_after=settings.stalled_after_seconds)
    if settings.worker_health_port:
        serve(health, settings.worker_health_port, settings.worker_health_host)

    paging = Paging(settings.status_log_page_lines, settings.status_log_max_pages)
    status_log = Writer(
        settings.database_url, settings.log_file, settings.status_log_seconds, paging
    )

    def make_worker() -> DueTimeWorker:
        return DueTimeWorker(
            health=health,
            status_log=status_log if settings.status_log_writer else None,
            app=app,
            queues=queues,
            name=name,
            concurrency=concurrency,
            fetch_job_polling_interval=settings.poll_seconds,
            update_heartbeat_interval=settings.heartbeat_seconds,
            stalled_worker_timeout=settings.stalled_after_seconds,
            shutdown_graceful_timeout=settings.shutdown_timeout_seconds,
            worker_middleware=[metrics_middleware(health), record_job_error],
            install_signal_handlers=False,  # the supervisor owns SIGTERM/SIGINT
        )

    try:
        asyncio.run(Supervisor(app, make_worker).run())
        if settings.status_log_writer:
            status_log.run_once()  # the last runs' lines, before a graceful exit
    finally:
        status_log.close()
