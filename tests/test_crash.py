"""PostgreSQL crashes (immediate shutdown: no checkpoint, crash recovery at restart) in the middle
of a burst: every order still runs exactly once, and executions, audit rows and status-log lines
agree one to one: nothing was logged of a run the crash took back."""

from __future__ import annotations

import json
import signal
import time

from tests.helpers import in_
from tests.workers import wait_until

ORDERS = 2_000
STATUS_EVENTS = (
    "SELECT event_id, order_id, to_status::text AS to_status FROM order_events "
    "WHERE event_type IN ('created', 'status_changed') ORDER BY event_id"
)


def create_burst(client, account, count: int) -> None:
    due = in_(2)
    for start in range(0, count, 1_000):
        bodies = [
            {"order_name": f"b{i}", "schedule_time": due} for i in range(start, start + 1_000)
        ]
        response = client.post("/orders/batch", json={"orders": bodies}, headers=account.headers)
        assert response.status_code == 201, response.json


def slow_runs(db) -> None:
    """Each run takes a couple of milliseconds more, so the burst lasts long enough to crash."""
    db.execute("""CREATE FUNCTION slow_a_little() RETURNS trigger LANGUAGE plpgsql AS
                  $$ BEGIN PERFORM pg_sleep(0.002); RETURN NEW; END $$""")
    db.execute(
        "CREATE TRIGGER slow_a_little BEFORE INSERT ON order_executions "
        "FOR EACH ROW EXECUTE FUNCTION slow_a_little()"
    )


def log_lines(path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_a_crash_during_a_burst_loses_and_doubles_nothing(
    client, db, alice, workers, database_url, cluster, settings
):
    create_burst(client, alice, ORDERS)
    slow_runs(db)
    for name in ("w1", "w2"):  # the log is written every 0.1 s: lines right up to the crash
        workers.start(name, ORDERS_EXECUTOR_BATCH="100", ORDERS_STATUS_LOG_SECONDS="0.1")
    runs = "SELECT count(*) AS n FROM order_executions"
    wait_until(database_url, runs, lambda r: r[0]["n"] >= 300)

    cluster.terminate(signal.SIGQUIT)  # the postmaster and every backend quit at once
    cluster.ensure_running()

    done = "SELECT count(*) AS n FROM orders WHERE status <> 'completed'"
    wait_until(database_url, done, lambda r: r[0]["n"] == 0, timeout=240)
    events = wait_until(database_url, STATUS_EVENTS, bool)
    lines = _complete_log(settings.log_file, len(events))
    runs = wait_until(
        database_url, "SELECT order_id, count(*) AS n FROM order_executions GROUP BY order_id", bool
    )
    assert len(runs) == ORDERS and {r["n"] for r in runs} == {1}
    per_order = {}
    for event in events:
        per_order.setdefault(event["order_id"], []).append(event["to_status"])
    assert set(map(tuple, per_order.values())) == {("scheduled", "processing", "completed")}
    # The same events, each once (lines follow commit order, event ids need not).
    assert sorted(line["event_id"] for line in lines) == [e["event_id"] for e in events]
    assert all(proc.poll() is None for proc, _ in workers.procs.values())  # rode it out


def _complete_log(path, expected: int, timeout: float = 120) -> list[dict]:
    """The status log once it has (at least) `expected` lines."""
    deadline = time.monotonic() + timeout
    while len(lines := log_lines(path)) < expected and time.monotonic() < deadline:
        time.sleep(0.2)
    return lines
