"""What the worker's periodic and per-start statements cost: the same statements timed on a
database with few active orders and on one with very many, to show they do not grow."""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

from bench.loads import spawn, stop, wait_for
from orders.database import Q
from orders.settings import Settings
from tasks.supervision.control import LOCK_CLASS
from tasks.supervision.worker import PRIORITY_LEVELS

REPEATS = 15
LEVELS = list(PRIORITY_LEVELS)
FETCH_OTHER_QUEUES = (
    "SELECT id FROM procrastinate_fetch_job_v2(ARRAY['maintenance', 'mail']::varchar[], NULL)"
)


def statements() -> dict[str, tuple[str, dict]]:
    """name -> (sql, params): each is run in a transaction that is rolled back."""
    now = datetime.now(UTC)
    return {
        "executor claim: levels due (nothing due)": (
            Q["execution_levels_due"],
            {"levels": LEVELS, "now": now - timedelta(days=3650)},
        ),
        "executor claim: accounts due at a level": (
            Q["account_queue_list_due"],
            {"level": 1, "now": now - timedelta(days=3650), "limit": 469},
        ),
        "executor claim: one level (nothing due)": (
            Q["execution_claim_level"],
            {"level": 1, "now": now - timedelta(days=3650), "batch": 500}
            | {"user_ids": [], "shares": []},
        ),
        "due-time alarm (next due job)": (
            Q["job_next_due"],
            {
                "levels": LEVELS,
                "queues": ["maintenance", "mail"],
                "orders_after": now,
                "queues_after": now,
            },
        ),
        "rescue sweep (orphaned jobs)": (
            Q["job_list_orphaned"],
            {"lock_class": LOCK_CLASS, "stalled_seconds": 20, "limit": 100},
        ),
        "stuck-order recovery scan": (
            Q["order_list_stuck"],
            {"overdue_before": now - timedelta(seconds=30), "limit": 500},
        ),
        "prune finished jobs (one batch)": (
            Q["prune_procrastinate_jobs"],
            {"after": 0, "batch": 2000, "cutoff": now - timedelta(hours=168)},
        ),
        "Procrastinate fetch, other queues": (FETCH_OTHER_QUEUES, {}),
    }


def time_statements(url: str) -> dict[str, float]:
    """Median milliseconds of each statement on the database at `url`."""
    timings = {}
    with psycopg.connect(url, row_factory=dict_row) as conn:
        conn.execute(Q["session_configure_worker_pool"], Settings().maintenance_timeouts().params())
        conn.commit()  # as a worker's Procrastinate connection is set up
        for name, (sql, params) in statements().items():
            samples = []
            for _ in range(REPEATS):
                started = time.perf_counter()
                cursor = conn.execute(sql, params)
                if cursor.description:
                    cursor.fetchall()
                samples.append((time.perf_counter() - started) * 1000)
                conn.rollback()
            timings[name] = statistics.median(samples)
    return timings


def worker_start_stop(url: str, logs: Path, label: str) -> tuple[float, float]:
    """Seconds from spawning a worker to its registration, and from SIGTERM to its exit."""
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        before = conn.execute("SELECT count(*) AS v FROM worker_processes").fetchone()["v"]
        started = time.monotonic()
        argv = ["-m", "orders", "worker", "--name", label]
        # Without the status-log writer: its first pass would write the loaded orders' backlog.
        proc = spawn(argv, url, logs, label, ORDERS_STATUS_LOG_WRITER="false")
        query = "SELECT count(*) AS v FROM worker_processes"
        wait_for(conn, query, lambda n: n > before, timeout=120)
        up = time.monotonic() - started
    started = time.monotonic()
    stop([proc])
    return up, time.monotonic() - started
