"""The one module that uses private Procrastinate Python names (pinned: procrastinate~=3.10.0).

`InternalsWorker` is Procrastinate's `Worker` opened at the seams orders needs; the worker
process's class (tasks/supervision/worker.py) subclasses it and uses only the public hooks
defined here (`alongside`, `side_tasks`, `before_shutdown`, `paused_queues`, `wake`) and
Procrastinate's public options. tests/test_procrastinate_contract.py lists every name below,
checks its signature, its caller and a hash of its source, and fails naming what changed; a
source scan there fails if any other module of orders/, tasks/ or bench/ touches an underscore
attribute of a Procrastinate class or imports procrastinate.worker or procrastinate.utils.

Private names relied on, and why the public API does not suffice:

- `Worker._run_loop()` (called by `Worker.run` once the worker is registered): our `alongside`
  coroutine (the control connection: liveness lock, heartbeat, rescue of dead workers' jobs)
  must start after registration (it needs `worker_id`) and before the first fetch, and end only
  after the last job has finished and the worker unregistered. `run()` registers and fetches
  in one call and worker middleware runs per job, so there is no public hook between the two.
- `Worker._fetch_and_process_jobs()` (called by `_run_loop` after every wake-up): paused queues.
  Procrastinate fetches with `self.queues`, fixed at construction; there is no public per-fetch
  queue filter, so each round we narrow `self.queues` to the served queues not paused, and skip
  the round when all are paused.
- `Worker._new_job_event` (an asyncio.Event: set by a job_inserted notification, waited on by
  `_run_loop`, cleared by `_fetch_and_process_jobs`): `wake()` sets it (control's due-time alarm,
  a resumed queue); a skipped round clears it as a fetch would, else an all-paused worker spins.
  No public way to wake the fetch loop exists.
- `Worker._start_side_tasks()` (called by `_run_loop`): the executor and the status-log writer
  run as side tasks, so Procrastinate's monitor stops the worker if one fails and shutdown cancels
  them. There is no public option for extra side tasks.
- `Worker._shutdown(side_tasks)` (called by `_run_loop`'s finally): `before_shutdown` lets the
  executor finish its batches before Procrastinate cancels the side tasks and unregisters the
  worker (its worker_processes rows go with the registration, ON DELETE CASCADE).
- `Worker._periodic_deferrer()` (a side task): started again after a transient database error;
  Procrastinate stops the whole worker when a side task fails, with no public restart option.
- `Worker._persist_job_status(...)` (called by `_process_job`): a job's end is written again after
  a transient error (a live worker's job left 'doing' is never rescued). Worker middleware wraps
  the task's run, not this write; no public retry exists.

No longer used (public API does it): `Worker._update_heartbeat` — we pass
`update_heartbeat_interval=NEVER_BEAT` (control beats on its own connection);
`procrastinate.utils.wait_any` — stdlib `asyncio.wait` (tasks/supervision/supervisor.py).

Public, but not exported from the top-level `procrastinate` package, used elsewhere:
`procrastinate.jobs.Job` and `JobDeferrer` (what `App.configure_task` and
`JobManager.batch_defer_jobs` return; orders/database/queue.py, orders/scheduling/jobs.py),
`App.schema_manager` (`get_schema`, `get_migrations_path`; orders/database/migrate.py),
`procrastinate.exceptions`. Procrastinate's SQL objects we rely on are listed in the contract test.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from procrastinate import exceptions, worker

from tasks.executor.runs import TRANSIENT
from tasks.jobs.app import QUEUES

log = logging.getLogger(__name__)
PERSIST_ATTEMPTS = 5
NEVER_BEAT = 1e9  # update_heartbeat_interval, seconds (~31 years): asyncio.sleep takes it as is


class InternalsWorker(worker.Worker):
    """Procrastinate's worker with a companion coroutine, extra side tasks, paused queues and
    retried status writes. Subclasses override the public hooks only."""

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.serving = list(self.queues) if self.queues is not None else list(QUEUES)
        self.lost: BaseException | None = None
        self.extra_side_tasks: list[str] = []  # names, from side_tasks()

    # Public hooks, for subclasses.

    async def alongside(self, worker_id: int) -> None:
        """Runs from before the first fetch until after the last job; its failure stops the
        worker and `run()` raises it."""
        await asyncio.Future()

    def side_tasks(self) -> dict[str, Coroutine[Any, Any, Any]]:
        """More side tasks, {name: coroutine}: a failure stops the worker; cancelled at
        shutdown after `before_shutdown`."""
        return {}

    async def before_shutdown(self, running: dict[str, asyncio.Task[Any]]) -> None:
        """Called at shutdown with the still-running side tasks of `side_tasks`, by name."""

    async def paused_queues(self) -> set[str]:
        """Queues not to fetch from this round."""
        return set()

    def wake(self) -> None:
        """Fetch now (as a job_inserted notification does)."""
        self._new_job_event.set()

    # Procrastinate's private methods (tests/test_procrastinate_contract.py).

    async def _run_loop(self):
        companion = asyncio.create_task(self.alongside(self.worker_id), name="alongside")
        companion.add_done_callback(self._on_alongside_done)
        try:
            await super()._run_loop()
        finally:
            companion.cancel()
            await asyncio.gather(companion, return_exceptions=True)
        if self.lost is not None:
            raise self.lost

    def _on_alongside_done(self, task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.lost = task.exception()
            log.error("worker lost its control connection: %s", self.lost)
            self.stop()

    async def _fetch_and_process_jobs(self):
        paused = await self.paused_queues()
        self.queues = [q for q in self.serving if q not in paused]
        if self.queues:
            await super()._fetch_and_process_jobs()
        else:  # as Procrastinate does after a fetch: else the wake-up would spin
            self._new_job_event.clear()

    def _start_side_tasks(self):
        tasks = super()._start_side_tasks()
        extra = self.side_tasks()
        self.extra_side_tasks = list(extra)
        tasks.extend(asyncio.create_task(coro, name=name) for name, coro in extra.items())
        return tasks

    async def _shutdown(self, side_tasks):
        running = {
            t.get_name(): t
            for t in side_tasks
            if t.get_name() in self.extra_side_tasks and not t.done()
        }
        if running:
            await self.before_shutdown(running)
        await super()._shutdown(side_tasks)

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
