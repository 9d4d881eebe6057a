"""API benchmark: POST /orders over HTTP vs the same writes in plain SQL; GET /orders at 100k rows.

    .venv/bin/python -m bench.api            # 3,000 orders, 32 clients, 100,000-row list test
    .venv/bin/python -m bench.api --quick    # smoke run

Starts its own PostgreSQL cluster (fsync on) and gunicorn unless --database-url is given.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

from bench.cluster import bench_database, free_port
from tasks.jobs.orders import execute_order


class Api:
    """A tiny JSON client; one new connection per request, as gunicorn's sync workers want."""

    def __init__(self, base: str, token: str | None = None):
        self.base, self.token = base, token

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict, float]:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data, headers, method=method)
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, payload = response.status, json.load(response)
        except urllib.error.HTTPError as exc:
            status, payload = exc.code, json.load(exc)
        return status, payload, time.perf_counter() - started


def start_gunicorn(
    url: str, port: int, workers: int, logs: Path, **settings: str
) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "ORDERS_ENV": "test",
        "DB_POOL_MAX": "8",
        "ORDERS_LOG_FILE": str(logs / "orders.log"),
        **settings,
    }
    argv = [
        sys.executable,
        "-m",
        "orders",
        "api",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
    ]  # the real entry point: gunicorn, gthread workers
    out = open(logs / "gunicorn.log", "ab")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
    wait_up(f"http://127.0.0.1:{port}/openapi.json", proc)
    return proc


