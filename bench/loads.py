"""Data for the benchmarks: orders and their jobs written in bulk, the way the API writes them
(order row, audit trigger, one Procrastinate job per order through Procrastinate's own batch
defer function), and worker processes to run them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from psycopg.types.json import Jsonb

PROJECT = Path(__file__).resolve().parent.parent
CHUNK = 20_000

# One row per order: (is_recurring, repeat_interval, repeat_unit, cron, timezone)
ONE_TIME = (False, None, None, None, None)
HOURLY = (True, 1, "hours", None, None)

INSERT_ORDERS = """
INSERT INTO orders (order_id, user_id, order_name, payload, schedule_time, is_recurring,
                    repeat_interval, repeat_unit, cron, timezone, next_run_at, job_id)
SELECT o, %(user_id)s, 'bench', %(payload)s, t, r, i, u::repeat_unit, c, z, t, j
FROM unnest(%(ids)s::bigint[], %(due)s::timestamptz[], %(recurring)s::boolean[],
            %(interval)s::int[], %(unit)s::text[], %(cron)s::text[], %(tz)s::text[],
            %(jobs)s::bigint[]) AS x(o, t, r, i, u, c, z, j)
"""
DEFER_JOBS = """
SELECT procrastinate_defer_jobs_v1(ARRAY(
    SELECT ROW('orders', 'execute_order', 0, NULL, 'order:' || o, jsonb_build_object('order_id', o),
               t)::procrastinate_job_to_defer_v1
    FROM unnest(%(ids)s::bigint[], %(due)s::timestamptz[]) WITH ORDINALITY AS x(o, t, n)
    ORDER BY n)) AS job_ids
"""


def make_user(conn, label: str = "bench") -> int:
    row = conn.execute(
        "INSERT INTO users (email, password_hash) VALUES "
        "(%s || '-' || gen_random_uuid() || '@example.com', 'x') RETURNING user_id",
        (label,),
    )
    return row.fetchone()["user_id"]


def load_orders(conn, user_id: int, due: list[datetime], kinds: list[tuple]) -> None:
    """Orders due at `due[i]` of kind `kinds[i]` (see ONE_TIME, HOURLY), with their jobs."""
    for start in range(0, len(due), CHUNK):
        _load_chunk(conn, user_id, due[start : start + CHUNK], kinds[start : start + CHUNK])
        conn.commit()


def _load_chunk(conn, user_id: int, due: list[datetime], kinds: list[tuple]) -> None:
    ids = [
        r["id"]
        for r in conn.execute(
            "SELECT nextval(pg_get_serial_sequence('orders', 'order_id')) AS id "
            "FROM generate_series(1, %s)",
            (len(due),),
        )
    ]
    jobs = conn.execute(DEFER_JOBS, {"ids": ids, "due": due}).fetchone()["job_ids"]
    columns = list(zip(*kinds, strict=True))
    conn.execute(
        INSERT_ORDERS,
        {
            "user_id": user_id,
            "payload": Jsonb({"sku": "bench"}),
            "ids": ids,
            "due": due,
            "recurring": list(columns[0]),
            "interval": list(columns[1]),
            "unit": list(columns[2]),
            "cron": list(columns[3]),
            "tz": [z if r else None for r, z in zip(columns[0], columns[4], strict=True)],
            "jobs": jobs,
        },
    )


def spawn(argv: list[str], url: str, logs: Path, name: str, **env: str) -> subprocess.Popen:
    out = open(logs / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as the process
    return subprocess.Popen(
        [sys.executable, *argv],
        cwd=PROJECT,
        stdout=out,
        stderr=subprocess.STDOUT,
        env={
            **os.environ,
            "DATABASE_URL": url,
            "ORDERS_ENV": "test",
            "ORDERS_LOG_FILE": str(logs / "orders.log"),
            **env,
        },
    )


def stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        proc.wait(timeout=120)


def wait_for(conn, query: str, done, timeout: float = 600, params=None, every: float = 0.05):
    """Poll `query` (one row, column v) until done(v); the last value."""
    deadline = time.monotonic() + timeout
    while (value := conn.execute(query, params or {}).fetchone()["v"]) is None or not done(value):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{query} still {value}")
        time.sleep(every)
    return value
