"""Bursts and scale: N orders due at one instant; a million active recurring orders; fairness.

    .venv/bin/python -m bench.burst            # 100,000-order bursts; 1,000,000 active recurring
    .venv/bin/python -m bench.burst --quick    # 10,000-order bursts; 100,000 active recurring

One run, its own cluster (fsync on), 2 worker processes, with its baselines in the same run:
raw Procrastinate no-op jobs/s, the burst on an empty database, and the periodic statements'
cost at 1,000 active orders. Burst orders (80% one-time, 20% recurring) are created beforehand
through the product's own write path, POST /orders/batch over HTTP; the million background
orders (intervals and crons in several time zones, next runs spread over the next 6 hours) are
bulk-loaded in SQL the same shape (order row, audit trigger, Procrastinate job). Then the
fair-share burst (bench/fairness.py): a big account's burst with a small and a vip account's
orders due at the same instant, fair share on and off.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

from bench import costs
from bench.api import start_gunicorn
from bench.cluster import bench_database, free_port
from bench.fairness import fair_burst, print_fairness
from bench.loads import load_active, post_orders, spawn, stop, wait_for
from bench.report import print_report
from orders.database.migrate import migrate

WORKERS = 2
WEBHOOK_BURST = 10_000  # deliveries run at a few hundred per second: keep the wait bounded
BENCH_ENV = {"ORDERS_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true"}  # the receiver is on loopback
EVERY_12_HOURS = {"is_recurring": True, "repeat_interval": 12, "repeat_unit": "hours"}


def noop_baseline(url: str, logs: Path, count: int) -> float:
    """Jobs/s of raw Procrastinate no-op jobs, 2 processes x 8."""
    from bench.noop import bench_noop

    with psycopg.connect(url, row_factory=dict_row) as conn:
        bench_noop.configure(connection=conn).batch_defer(*({"n": i} for i in range(count)))
        conn.commit()
        conn.autocommit = True
        started = time.monotonic()
        argv = ["-m", "bench.noop", "--concurrency", "8"]
        procs = [spawn(argv, url, logs, f"noop-{i}") for i in range(WORKERS)]
        left = (
            "SELECT count(*) AS v FROM procrastinate_jobs "
            "WHERE queue_name = 'bench' AND status <> 'succeeded'"
        )
        wait_for(conn, left, lambda n: n == 0)
        elapsed = time.monotonic() - started
        stop(procs)
        conn.execute("DELETE FROM procrastinate_jobs WHERE queue_name = 'bench'")
    return count / elapsed


def burst(url: str, logs: Path, count: int, label: str, webhook: str | None = None) -> dict:
    """`count` orders due at one instant, run by 2 workers that were already waiting (their
    owner with a webhook endpoint for every event at `webhook`, if given)."""
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=count / 2500 + 30)
    bodies = [
        {"order_name": f"{label} {i}", "schedule_time": due.isoformat()}
        | (EVERY_12_HOURS if i % 5 == 0 else {})
        for i in range(count)
    ]
    user_id, created = _create(url, logs, label, bodies, webhook)
    procs = [_worker(url, logs, f"{label}-{i}") for i in range(WORKERS)]
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        wait_for(conn, "SELECT count(*) AS v FROM worker_processes", lambda n: n >= WORKERS)
        if (wait := (due - datetime.now(UTC)).total_seconds()) < 1:
            raise RuntimeError(f"creating took too long: the burst was due {-wait:.0f} s ago")
        done = "SELECT count(*) AS v FROM order_executions WHERE scheduled_for = %(due)s"
        wait_for(conn, done, lambda n: n >= count, wait + 900, {"due": due}, every=0.2)
        result = _burst_result(conn, user_id, due) | {"count": count, "create_rate": created}
        result["log_lag"] = _log_catches_up(conn, logs / "orders.log", user_id)
        if webhook is not None:
            result |= _deliveries(conn, user_id, due)
    stop(procs)
    result["rate"] = count / max(result["last_start"], 1e-6)
    return result


def _create(
    url: str, logs: Path, label: str, bodies: list[dict], webhook: str | None = None
) -> tuple[int, float]:
    """Create the orders through POST /orders/batch (gunicorn); (user id, orders/s)."""
    port = free_port()
    api = start_gunicorn(url, port, 2, logs, **BENCH_ENV)
    try:
        return post_orders(f"http://127.0.0.1:{port}", label, bodies, webhook)
    finally:
        stop([api])


def _worker(url: str, logs: Path, name: str):
    return spawn(["-m", "orders", "worker", "--name", name], url, logs, name, **BENCH_ENV)


DELIVERIES = """
SELECT count(*) AS v, count(*) FILTER (WHERE d.status = 'delivered') AS delivered,
       extract(epoch FROM max(d.delivered_at) - %(due)s)::float8 AS last
