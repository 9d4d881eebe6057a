"""Data for the benchmarks: orders and their jobs written in bulk, the way the API writes them
(order row, audit trigger, one Procrastinate job per order through Procrastinate's own batch
defer function), and worker processes to run them."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from bench.api import Api

PROJECT = Path(__file__).resolve().parent.parent
CHUNK = 20_000
BATCH = 1_000  # orders per POST /orders/batch (ORDERS_BATCH_MAX_ORDERS' default)
EVENTS = ["order.run_succeeded", "order.failed", "order.completed", "order.cancelled"]

# One row per order: (is_recurring, repeat_interval, repeat_unit, cron, timezone)
ONE_TIME = (False, None, None, None, None)
HOURLY = (True, 1, "hours", None, None)
ACTIVE_MIX = [  # (share, kind) of the background of active recurring orders
    (0.20, (True, 15, "minutes", None, None)),
    (0.30, HOURLY),
    (0.20, (True, 1, "days", None, None)),
    (0.15, (True, None, None, "0 9 * * *", "Europe/Paris")),
    (0.10, (True, None, None, "*/30 * * * *", "America/New_York")),
    (0.05, (True, None, None, "0 */4 * * *", "Asia/Tokyo")),
]
SPREAD = timedelta(hours=6)  # background next runs fall anywhere in the coming 6 hours

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
    SELECT ROW('orders', 'execute_order', 1, NULL, 'order:' || o,
               jsonb_build_object('order_id', o, 'user_id', %(user_id)s::bigint),
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
    params = {"ids": ids, "due": due, "user_id": user_id}  # level 1: a normal order, standard
    jobs = conn.execute(DEFER_JOBS, params).fetchone()["job_ids"]
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


def load_active(url: str, count: int, seed: int = 3) -> None:
    """`count` active recurring orders of ACTIVE_MIX, next runs over the coming SPREAD."""
    rng, now = random.Random(seed), datetime.now(UTC)
    kinds = [kind for share, kind in ACTIVE_MIX for _ in range(round(count * share))][:count]
    due = [now + timedelta(seconds=60 + rng.uniform(0, SPREAD.total_seconds())) for _ in kinds]
    started = time.monotonic()
    with psycopg.connect(url, row_factory=dict_row) as conn:
        load_orders(conn, make_user(conn, "active"), due, kinds)
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
    print(f"loaded {len(kinds):,} active orders in {time.monotonic() - started:.0f} s", flush=True)


def post_orders(
    base: str, label: str, bodies: list[dict], webhook: str | None = None, clients: int = 4
) -> tuple[int, float]:
    """Sign up an account (with a webhook endpoint at `webhook` for every event, if given) and
    create `bodies` through POST /orders/batch, 1,000 per request, `clients` at a time; (its
    user id, orders created per second)."""
    creds = {"email": f"{label}-{time.time_ns()}@example.com", "password": "bench-password"}
    status, user, _ = Api(base).call("POST", "/auth/signup", creds)
    assert status == 201, user
    token = Api(base).call("POST", "/auth/login", creds)[1]["access_token"]
    if webhook is not None:
        status, answer, _ = Api(base, token).call(
            "POST", "/webhooks", {"url": webhook, "events": EVENTS}
        )
        assert status == 201, answer
    chunks = [bodies[i : i + BATCH] for i in range(0, len(bodies), BATCH)]

    def post(chunk: list[dict]) -> None:
        status, answer, _ = Api(base, token).call("POST", "/orders/batch", {"orders": chunk})
        if status != 201:
            raise RuntimeError(f"POST /orders/batch answered {status}: {str(answer)[:300]}")

    started = time.monotonic()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(post, chunks))
    return user["user_id"], len(bodies) / (time.monotonic() - started)


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
