"""The connection pool, one-transaction-per-use-case helper, and the named-query loader."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from psycopg import Connection
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

QUERY_DIR = Path(__file__).parent / "queries"
_HEADER = re.compile(r"^-- name: (\w+)\n-- (.+)$", re.MULTILINE)


def load_queries(directory: Path = QUERY_DIR) -> dict[str, str]:
    """Read every `-- name: x` block of every .sql file in `directory` into {name: sql}."""
    queries: dict[str, str] = {}
    for path in sorted(directory.glob("*.sql")):
        text = path.read_text(encoding="utf-8")
        headers = list(_HEADER.finditer(text))
        for header, nxt in zip(headers, [*headers[1:], None], strict=True):
            end = nxt.start() if nxt else len(text)
            name = header.group(1)
            if name in queries:
                raise ValueError(f"query {name!r} is defined twice ({path.name})")
            queries[name] = text[header.end() : end].strip().rstrip(";")
    return queries


Q = load_queries()


def make_pool(url: str, min_size: int, max_size: int, timeout: float) -> ConnectionPool:
    """A pool that connects lazily, so creating the app never touches the network."""
    return ConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        timeout=timeout,
        kwargs={"row_factory": dict_row, "connect_timeout": max(1, int(timeout))},
        check=ConnectionPool.check_connection,
        open=False,
    )


class Database:
    """Owns the pool; every write use case runs inside one `transaction()`."""

    def __init__(self, pool: ConnectionPool):
        self.pool = pool

    def open(self) -> None:
        self.pool.open(wait=False)

    def close(self) -> None:
        self.pool.close()

    @contextmanager
    def transaction(self, actor: str | None = None) -> Iterator[Connection]:
        """Yield a connection inside a transaction; `actor` is recorded by the audit trigger."""
        with self.pool.connection() as conn, conn.transaction():
            if actor is not None:
                conn.execute(Q["session_set_actor"], {"actor": actor})
            yield conn
