"""The worker process: order runs in batches, Procrastinate for the other queues.

Each `orders worker` process has, on connections of their own:
- the batch executor (tasks/executor/loop.py): a few slots claiming and running due orders;
- the control connection (tasks/supervision/control.py): liveness lock, heartbeat, due-time alarms
and the
  rescue of dead workers' jobs, held from before the first job is fetched until after the last
  one has finished;
- Procrastinate's worker for the mail and maintenance queues, with a pool sized from the
  concurrency, so its fetches and periodic deferrer never wait behind its tasks;
- the status-log writer (orders/operations/status_log.py).
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Coroutine
from typing import Any

from orders.database import Q
from orders.database.queue import ORDERS_QUEUE
from orders.operations.status_log import Paging, Writer
from orders.scheduling.missed import MissedRules
from orders.settings import Settings
from tasks.executor.loop import Executor
from tasks.executor.runs import Policy
from tasks.jobs.app import QUEUES, app, worker_connector
from tasks.jobs.periodic import register_periodic
from tasks.supervision.control import Control, Timing
from tasks.supervision.health import WorkerHealth, metrics_middleware, serve
from tasks.supervision.procrastinate_internals import NEVER_BEAT, InternalsWorker
from tasks.supervision.supervisor import Supervisor

log = logging.getLogger(__name__)
PRIORITY_LEVELS = tuple(range(9, -1, -1))  # run levels, highest first (sql/0060)


class OrdersWorker(InternalsWorker):
    """Procrastinate's worker (skipping paused queues), plus this process's executor, control
    connection and log. Public hooks only: Procrastinate's internals are in
    tasks/supervision/procrastinate_internals.py."""

    def __init__(
        self,
        control: Control,
        executor: Executor | None = None,
        status_log: Writer | None = None,
        **kwargs,
    ):
        # The control connection beats (tasks/supervision/control.py), not Procrastinate.
        kwargs.setdefault("update_heartbeat_interval", NEVER_BEAT)
        super().__init__(**kwargs)
        self.control, self.executor, self.status_log = control, executor, status_log
        self.control.wake_queues = self.wake

    async def alongside(self, worker_id: int) -> None:
        """Hold the liveness lock before anything is fetched, until every job has finished."""
        await self.control.run(worker_id)

    def side_tasks(self) -> dict[str, Coroutine[Any, Any, Any]]:
        tasks = {}
        if self.executor is not None:
            tasks["executor"] = self.executor.run()
        if self.status_log is not None:
            tasks["status_log"] = self._write_status_log()
        return tasks

    async def before_shutdown(self, running: dict[str, asyncio.Task[Any]]) -> None:
        """Let the executor finish its batches before Procrastinate cancels the side tasks."""
        if self.executor is not None and "executor" in running:
            self.executor.stop()
            await asyncio.wait([running["executor"]], timeout=self.shutdown_graceful_timeout)

    async def paused_queues(self) -> set[str]:
        """The served queues in queue_pauses (orders.scheduling.pauses; the orders queue's
        pause is in the executor's claim)."""
        rows = await self.app.connector.execute_query_all_async(Q["queue_pause_names"])
        return {r["queue_name"] for r in rows}

    async def _write_status_log(self) -> None:
        """Append new status changes to the log file; failures are reported, never fatal."""
        while True:
            await asyncio.to_thread(self.status_log.run_once)
            await asyncio.sleep(self.status_log.every)


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
        "order_id": context.job.task_kwargs.get("order_id"),
    }
    async with context.app.connector.pool.connection() as conn:
        await conn.execute(Q["job_error_insert"], params)


def split_queues(queues: list[str] | None) -> tuple[bool, list[str]]:
    """(run the executor?, the queues Procrastinate serves) for `--queues` (None: all)."""
    if queues is None:
        return True, list(QUEUES)
    return ORDERS_QUEUE in queues, [q for q in queues if q != ORDERS_QUEUE]


def run_worker(
    concurrency: int, queues: list[str] | None, name: str | None, *, settings: Settings
) -> None:
    """Run one worker process until SIGTERM/SIGINT (graceful, bounded by the shutdown timeout)."""
    app.perform_import_paths()  # registers the order, mail and maintenance tasks
    register_periodic(app, settings)
    health = WorkerHealth(stale_after=settings.stalled_after_seconds)
    if settings.worker_health_port:
        serve(health, settings.worker_health_port, settings.worker_health_host)
    paging = Paging()
    status_log = Writer(
        settings.database_url, settings.log_file, settings.status_log_seconds, paging
    )
    run_orders, other_queues = split_queues(queues)
    executor = _executor(settings, name, health) if run_orders else None
    # what the tasks read (tasks/jobs/app.py settings_of); one webhook delivery loop per process
    context = {"settings": settings, "delivery_lock": asyncio.Lock()}

    def make_worker() -> OrdersWorker:
        return OrdersWorker(
            control=_control(settings, name, other_queues, executor, health),
            executor=executor,
            status_log=status_log if settings.status_log_writer else None,
            app=app,
            queues=other_queues,
            name=name,
            concurrency=concurrency,
            fetch_job_polling_interval=settings.poll_seconds,
            stalled_worker_timeout=settings.stalled_after_seconds,
            shutdown_graceful_timeout=settings.shutdown_timeout_seconds,
            worker_middleware=[metrics_middleware(health), record_job_error],
            install_signal_handlers=False,  # the supervisor owns SIGTERM/SIGINT
            additional_context=context,
        )

    try:
        with app.replace_connector(worker_connector(settings, concurrency)):
            asyncio.run(Supervisor(app, make_worker, settings.require_database_url()).run())
        if settings.status_log_writer:
            status_log.run_once()  # the last runs' lines, before a graceful exit
    finally:
        status_log.close()


def run_policy(settings: Settings, name: str | None) -> Policy:
    """How this worker runs orders, from its settings."""
    return Policy(
        worker=name or "worker",
        batch=settings.executor_batch,
        max_attempts=settings.run_max_attempts,
        retry_base=settings.retry_base,
        levels=PRIORITY_LEVELS,
        timeouts=settings.run_timeouts(),
        missed=MissedRules.from_settings(settings),
        fair=settings.fair_share,
    )


def _executor(settings: Settings, name: str | None, health: WorkerHealth) -> Executor:
    policy = run_policy(settings, name)
    connect = settings.keepalives().connect_kwargs() | {"application_name": _app_name(name, "runs")}
    url, slots, poll = (
        settings.require_database_url(),
        settings.executor_slots,
        settings.poll_seconds,
    )
    return Executor(url, policy, slots, poll, connect, on_batch=health.observe_batch)


def _control(settings, name, queues, executor, health) -> Control:
    timing = Timing(
        heartbeat=settings.heartbeat_seconds,
        stalled_after=settings.stalled_after_seconds,
        poll=settings.poll_seconds,
    )
    return Control(
        settings.require_database_url(),
        timing,
        name=name,
        levels=PRIORITY_LEVELS,
        queues=queues,
        wake_orders=executor.wake if executor else None,
        wake_queues=lambda: None,  # set by the worker it belongs to
        on_beat=health.beat,
        connect_kwargs=settings.keepalives().connect_kwargs()
        | {"application_name": _app_name(name, "control")},
    )


def _app_name(name: str | None, role: str) -> str:
    """Shown in pg_stat_activity: which worker and which of its connections."""
    return f"orders-worker {name or 'worker'} {role}"[:63]
