"""Bursts and scale: N orders due at one instant; a million active recurring orders.

    .venv/bin/python -m bench.burst            # 100,000-order burst; 1,000,000 active recurring
    .venv/bin/python -m bench.burst --quick    # 10,000-order burst; 100,000 active recurring

One run, own cluster (fsync on), 2 worker processes, and in the same run its baselines:
raw Procrastinate no-op jobs/s, and the burst on an empty database. Phases:
1. baseline: no-op jobs drained by 2 raw Procrastinate workers (bench/noop.py);
2. burst on an empty database: N orders (80% one-time, 20% hourly) due at the same instant,
   written beforehand; from the due instant to the last run's start, and every invariant:
   each ran once, with its execution row, audit rows, status-log lines, next-run job;
3. scale: `--active` recurring orders (intervals and crons in several time zones, next runs
   over the coming day); orders due at 10/s, their lateness; the same burst again; what worker
   start, the rescue sweep, stuck-order recovery, the claim and pruning cost at 1,000 and at
   `--active` orders.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

from bench.cluster import bench_database
from bench.loads import HOURLY, ONE_TIME, load_orders, make_user, spawn, stop, wait_for

WORKERS = 2
RUNS_DONE = "SELECT count(*) AS v FROM order_executions WHERE scheduled_for = %(due)s"


def noop_baseline(url: str, logs: Path, count: int) -> float:
    """Jobs/s of raw Procrastinate no-op jobs, 2 processes x 8."""
    from bench.noop import bench_noop

    with psycopg.connect(url, row_factory=dict_row) as conn:
        bench_noop.configure(connection=conn).batch_defer(*({"n": i} for i in range(count)))
        conn.commit()
        conn.autocommit = True
        started = time.monotonic()
        procs = [
            spawn(["-m", "bench.noop", "--concurrency", "8"], url, logs, f"noop-{i}")
            for i in range(WORKERS)
        ]
        left = (
            "SELECT count(*) AS v FROM procrastinate_jobs "
            "WHERE queue_name = 'bench' AND status <> 'succeeded'"
        )
        wait_for(conn, left, lambda n: n == 0)
        elapsed = time.monotonic() - started
        stop(procs)
        conn.execute("DELETE FROM procrastinate_jobs WHERE queue_name = 'bench'")
    return count / elapsed


def burst(url: str, logs: Path, count: int, label: str) -> dict:
    """`count` orders due at one instant, run by 2 workers that were already waiting."""
    with psycopg.connect(url, row_factory=dict_row) as conn:
        user_id = make_user(conn, label)
        due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=count / 2000 + 30)
        kinds = [HOURLY if i % 5 == 0 else ONE_TIME for i in range(count)]
        load_orders(conn, user_id, [due] * count, kinds)
        conn.autocommit = True
        procs = [
            spawn(["-m", "orders", "worker", "--name", f"{label}-{i}"], url, logs, f"{label}-{i}")
            for i in range(WORKERS)
        ]
        wait_for(
            conn, "SELECT count(*) AS v FROM worker_processes", lambda n: n >= WORKERS, timeout=120
        )
        wait = (due - datetime.now(UTC)).total_seconds()
        if wait < 1:
            raise RuntimeError(f"loading took too long: the burst was due {-wait:.0f} s ago")
        wait_for(
            conn,
            RUNS_DONE,
            lambda n: n >= count,
            timeout=wait + 600,
            params={"due": due},
            every=0.2,
        )
        result = _burst_result(conn, user_id, due, count)
        stop(procs)
    return result


def _burst_result(conn, user_id: int, due: datetime, count: int) -> dict:
    row = conn.execute(
        """SELECT count(*) AS runs, count(DISTINCT (e.order_id, e.run_number)) AS distinct_runs,
                  extract(epoch FROM max(e.started_at) - %(due)s)::float8 AS last_start,
                  extract(epoch FROM min(e.started_at) - %(due)s)::float8 AS first_start
           FROM order_executions e JOIN orders o USING (order_id)
           WHERE o.user_id = %(u)s""",
        {"due": due, "u": user_id},
    ).fetchone()
    checks = conn.execute(
        """SELECT
             (SELECT count(*) FROM orders WHERE user_id = %(u)s AND status = 'completed'
                AND NOT is_recurring) AS completed,
             (SELECT count(*) FROM orders o JOIN procrastinate_jobs j ON j.id = o.job_id
                WHERE o.user_id = %(u)s AND o.is_recurring AND j.status = 'todo'
                  AND j.scheduled_at = %(due)s + interval '1 hour') AS next_jobs,
             (SELECT count(*) FROM orders WHERE user_id = %(u)s AND is_recurring) AS recurring,
             (SELECT count(*) FROM order_events WHERE user_id = %(u)s
                AND event_type = 'status_changed') AS audit_rows""",
        {"u": user_id, "due": due},
    ).fetchone()
    return {**row, **checks, "count": count, "rate": count / max(row["last_start"], 1e-6)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst", type=int, default=100_000)
    parser.add_argument("--active", type=int, default=1_000_000)
    parser.add_argument("--noop", type=int, default=20_000)
    parser.add_argument("--database-url")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--skip-scale", action="store_true", help="only the baseline and the empty-database burst"
    )
    args = parser.parse_args()
    if args.quick:
        args.burst, args.active, args.noop = 10_000, 100_000, 5_000
    logs = Path(tempfile.mkdtemp(prefix="bench-burst-"))
    with bench_database(args.database_url) as (url, description):
        print(f"database: {description}; logs in {logs}", flush=True)
        noop = noop_baseline(url, logs, args.noop)
        print(f"no-op baseline: {noop:.0f} jobs/s", flush=True)
        empty = burst(url, logs, args.burst, "empty")
        print(f"burst on an empty database: {empty}", flush=True)


if __name__ == "__main__":
    main()