def wait_up(url: str, proc: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("gunicorn did not come up")


def sign_up(base: str, index: int) -> tuple[int, str]:
    creds = {"email": f"bench{index}@example.com", "password": "bench-password"}
    status, user, _ = Api(base).call("POST", "/auth/signup", creds)
    assert status == 201, user
    return user["user_id"], Api(base).call("POST", "/auth/login", creds)[1]["access_token"]


def order_body(i: int) -> dict:
    body = {
        "order_name": f"bench {i}",
        "schedule_time": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
    }
    if i % 4 == 0:
        body |= {
            "is_recurring": True,
            "repeat_interval": 1,
            "repeat_unit": "hours",
            "max_executions": 3,
        }
    return body


def http_creates(base: str, tokens: list[str], count: int) -> tuple[float, list[float], dict]:
    """Each client posts its share of `count` orders; returns (seconds, latencies, errors)."""

    def client(token: str) -> list[tuple[int, float]]:
        api = Api(base, token)
        return [
            api.call("POST", "/orders", order_body(i))[::2] for i in range(count // len(tokens))
        ]

    started = time.perf_counter()
    with ThreadPoolExecutor(len(tokens)) as pool:
        results = [r for rs in pool.map(client, tokens) for r in rs]
    elapsed = time.perf_counter() - started
    errors: dict[int, int] = {}
    for status, _ in results:
        if status != 201:
            errors[status] = errors.get(status, 0) + 1
    return elapsed, [latency for _, latency in results], errors


RAW_INSERT = """
INSERT INTO orders (order_id, user_id, order_name, payload, schedule_time, is_recurring,
                    repeat_interval, repeat_unit, max_executions, next_run_at, job_id)
VALUES (%(order_id)s, %(user_id)s, %(order_name)s, '{}', %(at)s, %(rec)s, %(interval)s,
        %(unit)s, %(max)s, %(at)s, %(job_id)s)
"""


def raw_creates(url: str, user_ids: list[int], count: int) -> float:
    """The same rows (order + job + audit by trigger), one transaction each, no HTTP."""

    def writer(user_id: int) -> None:
        with psycopg.connect(url, row_factory=dict_row) as conn:
            for i in range(count // len(user_ids)):
                raw_create(conn, user_id, order_body(i))

    started = time.perf_counter()
    with ThreadPoolExecutor(len(user_ids)) as pool:
        list(pool.map(writer, user_ids))
    return time.perf_counter() - started


def raw_create(conn, user_id: int, body: dict) -> None:
    with conn.transaction():
        order_id = conn.execute(
            "SELECT nextval(pg_get_serial_sequence('orders', 'order_id')) AS id"
        ).fetchone()["id"]
        at = datetime.fromisoformat(body["schedule_time"])
        job_id = execute_order.configure(
            connection=conn, schedule_at=at, queueing_lock=f"order:{order_id}"
        ).defer(order_id=order_id)
        conn.execute(
            RAW_INSERT,
            {
                "order_id": order_id,
                "user_id": user_id,
                "order_name": body["order_name"],
                "at": at,
                "rec": body.get("is_recurring", False),
                "interval": body.get("repeat_interval"),
                "unit": body.get("repeat_unit"),
                "max": body.get("max_executions"),
                "job_id": job_id,
            },
        )


BULK = """
INSERT INTO orders (user_id, order_name, schedule_time, next_run_at, is_recurring,
                    repeat_interval, repeat_unit, max_executions, status)
SELECT CASE WHEN g %% 5 = 0 THEN %(heavy)s ELSE (%(users)s::bigint[])[1 + g %% %(n)s] END,
       'bulk ' || g, now() + interval '1 day', now() + interval '1 day', g %% 3 = 0,
       CASE WHEN g %% 3 = 0 THEN 1 END, CASE WHEN g %% 3 = 0 THEN 'hours'::repeat_unit END,
       CASE WHEN g %% 3 = 0 THEN 5 END,
       (ARRAY['scheduled','completed','cancelled']::order_status[])[1 + g %% 3]
FROM generate_series(1, %(rows)s) AS g
"""


def bulk_load(url: str, user_ids: list[int], rows: int) -> int:
    """Top the table up to `rows` orders; a fifth of them belong to the user we query."""
    with psycopg.connect(url, autocommit=True) as conn:
        have = conn.execute("SELECT count(*) FROM orders").fetchone()[0]
        conn.execute(
            "ALTER TABLE orders DISABLE TRIGGER orders_audit_inserted"
        )  # loading, not auditing
        conn.execute(
            BULK,
            {
                "heavy": user_ids[0],
                "users": user_ids,
                "n": len(user_ids),
                "rows": max(rows - have, 0),
            },
        )
        conn.execute("ALTER TABLE orders ENABLE TRIGGER orders_audit_inserted")
        conn.execute("ANALYZE orders")
        return conn.execute(
            "SELECT count(*) FROM orders WHERE user_id = %s", (user_ids[0],)
        ).fetchone()[0]


def list_latencies(base: str, token: str, requests: int, clients: int) -> list[float]:
    """First pages, follow-up pages and filtered pages of GET /orders."""
    paths = [
        "/orders?limit=50",
        "/orders?limit=50&status=scheduled",
        "/orders?limit=50&is_recurring=true",
        "/orders?limit=50&status=cancelled",
    ]

    def client(n: int) -> list[float]:
        api, out, cursor = Api(base, token), [], None
        for i in range(n):
            path = paths[i % len(paths)]
            if cursor and i % 2:
                path = f"/orders?limit=50&cursor={cursor}"
            status, page, latency = api.call("GET", path)
            assert status == 200, page
            cursor, out = page["next_cursor"], [*out, latency]
        return out

    with ThreadPoolExecutor(clients) as pool:
        return [x for xs in pool.map(client, [requests // clients] * clients) for x in xs]


def ms(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--gunicorn-workers", type=int, default=4)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--database-url")
    parser.add_argument("--quick", action="store_true", help="500 orders, 20,000 rows")
    args = parser.parse_args()
    if args.quick:
        args.orders, args.rows = 500, 20_000
    logs = Path(tempfile.mkdtemp(prefix="bench-api-"))
    with bench_database(args.database_url) as (url, description):
        print(f"database: {description}; logs in {logs}", flush=True)
        port = free_port()
        server = start_gunicorn(url, port, args.gunicorn_workers, logs)
        try:
            run(args, url, f"http://127.0.0.1:{port}")
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)


def run(args, url: str, base: str) -> None:
    users = [sign_up(base, i) for i in range(args.clients)]
    user_ids, tokens = [u for u, _ in users], [t for _, t in users]
    http_s, latencies, errors = http_creates(base, tokens, args.orders)
    raw_s = raw_creates(url, user_ids, args.orders)
    mine = bulk_load(url, user_ids, args.rows)
    reads = list_latencies(base, tokens[0], 500, 4)
    n = len(latencies)
    print(f"\n{'measure':<46} value")
    print(
        f"{f'HTTP POST /orders ({args.clients} clients)':<46} {n / http_s:7.0f} orders/s   "
        f"p50 {ms(latencies, 50):.0f} ms  p95 {ms(latencies, 95):.0f} ms  "
        f"p99 {ms(latencies, 99):.0f} ms"
    )
    print(f"{f'raw SQL, same writes ({args.clients} connections)':<46} {n / raw_s:7.0f} orders/s")
    print(f"{'ratio HTTP / raw':<46} {raw_s / http_s:7.2f}")
    print(f"{'non-201 answers':<46} {errors or 0}")
    print(
        f"{f'GET /orders, {args.rows:,} rows ({mine:,} mine), 500 req':<46} "
        f"p50 {ms(reads, 50):.1f} ms  p95 {ms(reads, 95):.1f} ms  p99 {ms(reads, 99):.1f} ms"
    )


if __name__ == "__main__":
    main()
