"""Chaos: workers are SIGKILLed and restarted while 250 orders run; nothing is lost or doubled."""

from __future__ import annotations

import random
import time

import pytest

from tests.helpers import SUMMARY, in_
from tests.workers import wait_until

RECURRING, ONE_TIME, MAX = 200, 50, 5
WORKERS = ("w1", "w2", "w3")
CHAOS = {"ORDERS_RUN_MAX_ATTEMPTS": "11"}  # never let a kill make an order fail


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


def count_run_attempts(db) -> None:
    """Number every run written, in a sequence (sequences ignore rollbacks), and slow each a
    little so that kills land inside batches: attempts minus committed runs = runs cut off."""
    db.execute("CREATE SEQUENCE run_attempts")
    db.execute("""CREATE FUNCTION count_attempt() RETURNS trigger LANGUAGE plpgsql AS $$
                  BEGIN PERFORM nextval('run_attempts'), pg_sleep(0.002); RETURN NEW; END $$""")
    db.execute(
        "CREATE TRIGGER count_attempt BEFORE INSERT ON order_executions "
        "FOR EACH ROW EXECUTE FUNCTION count_attempt()"
    )


def worker_mid_batch(db, timeout: float = 3.0) -> str | None:
    """A worker whose executor has written runs it has not committed yet (waiting for one up
    to `timeout`: orders fall due every second)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = db.execute(
            "SELECT split_part(application_name, ' ', 2) AS name FROM pg_stat_activity "
            "WHERE application_name LIKE 'orders-worker % runs' AND backend_xid IS NOT NULL "
            "LIMIT 1"
        ).fetchone()
        if row:
            return row["name"]
        time.sleep(0.01)
    return None


def runs_cut_off(db) -> int:
    """Runs written and then undone by a kill (attempts counted minus runs committed)."""
    return db.execute(
        "SELECT (SELECT last_value FROM run_attempts) - count(*) AS n FROM order_executions"
    ).fetchone()["n"]


def kill_loop(workers, db, seconds: float, rng: random.Random) -> int:
    """Every ~1.5 s for `seconds`: SIGKILL a worker (every other time one caught in the middle
    of a batch, else a random one) and start a fresh one in its place. Then, on a machine so
    loaded that no kill has cut a run off yet, only workers caught mid-batch, for up to a
    minute more: the test is about runs cut off."""
    kills, start = 0, time.monotonic()
    while (elapsed := time.monotonic() - start) < seconds or (
        elapsed < seconds + 60 and runs_cut_off(db) <= 0
    ):
        time.sleep(rng.uniform(1.0, 2.0))
        caught = worker_mid_batch(db) if kills % 2 or elapsed >= seconds else None
        if not (victim := caught or (rng.choice(WORKERS) if elapsed < seconds else None)):
            continue
        workers.kill(victim)
        workers.start(victim, concurrency=8, **CHAOS)
        kills += 1
    return kills


@pytest.mark.slow
def test_orders_run_exactly_max_executions_while_workers_die(
    client, db, alice, workers, database_url
):
    """Every order ends completed with exactly its runs: none lost, none doubled."""
    count_run_attempts(db)
    for name in WORKERS:
        workers.start(name, concurrency=8, **CHAOS)
    create_orders(client, alice)

    kills = kill_loop(workers, db, seconds=12, rng=random.Random(7))
    rows = wait_until(
        database_url,
        SUMMARY,
        lambda rows: all(r["status"] == "completed" for r in rows),
        timeout=120,
    )

    cut_off = runs_cut_off(db)
    assert kills >= 6 and len(rows) == RECURRING + ONE_TIME
    assert cut_off > 0  # some runs really were cut off by a kill and redone elsewhere
    for row in rows:
        expected = MAX if row["is_recurring"] else 1
        assert (row["runs"], row["distinct_runs"], row["executions_count"], row["failed_runs"]) == (
            expected,
            expected,
            expected,
            0,
        ), row
