"""Upcoming-runs benchmark: the table's upkeep costs what enters the horizon, not the orders held.

    .venv/bin/python -m bench.upcoming            # 1,000,000 active orders against 10,000
    .venv/bin/python -m bench.upcoming --quick    # 100,000 against 10,000

One fresh cluster (fsync on), two databases loaded by SQL (not the API): the baseline with
10,000 active orders, the other with --orders. The mix: 70 % one-time orders spread over the
next 7 days, 20 % daily crons at a random local time in one of five time zones, 10 % hourly
intervals. Measured on each: the full initial expansion, a catch-up pass 6 hours later (orders
are written a quarter horizon ahead, so the steady state starts there), then one upkeep pass
per simulated minute (the clock is passed in), the operator's per-minute view and the customer
endpoint's query; and, as the baseline of the same run, a plain INSERT of as many rows as a
pass wrote.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg.rows import dict_row

from bench.cluster import bench_database
from orders.database import Q
from orders.database.migrate import migrate
from orders.scheduling.upcoming.store import SLACK
from orders.scheduling.upcoming.upkeep import Pass, upkeep

HOURS = 24
USERS = 1000
FILL = [
    """INSERT INTO users (email, password_hash)
       SELECT 'user' || g || '@example.com', 'x' FROM generate_series(1, %(users)s) g""",
    # 70 %: one-time, due within 7 days.
    """INSERT INTO orders (user_id, order_name, schedule_time, next_run_at)
       SELECT 1 + g %% %(users)s, 'once', t, t
       FROM generate_series(1, %(orders)s * 7 / 10) g,
            LATERAL (SELECT %(now)s + random() * interval '7 days' + g * interval '0') x(t)""",
    # 20 %: every day at a random local time, in one of five time zones.
    """INSERT INTO orders (user_id, order_name, schedule_time, next_run_at, is_recurring, cron,
                           timezone)
       SELECT 1 + g %% %(users)s, 'daily', n, n, true, m || ' ' || h || ' * * *', tz
       FROM generate_series(1, %(orders)s * 2 / 10) g,
            LATERAL (SELECT ((g::bigint * 7919) %% 60)::int AS m,
                            ((g::bigint * 104729) %% 24)::int AS h,
                            (ARRAY['Europe/Paris', 'America/New_York', 'Asia/Tokyo', 'UTC',
                                   'Australia/Sydney'])[1 + g %% 5] AS tz) c,
            LATERAL (SELECT (date_trunc('day', %(now)s AT TIME ZONE c.tz)
                             + make_interval(hours => c.h, mins => c.m)) AT TIME ZONE c.tz AS d) x,
            LATERAL (SELECT CASE WHEN x.d > %(now)s THEN x.d
                                 ELSE x.d + interval '1 day' END AS n) y""",
    # 10 %: every hour.
    """INSERT INTO orders (user_id, order_name, schedule_time, next_run_at, is_recurring,
                           repeat_interval, repeat_unit)
       SELECT 1 + g %% %(users)s, 'hourly', t, t, true, 1, 'hours'
       FROM generate_series(1, %(orders)s / 10) g,
            LATERAL (SELECT %(now)s + random() * interval '1 hour' + g * interval '0') x(t)""",
]


def fill(url: str, orders: int, now: datetime) -> float:
    """`orders` active orders (audit and rollup triggers off: a bulk load); seconds it took."""
    started = time.monotonic()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        for statement in FILL:
            conn.execute(statement, {"orders": orders, "users": USERS, "now": now})
        conn.execute("VACUUM ANALYZE")
    return time.monotonic() - started


def timed(work) -> tuple[float, object]:
    started = time.perf_counter()
    result = work()
    return (time.perf_counter() - started) * 1000, result


def measure(url: str, now: datetime, minutes: int) -> dict:
    """Initial expansion, then `minutes` passes a simulated minute apart, then the readers."""
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        initial_ms, initial = timed(lambda: upkeep(conn, now, HOURS))
        conn.execute("VACUUM ANALYZE upcoming_runs")
        # Orders were just written a quarter horizon ahead: the steady state starts once the
        # clock has moved that far (one catch-up pass purges those hours), so measure from there.
        start = now + timedelta(hours=HOURS * SLACK)
        catch_up = timed(lambda: upkeep(conn, start, HOURS))
        passes: list[tuple[float, Pass]] = []
        for minute in range(1, minutes + 1):
            passes.append(timed(lambda m=minute: upkeep(conn, start + timedelta(minutes=m), HOURS)))
        clock = start + timedelta(minutes=minutes)
        table = conn.execute("SELECT count(*) AS n FROM upcoming_runs").fetchone()["n"]
        written = round(statistics.mean(p.written for _, p in passes))
        return {
            "initial": (initial_ms, initial),
            "catch_up": catch_up,
            "passes": passes,
            "table": table,
            "readers": readers(conn, clock),
            "baseline_ms": baseline_insert(conn, max(written, 1)),
        }


def readers(conn, clock: datetime) -> dict[str, float]:
    """Median ms of the operator's view (whole horizon), the dashboard's 3-hour chart and a
    customer's first page of 100 (a customer holds 1/1000 of the orders)."""
    minute = clock.replace(second=0, microsecond=0)
    window = {"from_minute": minute, "to_minute": clock + timedelta(hours=3)}
    page = {
        "user_id": 7,
        "from_minute": minute,
        "to_minute": clock + timedelta(hours=HOURS),
        "after_minute": minute - timedelta(microseconds=1),
        "after_id": 0,
        "limit": 101,
    }
    calls = {
        "view upcoming_runs_per_minute (all)": lambda: conn.execute(
            "SELECT minute, runs, orders FROM upcoming_runs_per_minute"
        ).fetchall(),
        "dashboard chart, next 3 h": lambda: conn.execute(
            Q["upcoming_per_minute"], window
        ).fetchall(),
        "GET /orders/upcoming query (page 1)": lambda: conn.execute(
            Q["upcoming_page"], page
        ).fetchall(),
    }
    return {
        name: statistics.median(timed(call)[0] for _ in range(7)) for name, call in calls.items()
    }


