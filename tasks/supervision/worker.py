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

from procrastinate import exceptions, worker

from orders.database import Q
from orders.database.queue import ORDERS_QUEUE
from orders.operations.status_log import Paging, Writer
from orders.settings import Settings
from tasks.executor.loop import Executor
from tasks.executor.runs import TRANSIENT, Policy
from tasks.jobs.app import QUEUES, app, worker_connector
from tasks.jobs.periodic import register_periodic
from tasks.supervision.control import Control, Timing
from tasks.supervision.health import WorkerHealth, metrics_middleware, serve
from tasks.supervision.pausing import PausableQueues
from tasks.supervision.supervisor import Supervisor

log = logging.getLogger(__name__)
PRIORITY_LEVELS = tuple(range(9, -1, -1))  # run levels, highest first (sql/0060)
PERSIST_ATTEMPTS = 5


class OrdersWorker(PausableQueues, worker.Worker):
    """Procrastinate's worker (skipping paused queues), plus this process's executor, control
    connection and log."""

    def __init__(
        self,
        control: Control,
        executor: Executor | None = None,
        status_log: Writer | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.control, self.executor, self.status_log = control, executor, status_log
        self.control.wake_queues = self._new_job_event.set
        self.lost: BaseException | None = None

    async def _run_loop(self):
        """Hold the liveness lock before anything is fetched, until every job has finished."""
        control = asyncio.create_task(self.control.run(self.worker_id), name="control")
        control.add_done_callback(self._on_control_done)
        try:
            await super()._run_loop()
        finally:
            control.cancel()
            await asyncio.gather(control, return_exceptions=True)
        if self.lost is not None:
            raise self.lost

    def _on_control_done(self, task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.lost = task.exception()
            log.error("worker lost its control connection: %s", self.lost)
            self.stop()

    async def _update_heartbeat(self):
        """Beaten on the control connection instead (tasks/supervision/control.py)."""
        await asyncio.Future()

    async def _periodic_deferrer(self):
        """Procrastinate's periodic deferrer, started again after a slow statement (a row
        another worker holds) instead of stopping this worker: periodic ticks are deferred
        once each whatever happens, so a retried tick is never doubled."""
        while True:
            try:
                return await super()._periodic_deferrer()
            except exceptions.ConnectorException as exc:
                if not isinstance(exc.__cause__, TRANSIENT):
                    raise
                log.warning("periodic deferrer was slow (%s); again in a second", exc.__cause__)
                await asyncio.sleep(1)

    async def _persist_job_status(self, *args, **kwargs):
        """Record a job's end, retrying a slow statement: a live worker's job left 'doing'
        would never be rescued (its worker is alive)."""
        for attempt in range(PERSIST_ATTEMPTS):
            try:
                return await super()._persist_job_status(*args, **kwargs)
            except exceptions.ConnectorException as exc:
                if not isinstance(exc.__cause__, TRANSIENT) or attempt == PERSIST_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(2**attempt)

    async def _shutdown(self, side_tasks):
        """Let the executor finish its batches before Procrastinate cancels the side tasks."""
        running = [t for t in side_tasks if t.get_name() == "executor" and not t.done()]
        if self.executor is not None and running:
            self.executor.stop()
            await asyncio.wait(running, timeout=self.shutdown_graceful_timeout)
        await super()._shutdown(side_tasks)

    def _start_side_tasks(self):
        tasks = super()._start_side_tasks()
        if self.executor is not None:
            tasks.append(asyncio.create_task(self.executor.run(), name="executor"))
        if self.status_log is not None:
            tasks.append(asyncio.create_task(self._write_status_log(), name="status_log"))
        return tasks

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
    paging = Paging(settings.status_log_page_lines, settings.status_log_max_pages)
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
        transient_delay=settings.run_transient_retry_seconds,
        levels=PRIORITY_LEVELS,
        timeouts=settings.run_timeouts(),
        missed=settings.missed_rules(),
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