FROM webhook_deliveries d JOIN webhook_events e USING (event_id)
WHERE e.user_id = %(u)s
"""


def _deliveries(conn, user_id: int, due: datetime) -> dict:
    """Webhook deliveries the burst's runs wrote, and when the last one was delivered."""
    params = {"due": due, "u": user_id}
    total = conn.execute(DELIVERIES, params).fetchone()["v"]
    deadline = time.monotonic() + 900
    while (row := conn.execute(DELIVERIES, params).fetchone())["delivered"] < total:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{row['delivered']} of {total} webhooks delivered after 900 s")
        time.sleep(0.5)
    return {"webhooks": total, "webhooks_last": row["last"]}


def _burst_result(conn, user_id: int, due: datetime) -> dict:
    params = {"due": due, "u": user_id}
    row = conn.execute(
        """SELECT count(*) AS runs, count(DISTINCT (e.order_id, e.run_number)) AS distinct_runs,
                  extract(epoch FROM max(e.started_at) - %(due)s)::float8 AS last_start,
                  extract(epoch FROM min(e.started_at) - %(due)s)::float8 AS first_start
           FROM order_executions e JOIN orders o USING (order_id)
           WHERE o.user_id = %(u)s AND e.scheduled_for = %(due)s""",
        params,
    ).fetchone()
    checks = conn.execute(
        """SELECT
             (SELECT count(*) FROM orders WHERE user_id = %(u)s AND NOT is_recurring
                AND status = 'completed') AS one_time_completed,
             (SELECT count(*) FROM orders WHERE user_id = %(u)s AND NOT is_recurring) AS one_time,
             (SELECT count(*) FROM orders o JOIN procrastinate_jobs j ON j.id = o.job_id
                WHERE o.user_id = %(u)s AND o.is_recurring AND o.status = 'scheduled'
                  AND j.status = 'todo' AND j.scheduled_at = %(due)s + interval '12 hours')
                AS next_jobs,
             (SELECT count(*) FROM orders WHERE user_id = %(u)s AND is_recurring) AS recurring,
             (SELECT count(*) FROM order_events WHERE user_id = %(u)s
                AND event_type = 'status_changed') AS audit_status_rows""",
        params,
    ).fetchone()
    return {**row, **checks}


def _log_catches_up(conn, path: Path, user_id: int) -> float:
    """Seconds until the status log holds exactly one line per status event of the user."""
    started = time.monotonic()
    expected = conn.execute(
        "SELECT count(*) AS n FROM order_events WHERE user_id = %s "
        "AND event_type IN ('created', 'status_changed')",
        (user_id,),
    ).fetchone()["n"]
    while (lines := _log_lines(path, user_id)) < expected:
        if time.monotonic() - started > 600:
            raise RuntimeError(f"status log has {lines} of {expected} lines after 600 s")
        time.sleep(0.5)
    if lines != expected:
        raise RuntimeError(f"status log has {lines} lines for {expected} events")
    return time.monotonic() - started


def _log_lines(path: Path, user_id: int) -> int:
    if not path.exists():
        return 0
    with open(path, encoding="utf-8") as file:
        return sum(1 for line in file if json.loads(line)["user_id"] == user_id)