def baseline_insert(conn, rows: int) -> float:
    """Median ms of a plain INSERT of `rows` rows into a table shaped like upcoming_runs."""
    conn.execute("CREATE TABLE IF NOT EXISTS bench_baseline (LIKE upcoming_runs INCLUDING ALL)")
    spent = []
    for _ in range(5):
        conn.execute("TRUNCATE bench_baseline")
        ms, _ = timed(
            lambda: conn.execute(
                "INSERT INTO bench_baseline SELECT g, 1, date_trunc('minute', now()), now(), 1 "
                "FROM generate_series(1, %s) g",
                (rows,),
            )
        )
        spent.append(ms)
    return statistics.median(spent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--minutes", type=int, default=10, help="simulated minutes of upkeep")
    parser.add_argument("--quick", action="store_true", help="100,000 orders, 5 minutes")
    args = parser.parse_args()
    if args.quick:
        args.orders, args.minutes = 100_000, 5
    started, now = time.monotonic(), datetime.now(UTC)
    with bench_database() as (big, description):
        print(f"database: {description}", flush=True)
        small = big.rsplit("/", 1)[0] + "/orders_small"
        with psycopg.connect(big, autocommit=True) as conn:
            conn.execute("CREATE DATABASE orders_small")
        migrate(small)
        results = {}
        for url, orders in ((small, 10_000), (big, args.orders)):
            print(f"loaded {orders:,} orders in {fill(url, orders, now):.1f} s", flush=True)
            results[orders] = measure(url, now, args.minutes)
            print(f"measured {orders:,} orders", flush=True)
        report(results, args.minutes)
    print(f"\nwhole run: {time.monotonic() - started:.0f} s")


def report(results: dict[int, dict], minutes: int) -> None:
    (small, a), (big, b) = results.items()
    print(
        f"\n{small:,} vs {big:,} active orders, horizon {HOURS} h, {minutes} passes "
        f"a simulated minute apart ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)"
    )
    print(f"{'':<44} {f'{small:,}':>12} {f'{big:,}':>12} {'ratio':>7}")
    rows = [
        ("initial expansion, s", a["initial"][0] / 1000, b["initial"][0] / 1000),
        ("  rows written", a["initial"][1].written, b["initial"][1].written),
        ("catch-up pass 6 h later, s", a["catch_up"][0] / 1000, b["catch_up"][0] / 1000),
        ("  rows purged", a["catch_up"][1].purged, b["catch_up"][1].purged),
        ("  rows written", a["catch_up"][1].written, b["catch_up"][1].written),
        ("table rows after the passes", a["table"], b["table"]),
    ]
    for name, pick in (
        ("pass: ms (median)", lambda t, p: t),
        ("pass: orders extended (mean)", lambda t, p: p.extended),
        ("pass: rows written (mean)", lambda t, p: p.written),
        ("pass: rows purged (mean)", lambda t, p: p.purged),
        ("pass: us per row written (median)", lambda t, p: 1000 * t / max(p.written, 1)),
    ):
        values = lambda r, pick=pick: [pick(t, p) for t, p in r["passes"]]  # noqa: E731
        agg = statistics.median if "median" in name else statistics.mean
        rows.append((name, agg(values(a)), agg(values(b))))
    rows.append(("baseline: plain INSERT of a pass's rows, ms", a["baseline_ms"], b["baseline_ms"]))
    rows.append(
        ("pass ms / baseline ms", _pass_ms(a) / a["baseline_ms"], _pass_ms(b) / b["baseline_ms"])
    )
    for name in a["readers"]:
        rows.append((f"{name}, ms", a["readers"][name], b["readers"][name]))
    for name, x, y in rows:
        ratio = f"{y / x:7.2f}" if x else "      -"
        print(f"{name:<44} {x:12,.1f} {y:12,.1f} {ratio}")


def _pass_ms(result: dict) -> float:
    return statistics.median(t for t, _ in result["passes"])


if __name__ == "__main__":
    main()
