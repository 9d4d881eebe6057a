"""Chaos: workers are SIGKILLed and restarted while 250 orders run; nothing is lost or doubled."""

from __future__ import annotations

import random
import time

import pytest

from tests.helpers import SUMMARY, in_
from tests.workers import wait_until

RECURRING, ONE_TIME, MAX = 200, 50, 5
WORKERS = ("w1", "w2", "w3")
CHAOS = {"ORDERS_RUN_MAX_ATTEMPTS": "11"}  # kills count as attempts; never let them fail an order


def create_orders(client, account) -> None:
    for i in range(RECURRING):
        body = {
            "order_name": f"r{i}",
            "schedule_time": in_(1 + i % 3),
            "is_recurring": True,
            "repeat_interval": 1,
            "repeat_unit": "seconds",
            "max_executions": MAX,
        }
        assert client.post("/orders", json=body, headers=account.headers).status_code == 201
    for i in range(ONE_TIME):
        body = {"order_name": f"o{i}", "schedule_time": in_(1 + i % 6)}
        assert client.post("/orders", json=body, headers=account.headers).status_code == 201


def kill_loop(workers, seconds: float, rng: random.Random) -> int:
    """SIGKILL a random worker and start a fresh one, every ~1.5 s, for `seconds`."""
    kills, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(rng.uniform(1.0, 2.0))
        victim = rng.choice(WORKERS)
        workers.kill(victim)
        workers.start(victim, concurrency=8, **CHAOS)
        kills += 1
    return kills


@pytest.mark.slow
def test_orders_run_exactly_max_executions_while_workers_die(client, alice, workers, database_url):
    """Every order ends completed with exactly its runs: none lost, none doubled."""
    for name in WORKERS:
        workers.start(name, concurrency=8, **CHAOS)
    create_orders(client, alice)

    kills = kill_loop(workers, seconds=12, rng=random.Random(7))
    rows = wait_until(
        database_url,
        SUMMARY,
        lambda rows: all(r["status"] == "completed" for r in rows),
        timeout=120,
    )

    rescued = wait_until(
        database_url,
        "SELECT count(*) AS n FROM procrastinate_jobs "
        "WHERE task_name = 'execute_order' AND attempts > 0",
        bool,
    )[0]["n"]
    assert kills >= 6 and len(rows) == RECURRING + ONE_TIME
    assert rescued > 0  # some runs really were cut off by a kill and redone elsewhere
    for row in rows:
        expected = MAX if row["is_recurring"] else 1
        assert (row["runs"], row["distinct_runs"], row["executions_count"], row["failed_runs"]) == (
            expected,
            expected,
            expected,
            0,
        ), row
