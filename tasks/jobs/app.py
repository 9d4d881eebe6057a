"""The Procrastinate app shared by the API (to defer jobs) and the workers (to run them).

Nothing is read or connected at import: the app's own connector has no settings and is never
opened (the API defers by task name on its own transaction's connection, orders/database/queue.py).
The worker swaps in `worker_connector(settings, concurrency)` for as long as it runs
(tasks/supervision/worker.py), and hands its settings to the tasks in Procrastinate's
`additional_context` (read with `settings_of(context)`).

Order runs do not go through Procrastinate's per-job loop: `orders worker` runs the `orders`
queue with its batch executor (tasks/executor/loop.py, tasks/executor/runs.py) and lets
Procrastinate run the other queues (QUEUES). The pool is Procrastinate's and its tasks' only:
its size follows the worker's concurrency, so its side work (fetch, periodic deferrer, abort
polling) never waits.
"""

from __future__ import annotations

import procrastinate
from procrastinate import JobContext

from orders.database import Q
from orders.database.queue import MAIL_QUEUE
from orders.settings import Settings

QUEUES = ["maintenance", MAIL_QUEUE, "webhooks"]  # run by Procrastinate's worker
SIDE_CONNECTIONS = 3  # fetch, periodic deferrer, abort polling
POOL_TIMEOUT_SECONDS = 10.0  # sized so nobody waits: a timeout means an outage


def worker_connector(settings: Settings, concurrency: int) -> procrastinate.PsycopgConnector:
    """The worker's connector. Its pool is created on each open, so the Supervisor's reopen
    after a lost database gets a fresh pool (an externally set pool would not be closed)."""
    params = settings.maintenance_timeouts().params()

    async def bounded(conn) -> None:  # direct connections: session settings are safe
        await conn.execute(Q["session_configure_worker_pool"], params)
        await conn.commit()

    return procrastinate.PsycopgConnector(
        conninfo=settings.require_database_url(),
        min_size=1,
        max_size=concurrency + SIDE_CONNECTIONS,
        kwargs=settings.keepalives().connect_kwargs(),
        configure=bounded,
        timeout=POOL_TIMEOUT_SECONDS,
    )


def settings_of(context: JobContext) -> Settings:
    """The settings the worker runs with (passed in its additional_context)."""
    return context.additional_context["settings"]


app = procrastinate.App(
    connector=procrastinate.PsycopgConnector(),
    import_paths=[
        "tasks.jobs.orders",
        "tasks.jobs.maintenance",
        "tasks.jobs.upcoming",
        "tasks.jobs.mail",
        "tasks.jobs.webhooks",
    ],
)
