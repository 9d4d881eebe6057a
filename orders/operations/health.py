"""Liveness and readiness of the API process, for load balancers and orchestrators."""

from __future__ import annotations

import psycopg

from orders.database import Database, Q
from orders.database.migrate import pending_migrations

PENDING_SHOWN = 5


def readiness(db: Database) -> tuple[bool, dict[str, str]]:
    """(ready, checks): the database answers and every shipped migration is applied."""
    try:
        with db.pool.connection() as conn:
            conn.execute(Q["database_ping"])
            pending = pending_migrations(conn)
    except psycopg.Error as exc:  # includes the pool's timeout
        return False, {"database": f"unavailable: {type(exc).__name__}", "migrations": "unknown"}
    if pending:
        shown = ", ".join(pending[:PENDING_SHOWN]) + (
            " ..." if len(pending) > PENDING_SHOWN else ""
        )
        return False, {"database": "ok", "migrations": f"pending: {shown} (run orders db migrate)"}
    return True, {"database": "ok", "migrations": "current"}
