"""Priorities and fair share in a saturated burst (bench/burst.py runs it):

One big account with N orders due at one instant, a small one with 10 due at the same instant
(created after the big one's, so behind them in due order), and a vip account with 100: run by
2 workers, with fair share on (ORDERS_FAIR_SHARE=true, the default) and, as the baseline in the
same run, off. Reported: when each account's orders started after the due instant, and the
executions/s of the whole burst.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

from bench.api import start_gunicorn
from bench.cluster import free_port
from bench.loads import post_orders, spawn, stop, wait_for

WORKERS = 2
SMALL, VIP = 10, 100
STARTS = """
SELECT count(*) AS runs,
       extract(epoch FROM min(e.started_at) - %(due)s)::float8 AS first_start,
       extract(epoch FROM max(e.started_at) - %(due)s)::float8 AS last_start
FROM order_executions e JOIN orders o USING (order_id)
WHERE o.user_id = %(u)s AND e.scheduled_for = %(due)s
"""


def fair_burst(url: str, logs: Path, count: int, fair: bool) -> dict:
    """The three accounts' burst; {account: {runs, first_start, last_start}, rate: ...}."""
    label = "fair" if fair else "unfair"
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=count / 2500 + 30)
    users = _create(url, logs, label, count, due)
    env = {"ORDERS_FAIR_SHARE": str(fair).lower()}
    argv = ["-m", "orders", "worker", "--name"]
    procs = [spawn([*argv, f"{label}-{i}"], url, logs, f"{label}-{i}", **env) for i in range(2)]
    total = count + SMALL + VIP
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        wait_for(conn, "SELECT count(*) AS v FROM worker_processes", lambda n: n >= WORKERS)
        done = "SELECT count(*) AS v FROM order_executions WHERE scheduled_for = %(due)s"
        wait_for(conn, done, lambda n: n >= total, 1200, {"due": due}, every=0.2)
        result = {
            name: conn.execute(STARTS, {"due": due, "u": u}).fetchone() for name, u in users.items()
        }
    stop(procs)
    last = max(r["last_start"] for r in result.values())
    return result | {"rate": total / max(last, 1e-6), "count": count}


def _create(url: str, logs: Path, label: str, count: int, due: datetime) -> dict[str, int]:
    port = free_port()
    api = start_gunicorn(url, port, 2, logs)
    base = f"http://127.0.0.1:{port}"
    try:
        users = {
            name: post_orders(base, f"{label}-{name}", _bodies(name, n, due))[0]
            for name, n in (("big", count), ("small", SMALL), ("vip", VIP))
        }
    finally:
        stop([api])
    with psycopg.connect(url, autocommit=True) as conn:  # operators' SQL: waiting runs re-level
        conn.execute("UPDATE users SET tier = 'vip' WHERE user_id = %s", (users["vip"],))
    return users


def _bodies(name: str, count: int, due: datetime) -> list[dict]:
    return [{"order_name": f"{name} {i}", "schedule_time": due.isoformat()} for i in range(count)]


def print_fairness(fair: dict, unfair: dict, burst_rate: float) -> None:
    print(
        f"\n{'fair share, ' + format(fair['count'], ',') + ' + 10 + 100 vip due at once':<40}"
        f" {'fair share on':>16} {'off (baseline)':>16}"
    )
    for name in ("vip", "small", "big"):
        for key, what in (("first_start", "first"), ("last_start", "last")):
            print(
                f"{f'  {name}: {what} run started after due (s)':<40} "
                f"{fair[name][key]:16.2f} {unfair[name][key]:16.2f}"
            )
    print(f"{'  executions/s (all / last start)':<40} {fair['rate']:16.0f} {unfair['rate']:16.0f}")
    print(f"{'  on / off':<40} {fair['rate'] / unfair['rate']:16.2f}")
    print(f"{'  on / the empty-database burst above':<40} {fair['rate'] / burst_rate:16.2f}")
