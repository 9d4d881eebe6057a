"""The Procrastinate app shared by the API (to defer jobs) and the workers (to run them).

Nothing connects at import: the worker's pool is built when the app is opened, from
DATABASE_URL at that moment. The API never opens it; it defers on its own transaction's
connection (`task.configure(connection=conn).defer(...)`).
"""

from __future__ import annotations

import procrastinate
from psycopg_pool import AsyncConnectionPool

from orders.config import Settings


def _pool(**kwargs) -> AsyncConnectionPool:
    settings = Settings()
    return AsyncConnectionPool(settings.require_database_url(), **kwargs)


app = procrastinate.App(
    connector=procrastinate.PsycopgConnector(pool_factory=_pool),
    import_paths=["tasks.orders", "tasks.maintenance", "tasks.mail", "tasks.webhooks"],
)
