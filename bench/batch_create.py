"""Batch creation: POST /orders/batch over HTTP vs the same rows written in raw SQL, same run.

    .venv/bin/python -m bench.batch_create            # 100,000 orders in batches of 1,000
    .venv/bin/python -m bench.batch_create --quick    # 8,000 orders

Baseline: the same orders (rows, jobs through procrastinate_defer_jobs_v1, audit rows by
trigger) written by plain SQL, one transaction per batch, the same number of connections as
HTTP clients. Rounds alternate HTTP and SQL so both see the same table sizes and noise. For
context, POST /orders one order per request. Starts its own PostgreSQL cluster (fsync on).
"""

from __future__ import annotations

import argparse
import signal
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

from bench.api import Api, http_creates, order_body, sign_up, start_gunicorn
from bench.cluster import bench_database, free_port

RESERVE = "SELECT nextval(pg_get_serial_sequence('orders', 'order_id')) FROM generate_series(1, %s)"
DEFER = """
SELECT unnest(procrastinate_defer_jobs_v1(ARRAY(
    SELECT ROW('orders', 'execute_order', 0, NULL, 'order:' || t.id,
               jsonb_build_object('order_id', t.id), t.at)::procrastinate_job_to_defer_v1
    FROM unnest(%(ids)s::bigint[], %(at)s::timestamptz[]) WITH ORDINALITY AS t(id, at, n)
    ORDER BY t.n)))
"""
INSERT = """
INSERT INTO orders (order_id, user_id, order_name, schedule_time, is_recurring, repeat_interval,
                    repeat_unit, max_executions, next_run_at, job_id)
SELECT t.id, %(user_id)s, t.name, t.at, t.rec, t.every, t.unit::repeat_unit, t.max, t.at, t.job
FROM unnest(%(ids)s::bigint[], %(names)s::text[], %(at)s::timestamptz[], %(rec)s::boolean[],
            %(every)s::integer[], %(unit)s::text[], %(max)s::integer[], %(jobs)s::bigint[])
     AS t(id, name, at, rec, every, unit, max, job)
"""


def batch_bodies(size: int) -> list[dict]:
    """A batch like bench.api's orders: a quarter recurring hourly, three runs."""
    return [order_body(i) for i in range(size)]


