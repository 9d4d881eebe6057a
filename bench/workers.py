"""Worker benchmark: executions/s vs raw Procrastinate no-op jobs, lateness, SIGKILL recovery.

    .venv/bin/python -m bench.workers            # full run (20,000 orders)
    .venv/bin/python -m bench.workers --quick    # smoke run

Starts its own PostgreSQL cluster (normal durability) unless --database-url is given.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

from bench.cluster import bench_database
from bench.loads import make_user, spawn, stop, wait_for
from tasks.jobs.orders import execute_order


def load_due_orders(conn, count: int, due: datetime) -> None:
    """`count` one-time orders due at `due`, each with its job, written the way the API does."""
    user_id = make_user(conn)
    ids = [
        r["id"]
        for r in conn.execute(
            "SELECT nextval(pg_get_serial_sequence('orders', 'order_id')) AS id "
            "FROM generate_series(1, %s)",
            (count,),
        )
    ]
    job_ids = execute_order.configure(connection=conn, schedule_at=due).batch_defer(
        *({"order_id": i} for i in ids)
    )
    conn.execute(
        """INSERT INTO orders (order_id, user_id, order_name, schedule_time, next_run_at,
                    job_id) SELECT o, %(u)s, 'bench', %(due)s, %(due)s, j
                    FROM unnest(%(ids)s::bigint[], %(jobs)s::bigint[]) AS t(o, j)""",
        {"u": user_id, "due": due, "ids": ids, "jobs": job_ids},
    )


def load_noop_jobs(conn, count: int) -> None:
    from bench.noop import bench_noop

    bench_noop.configure(connection=conn).batch_defer(*({"n": i} for i in range(count)))


def time_drain(url: str, logs: Path, argv: list[str], processes: int, query: str) -> float:
    """Start `processes` workers and return the seconds until `query` reports 0 left."""
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        started = time.monotonic()
        procs = [spawn(argv, url, logs, f"drain-{i}") for i in range(processes)]
        wait_for(conn, query, lambda left: left == 0)
        elapsed = time.monotonic() - started
    stop(procs)
    return elapsed


NOOP_LEFT = (
    "SELECT count(*) AS v FROM procrastinate_jobs WHERE queue_name = 'bench' "
    "AND status <> 'succeeded'"
)
ORDERS_LEFT = "SELECT count(*) AS v FROM orders WHERE status <> 'completed'"


def throughput(url: str, logs: Path, count: int, processes: int, concurrency: int) -> dict:
    """Jobs/s of raw no-op jobs and of due orders, drained by the same number of processes."""
    with psycopg.connect(url, row_factory=dict_row) as conn:
        load_noop_jobs(conn, count)
        conn.commit()
    noop = time_drain(
        url, logs, ["-m", "bench.noop", "--concurrency", str(concurrency)], processes, NOOP_LEFT
    )
    with psycopg.connect(url, row_factory=dict_row) as conn:
        conn.execute("DELETE FROM orders")
        load_due_orders(conn, count, datetime.now(UTC))
        conn.commit()
    argv = ["-m", "orders", "worker", "--queues", "orders", "--concurrency", str(concurrency)]
    orders = time_drain(url, logs, argv, processes, ORDERS_LEFT)
    return {"noop": count / noop, "orders": count / orders}


def lateness(url: str, logs: Path, seconds: float, rate: float) -> list[float]:
    """Orders due at random times over `seconds` at `rate`/s, one worker: start - due, in s."""
    with psycopg.connect(url, row_factory=dict_row) as conn:
        conn.execute("DELETE FROM orders")
        worker = spawn(["-m", "orders", "worker", "--concurrency", "8"], url, logs, "late")
        time.sleep(2)
        start, count = datetime.now(UTC) + timedelta(seconds=2), int(seconds * rate)
        rng = random.Random(1)
        for _ in range(count):
            due = start + timedelta(seconds=rng.uniform(0, seconds))
            load_due_orders(conn, 1, due)
            conn.commit()
        conn.autocommit = True
        wait_for(conn, ORDERS_LEFT, lambda left: left == 0, timeout=seconds + 60)
        rows = conn.execute(
            "SELECT extract(epoch FROM started_at - scheduled_for)::float8 AS d "
            "FROM order_executions"
        ).fetchall()
    stop([worker])
    return [r["d"] for r in rows]


def sigkill_recovery(url: str, logs: Path) -> float:
    """Seconds from SIGKILL of the worker running an order to its execution by another."""
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        conn.execute("DELETE FROM orders")
        with slow_first_run(conn):
            victim = spawn(["-m", "orders", "worker"], url, logs, "victim")
            with conn.transaction():
                load_due_orders(conn, 1, datetime.now(UTC))
            wait_for(  # the run is inside its transaction, sleeping in the trigger
                conn,
                "SELECT count(*) AS v FROM pg_stat_activity WHERE wait_event = 'PgSleep'",
                lambda n: n == 1,
                timeout=30,
            )
            victim.kill()
            killed = time.monotonic()
        rescuer = spawn(["-m", "orders", "worker"], url, logs, "rescuer")
        wait_for(conn, ORDERS_LEFT, lambda left: left == 0, timeout=120)
        elapsed = time.monotonic() - killed
    stop([rescuer])
    victim.wait()
    return elapsed


@contextmanager
def slow_first_run(conn):
    """Make runs hang inside their transaction while the block is open (to kill mid-run)."""
    conn.execute(
        "CREATE FUNCTION bench_slow() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN PERFORM pg_sleep(30); RETURN NEW; END $$"
    )
    conn.execute(
        "CREATE TRIGGER bench_slow BEFORE INSERT ON order_executions "
        "FOR EACH ROW EXECUTE FUNCTION bench_slow()"
    )
    try:
        yield
    finally:
        conn.execute("DROP TRIGGER bench_slow ON order_executions")
        conn.execute("DROP FUNCTION bench_slow()")


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--lateness-seconds", type=float, default=30)
    parser.add_argument("--lateness-rate", type=float, default=5, help="orders due per second")
    parser.add_argument("--database-url")
    parser.add_argument("--quick", action="store_true", help="2,000 orders, 10 s of lateness")
    args = parser.parse_args()
    if args.quick:
        args.orders, args.lateness_seconds = 2_000, 10
    logs = Path(tempfile.mkdtemp(prefix="bench-workers-"))
    with bench_database(args.database_url) as (url, description):
        print(f"database: {description}; logs in {logs}", flush=True)
        rows = [run_throughput(url, logs, args, n) for n in (1, 2)]
        late = lateness(url, logs, args.lateness_seconds, args.lateness_rate)
        recovery = sigkill_recovery(url, logs)
    print_table(args, rows, late, recovery)


def run_throughput(url: str, logs: Path, args, processes: int) -> tuple[int, dict]:
    print(f"throughput with {processes} worker process(es)...", flush=True)
    return processes, throughput(url, logs, args.orders, processes, args.concurrency)


def print_table(args, rows, late: list[float], recovery: float) -> None:
    print(f"\n{'measure':<52} value")
    for processes, r in rows:
        label = f"{args.orders:,} due jobs, {processes} process(es) x {args.concurrency}"
        print(f"{'raw no-op jobs/s, ' + label:<52} {r['noop']:8.0f}")
        print(f"{'order executions/s, ' + label:<52} {r['orders']:8.0f}")
        print(f"{'ratio orders / no-op':<52} {r['orders'] / r['noop']:8.2f}")
    ms = [d * 1000 for d in late]
    print(
        f"{f'lateness, {len(ms)} orders at {args.lateness_rate}/s (ms)':<52} "
        f"p50 {pct(ms, 50):.0f}  p95 {pct(ms, 95):.0f}  p99 {pct(ms, 99):.0f}  max {max(ms):.0f}"
    )
    print(f"{'SIGKILL of running worker -> order executed (s)':<52} {recovery:8.1f}")


if __name__ == "__main__":
    main()
