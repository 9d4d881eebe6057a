"""A throwaway PostgreSQL cluster for benchmarks (normal durability: fsync on)."""

from __future__ import annotations

import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from orders.database.migrate import migrate
from orders.dev import pgserver


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def bench_database(url: str | None = None) -> Iterator[tuple[str, str]]:
    """Yield (url, description) of a migrated database: `url` as given, or a new cluster."""
    if url:
        migrate(url)
        yield url, url
        return
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the cluster on a kill too
    folder = Path(tempfile.mkdtemp(prefix="orders-bench-"))
    folder.chmod(0o755)  # the server user (when we are root) must reach its data folder
    bindir, datadir = pgserver.find_bindir(), folder / "data"
    server = pgserver.start(bindir, datadir, free_port(), folder / "postgres.log")
    try:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute("ALTER SYSTEM SET max_connections = 300")
            conn.execute("CREATE DATABASE orders_bench")
        pgserver.pg_ctl(bindir, datadir, "restart", "-l", str(folder / "postgres.log"))
        bench_url = server.rsplit("/", 1)[0] + "/orders_bench"
        migrate(bench_url)
        yield bench_url, f"own cluster {bindir} (fsync on, defaults), {datadir}"
    finally:
        pgserver.stop(bindir, datadir)
        shutil.rmtree(folder, ignore_errors=True)