def http_batches(base: str, tokens: list[str], batches: int, size: int) -> tuple[float, list]:
    """Each client posts its share of `batches` batches; (seconds, [(status, latency)])."""

    def client(token: str) -> list[tuple[int, float]]:
        api = Api(base, token)
        return [_post(api, size) for _ in range(batches // len(tokens))]

    started = time.perf_counter()
    with ThreadPoolExecutor(len(tokens)) as pool:
        results = [r for rs in pool.map(client, tokens) for r in rs]
    return time.perf_counter() - started, results


def _post(api: Api, size: int) -> tuple[int, float]:
    status, answer, latency = api.call("POST", "/orders/batch", {"orders": batch_bodies(size)})
    if status != 201:
        print(f"  unexpected {status}: {str(answer)[:200]}", flush=True)
    return status, latency


def raw_batches(url: str, user_ids: list[int], batches: int, size: int) -> float:
    """The same batches in plain SQL: reserve ids, defer jobs, insert orders; one transaction."""

    def writer(user_id: int) -> None:
        with psycopg.connect(url, row_factory=dict_row) as conn:
            for _ in range(batches // len(user_ids)):
                raw_batch(conn, user_id, batch_bodies(size))

    started = time.perf_counter()
    with ThreadPoolExecutor(len(user_ids)) as pool:
        list(pool.map(writer, user_ids))
    return time.perf_counter() - started


def raw_batch(conn, user_id: int, bodies: list[dict]) -> None:
    with conn.transaction():
        ids = [r["nextval"] for r in conn.execute(RESERVE, (len(bodies),))]
        at = [datetime.fromisoformat(b["schedule_time"]) for b in bodies]
        jobs = [r["unnest"] for r in conn.execute(DEFER, {"ids": ids, "at": at})]
        columns = {
            "names": [b["order_name"] for b in bodies],
            "rec": [b.get("is_recurring", False) for b in bodies],
            "every": [b.get("repeat_interval") for b in bodies],
            "unit": [b.get("repeat_unit") for b in bodies],
            "max": [b.get("max_executions") for b in bodies],
        }
        conn.execute(INSERT, columns | {"user_id": user_id, "ids": ids, "at": at, "jobs": jobs})


def check_rows(url: str) -> str:
    """Every order has its own waiting job, at its first run, with its queueing lock."""
    with psycopg.connect(url) as conn:
        orders, matched = conn.execute(
            "SELECT count(*), count(j.id) FILTER (WHERE j.status = 'todo' "
            "AND j.queueing_lock = 'order:' || o.order_id AND j.scheduled_at = o.next_run_at "
            "AND (j.args->>'order_id')::bigint = o.order_id) "
            "FROM orders o LEFT JOIN procrastinate_jobs j ON j.id = o.job_id"
        ).fetchone()
        events = conn.execute("SELECT count(*) FROM order_events").fetchone()[0]
    return f"{orders:,} orders, {matched:,} with their job, {events:,} audit rows"


def ms(values: list[float], q: int) -> float:
    """The q-th percentile in ms, within the samples' range (few samples: one per batch)."""
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--single", type=int, default=2000, help="orders via POST /orders")
    parser.add_argument("--gunicorn-workers", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="8,000 orders, 500 single")
    args = parser.parse_args()
    if args.quick:
        args.orders, args.single, args.rounds = 8_000, 500, 2
    logs = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    with bench_database() as (url, description):
        print(f"database: {description}; logs in {logs}", flush=True)
        port = free_port()
        env = {"ORDERS_BATCH_MAX_ORDERS": str(max(args.batch, 1000))}
        server = start_gunicorn(url, port, args.gunicorn_workers, logs, **env)
        try:
            run(args, url, f"http://127.0.0.1:{port}")
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)


def run(args, url: str, base: str) -> None:
    users = [sign_up(base, i) for i in range(max(args.clients, 8))]
    user_ids, tokens = [u for u, _ in users], [t for _, t in users]
    per_round = args.orders // args.batch // args.rounds // args.clients * args.clients
    http_s = raw_s = 0.0
    answers: list[tuple[int, float]] = []
    for r in range(args.rounds):
        seconds, results = http_batches(base, tokens[: args.clients], per_round, args.batch)
        http_s, answers = http_s + seconds, answers + results
        raw_s += raw_batches(url, user_ids[: args.clients], per_round, args.batch)
        print(f"round {r + 1}/{args.rounds}: {per_round} batches each way", flush=True)
    single_s, single_lat, single_errors = http_creates(base, tokens[:8], args.single)
    report(args, per_round * args.rounds * args.batch, (http_s, raw_s, answers))
    single = len(single_lat) / single_s
    print(f"{'HTTP POST /orders, one per request (8 clients)':<50} {single:8.0f} orders/s")
    print(f"{'batch / single':<50} {per_round * args.rounds * args.batch / http_s / single:8.1f}x")
    print(f"{'non-201 single answers':<50} {single_errors or 0}")
    print(f"{'rows':<50} {check_rows(url)}")


def report(args, orders: int, figures: tuple) -> None:
    http_s, raw_s, answers = figures
    latencies = [latency for _, latency in answers]
    bad = sum(1 for status, _ in answers if status != 201)
    print(f"\n{'measure':<50} value")
    label = f"HTTP POST /orders/batch ({args.batch}/request, {args.clients} clients)"
    print(
        f"{label:<50} {orders / http_s:8.0f} orders/s   per request p50 {ms(latencies, 50):.0f} "
        f"ms  p95 {ms(latencies, 95):.0f} ms  max {max(latencies) * 1000:.0f} ms"
    )
    label = f"raw SQL, same batches ({args.clients} connections)"
    print(f"{label:<50} {orders / raw_s:8.0f} orders/s")
    print(f"{'ratio HTTP / raw SQL':<50} {raw_s / http_s:8.2f}")
    print(f"{'non-201 batch answers':<50} {bad}")
    print(f"{'orders each way':<50} {orders:,}")


if __name__ == "__main__":
    main()
