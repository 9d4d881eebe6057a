"""Real worker processes for end-to-end tests, and a way to wait for the database to agree."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

FAST = {  # short timings so failure scenarios play out in seconds
    "ORDERS_WORKER_HEARTBEAT_SECONDS": "1",
    "ORDERS_STALLED_AFTER_SECONDS": "3",
    "ORDERS_RUN_MAX_ATTEMPTS": "3",
    "ORDERS_RETRY_BASE_SECONDS": "0",
    "ORDERS_STUCK_ORDERS_CRON": "* * * * * */1",
    "ORDERS_STUCK_GRACE_SECONDS": "2",
    "ORDERS_SHUTDOWN_TIMEOUT_SECONDS": "20",
}


class Workers:
    """Starts, stops and kills `orders worker` processes against one database."""

    def __init__(self, database_url: str, log_file: Path, logs_dir: Path):
        self.env = {
            **os.environ,
            **FAST,
            "DATABASE_URL": database_url,
            "ORDERS_ENV": "test",
            "ORDERS_LOG_FILE": str(log_file),
            "ORDERS_MAIL_DIR": str(logs_dir / "mail"),  # mail without SMTP stays in the test
        }
        self.logs_dir, self.procs = logs_dir, {}

    def start(self, name: str, concurrency: int = 4, **env: str) -> subprocess.Popen:
        out = open(self.logs_dir / f"{name}.log", "ab")  # noqa: SIM115 - closed in stop()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "orders",
                "worker",
                "--name",
                name,
                "--concurrency",
                str(concurrency),
            ],
            env={**self.env, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        self.procs[name] = (proc, out)
        return proc

    def signal(self, name: str, signum: int) -> None:
        self.procs[name][0].send_signal(signum)

    def wait(self, name: str, timeout: float = 30) -> int:
        proc, out = self.procs.pop(name)
        code = proc.wait(timeout=timeout)
        out.close()
        return code

    def kill(self, name: str) -> None:
        self.signal(name, signal.SIGKILL)
        self.wait(name)

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.signal(name, signal.SIGTERM)
        for name in list(self.procs):
            try:
                self.wait(name)
            except subprocess.TimeoutExpired:
                self.kill(name)

    def log(self, name: str) -> str:
        return (self.logs_dir / f"{name}.log").read_text(errors="replace")


def wait_until(
    db_url: str,
    query: str,
    predicate: Callable[[list[dict]], bool],
    timeout: float = 30,
    params: dict | None = None,
) -> list[dict]:
    """Poll `query` until `predicate(rows)` holds; fail with the last rows after `timeout`."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(db_url, autocommit=True, row_factory=dict_row) as conn:
        while True:
            rows = conn.execute(query, params or {}).fetchall()
            if predicate(rows):
                return rows
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting; last rows: {rows[:20]}")
            time.sleep(0.1)