def lateness(url: str, logs: Path, seconds: float, rate: float) -> list[float]:
    """One-time orders due at `rate`/s for `seconds`: how late each run started (ms)."""
    start = datetime.now(UTC) + timedelta(seconds=30)
    count = int(seconds * rate)
    bodies = [
        {
            "order_name": f"late {i}",
            "schedule_time": (start + timedelta(seconds=i / rate)).isoformat(),
        }
        for i in range(count)
    ]
    user_id, _ = _create(url, logs, "late", bodies)
    procs = [_worker(url, logs, f"late-{i}") for i in range(WORKERS)]
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        done = (
            "SELECT count(*) AS v FROM order_executions e JOIN orders o USING (order_id) "
            "WHERE o.user_id = %(u)s"
        )
        wait_for(conn, done, lambda n: n >= count, seconds + 120, {"u": user_id}, every=0.5)
        rows = conn.execute(
            "SELECT extract(epoch FROM e.started_at - e.scheduled_for)::float8 * 1000 AS ms "
            "FROM order_executions e JOIN orders o USING (order_id) WHERE o.user_id = %s",
            (user_id,),
        ).fetchall()
    stop(procs)
    return [r["ms"] for r in rows]


def _webhook_burst(url: str, logs: Path, count: int) -> dict:
    """The same burst again, its owner with a webhook endpoint (a local receiver) for every
    event: each run writes its events (and deliveries) in its own transaction."""
    port = free_port()
    receiver = spawn(["-m", "bench.receiver", str(port)], url, logs, "receiver")
    try:
        return burst(url, logs, count, "webhooks", f"http://127.0.0.1:{port}/hook")
    finally:
        stop([receiver])


def small_database(url: str, logs: Path, active: int) -> dict:
    """The periodic statements' cost with few active orders, in another database."""
    small = url.rsplit("/", 1)[0] + "/orders_small"
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute("CREATE DATABASE orders_small")
    migrate(small)
    load_active(small, active)
    return {
        "sql": costs.time_statements(small),
        "start_stop": costs.worker_start_stop(small, logs, "small"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst", type=int, default=100_000)
    parser.add_argument("--active", type=int, default=1_000_000)
    parser.add_argument("--noop", type=int, default=20_000)
    parser.add_argument("--lateness-seconds", type=float, default=60)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--webhooks",
        action="store_true",
        help="a last burst with a webhook endpoint on every order",
    )
    args = parser.parse_args()
    if args.quick:
        args.burst, args.active, args.noop, args.lateness_seconds = 10_000, 100_000, 5_000, 20
    logs = Path(tempfile.mkdtemp(prefix="bench-burst-"))
    with bench_database() as (url, description):
        print(f"database: {description}; logs in {logs}", flush=True)
        report = {"args": vars(args), "noop": noop_baseline(url, logs, args.noop)}
        report["small"] = small_database(url, logs, 1_000)
        report["empty"] = burst(url, logs, args.burst, "empty")
        print(f"empty-database burst: {report['empty']}", flush=True)
        report["fair"] = fair_burst(url, logs, args.burst, fair=True)
        report["unfair"] = fair_burst(url, logs, args.burst, fair=False)
        print(f"fair share: {report['fair']} / off: {report['unfair']}", flush=True)
        load_active(url, args.active)
        report["large"] = {
            "sql": costs.time_statements(url),
            "start_stop": costs.worker_start_stop(url, logs, "large"),
        }
        report["lateness"] = lateness(url, logs, args.lateness_seconds, 10)
        report["scale"] = burst(url, logs, args.burst, "scale")
        if args.webhooks:
            report["webhooks"] = _webhook_burst(url, logs, min(args.burst, WEBHOOK_BURST))
    print_report(report)
    print_fairness(report["fair"], report["unfair"], report["empty"]["rate"])
    print(f"\nraw figures: {logs / 'report.json'}")
    (logs / "report.json").write_text(json.dumps(report, default=str, indent=1))


if __name__ == "__main__":
    main()
