"""The connection pool and the one-transaction-per-use-case helper.

Every wait is bounded. Each transaction starts by setting its purpose's statement, lock and
idle-in-transaction timeouts *locally* (`set_config(..., true)`), which also works through a
transaction-mode pooler such as PgBouncer, where session settings would leak to other clients.
Connections ask for TCP keepalives, so a peer that vanished from the network is noticed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from psycopg import Connection
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from orders.database.queries import Q


@dataclass(frozen=True)
class Timeouts:
    """How long one purpose's statements may run, wait for a lock, or sit idle in a
    transaction (seconds; 0 = no limit)."""

    statement: float
    lock: float
    idle_in_transaction: float

    def params(self) -> dict[str, str]:
        """As `set_config` values (milliseconds, text)."""
        return {
            "statement_timeout": _ms(self.statement),
            "lock_timeout": _ms(self.lock),
            "idle_timeout": _ms(self.idle_in_transaction),
        }


def _ms(seconds: float) -> str:
    return str(int(seconds * 1000))


@dataclass(frozen=True)
class Keepalives:
    """TCP keepalives (libpq options): a dead peer is noticed after idle + interval * count."""

    idle: int = 10
    interval: int = 5
    count: int = 3

    def connect_kwargs(self) -> dict[str, Any]:
        return {
            "keepalives": 1,
            "keepalives_idle": self.idle,
            "keepalives_interval": self.interval,
            "keepalives_count": self.count,
        }


def make_pool(
    url: str,
    min_size: int,
    max_size: int,
    timeout: float,
    keepalives: Keepalives | None = None,
    prepare: bool = True,
) -> ConnectionPool:
    """A pool that connects lazily, so creating the app never touches the network.
    `prepare=False` turns psycopg's automatic prepared statements off (needed behind a
    transaction-mode pooler, where the next transaction may run on another server session)."""
    kwargs: dict[str, Any] = {"row_factory": dict_row, "connect_timeout": max(1, int(timeout))}
    kwargs |= (keepalives or Keepalives()).connect_kwargs()
    if not prepare:
        kwargs["prepare_threshold"] = None
    return ConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        timeout=timeout,
        kwargs=kwargs,
        check=ConnectionPool.check_connection,
        open=False,
    )


class Database:
    """Owns the pool; every use case runs inside one `transaction()` (writes) or `read()`."""

    def __init__(self, pool: ConnectionPool, timeouts: Timeouts | None = None):
        self.pool = pool
        self.timeouts = timeouts or Timeouts(statement=0, lock=0, idle_in_transaction=0)

    def open(self) -> None:
        self.pool.open(wait=False)

    def close(self) -> None:
        self.pool.close()

    @contextmanager
    def transaction(self, actor: str | None = None) -> Iterator[Connection]:
        """Yield a connection inside a transaction; `actor` is recorded by the audit trigger."""
        with self.pool.connection() as conn, conn.transaction():
            begin(conn, self.timeouts, actor)
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """Yield a connection for reads, bounded by the same timeouts."""
        with self.transaction() as conn:
            yield conn


def begin(conn: Connection, timeouts: Timeouts, actor: str | None = None) -> None:
    """Start a transaction's work: its timeouts and its actor, in one round trip."""
    conn.execute(Q["session_begin"], timeouts.params() | {"actor": actor or ""})
