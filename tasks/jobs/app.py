"""The Procrastinate app shared by the API (to defer jobs) and the workers (to run them).

Nothing connects at import: the worker's pool is built when the app is opened, from
DATABASE_URL at that moment. The API never opens it; it defers on its own transaction's
connection (`task.configure(connection=conn).defer(...)`).

Order runs do not go through Procrastinate's per-job loop: `orders worker` runs the `orders`
queue with its batch executor (tasks/executor/loop.py, tasks/executor/runs.py) and lets
Procrastinate run the
other queues (QUEUES). The pool is Procrastinate's and its tasks' only: its size follows the
worker's concurrency, so its side work (fetch, periodic deferrer, abort polling) never waits.
"""

from __future__ import annotations

import procrastinate
from psycopg_pool import AsyncConnectionPool

from orders.database import Q
from orders.database.queue import MAIL_QUEUE
from orders.settings import Settings

QUEUES = ["maintenance", MAIL_QUEUE, "webhooks"]  # run by Procrastinate's worker
SIDE_CONNECTIONS = 3  # fetch, periodic deferrer, abort polling
POOL_TIMEOUT_SECONDS = 10.0
_pool_size = {"min_size": 1, "max_size": 4 + SIDE_CONNECTIONS}


def size_pool(concurrency: int) -> None:
    """Called once by the worker before the app is opened."""
    _pool_size["max_size"] = concurrency + SIDE_CONNECTIONS


def _pool(**kwargs) -> AsyncConnectionPool:
    settings = Settings()

    async def bounded(conn) -> None:  # direct connections: session settings are safe
        await conn.execute(
            Q["session_configure_worker_pool"], settings.maintenance_timeouts().params()
        )
        await conn.commit()

    return AsyncConnectionPool(
        settings.require_database_url(),
        **_pool_size,
        kwargs=settings.keepalives().connect_kwargs(),
        configure=bounded,
        timeout=POOL_TIMEOUT_SECONDS,  # sized so nobody waits: a timeout means an outage
        **kwargs,
    )


app = procrastinate.App(
    connector=procrastinate.PsycopgConnector(pool_factory=_pool),
    import_paths=[
        "tasks.jobs.orders",
        "tasks.jobs.maintenance",
        "tasks.jobs.upcoming",
        "tasks.jobs.mail",
        "tasks.jobs.webhooks",
    ],
)
