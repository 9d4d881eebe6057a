"""Workers execute orders exactly once in effect: recurrence, stale jobs, retries, recovery."""

from __future__ import annotations

import json
import signal
import time
from datetime import UTC, datetime
from itertools import pairwise

from tests.helpers import fail_executions_of, in_, jobs_of, slow_executions
from tests.workers import wait_until

ORDER_STATUS = "SELECT status, executions_count, last_error FROM orders WHERE order_id = %(id)s"
EXECUTIONS = (
    "SELECT run_number, outcome, scheduled_for, started_at, worker FROM order_executions"
    " WHERE order_id = %(id)s ORDER BY execution_id"
)


def create(client, account, **fields) -> dict:
    body = {"order_name": "soap", "schedule_time": in_(0.5)} | fields
    response = client.post("/orders", json=body, headers=account.headers)
    assert response.status_code == 201, response.json
    return response.json


def log_lines(path, order_id: int, count: int, timeout: float = 10) -> list[dict]:
    """The order's JSON log lines, once the worker's status-log writer wrote `count` of them."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []
        mine = [line for line in lines if line["order_id"] == order_id]
        if len(mine) >= count or time.monotonic() > deadline:
            return mine
        time.sleep(0.05)


def status_is(status: str):
    return lambda rows: rows and rows[0]["status"] == status


def start_slow_run(client, db, alice, workers, database_url, worker: str, seconds: float) -> dict:
    """An order whose run is in progress (hanging `seconds`) on a fresh worker `worker`."""
    slow_executions(db, seconds=seconds, times=1)
    workers.start(worker)
    order = create(client, alice)
    wait_until(database_url, "SELECT 1 FROM pg_stat_activity WHERE wait_event = 'PgSleep'", bool)
    return order


def test_one_time_order_runs_once_and_completes(client, db, alice, workers, database_url, settings):
    """Due in half a second: executed once, completed, audited and logged by the worker."""
    order = create(client, alice)
    workers.start("w1")

    wait_until(database_url, ORDER_STATUS, status_is("completed"), params={"id": order["order_id"]})

    runs = db.execute(EXECUTIONS, {"id": order["order_id"]}).fetchall()
    events = db.execute(
        "SELECT from_status, to_status, actor FROM order_events "
        "WHERE order_id = %s ORDER BY event_id",
        (order["order_id"],),
    ).fetchall()
    lines = log_lines(settings.log_file, order["order_id"], count=3)
    assert [(r["run_number"], r["outcome"], r["worker"]) for r in runs] == [(1, "succeeded", "w1")]
    assert [(e["from_status"], e["to_status"]) for e in events] == [
        (None, "scheduled"),
        ("scheduled", "processing"),
        ("processing", "completed"),
    ]
    assert events[-1]["actor"] == "worker:w1"
    assert [(line["from"], line["to"]) for line in lines] == [
        (None, "scheduled"),
        ("scheduled", "processing"),
        ("processing", "completed"),
    ]


def test_recurring_order_runs_max_executions_times_without_drift(
    client, db, alice, workers, database_url
):
    """Every second, 4 times: 4 runs, each scheduled exactly 1 s after the previous slot."""
    workers.start("w1")
    order = create(
        client, alice, is_recurring=True, repeat_interval=1, repeat_unit="seconds", max_executions=4
    )

    wait_until(database_url, ORDER_STATUS, status_is("completed"), params={"id": order["order_id"]})

    runs = db.execute(EXECUTIONS, {"id": order["order_id"]}).fetchall()
    slots = [r["scheduled_for"] for r in runs]
    assert [r["run_number"] for r in runs] == [1, 2, 3, 4]
    assert [(b - a).total_seconds() for a, b in pairwise(slots)] == [1, 1, 1]
    assert db.execute(ORDER_STATUS, {"id": order["order_id"]}).fetchone()["executions_count"] == 4
    # Woken by the due-time alarm, not the 5 s poll; the margin absorbs a loaded CI machine.
    assert max((r["started_at"] - r["scheduled_for"]).total_seconds() for r in runs) < 3.0


def test_duplicate_and_stale_jobs_do_nothing(client, db, alice, workers, database_url, app):
    """A second job for the same order (at-least-once delivery) executes nothing."""
    from tasks.jobs.orders import execute_order

    order = create(client, alice, schedule_time=in_(1))
    with app.extensions["orders.db"].transaction() as conn:
        execute_order.configure(connection=conn, schedule_at=datetime.now(UTC)).defer(
            order_id=order["order_id"]
        )
    workers.start("w1")

    wait_until(database_url, ORDER_STATUS, status_is("completed"), params={"id": order["order_id"]})
    wait_until(
        database_url,
        "SELECT status FROM procrastinate_jobs WHERE status IN ('todo', 'doing')",
        lambda rows: not rows,
    )

    assert len(db.execute(EXECUTIONS, {"id": order["order_id"]}).fetchall()) == 1
    assert jobs_of(db, order["order_id"]) == []  # the run's job and the duplicate: finished


def test_retries_exhausted_mark_the_order_failed_and_retry_endpoint_requeues(
    client, db, alice, workers, database_url
):
    """A run that keeps failing ends failed with its error; POST /retry runs it again."""
    order = create(client, alice)
    fail_executions_of(db, order["order_id"])
    workers.start("w1")

    wait_until(database_url, ORDER_STATUS, status_is("failed"), params={"id": order["order_id"]})
    shown = client.get(f"/orders/{order['order_id']}", headers=alice.headers).json
    db.execute("DROP TRIGGER fail_run ON order_executions")
    retried = client.post(f"/orders/{order['order_id']}/retry", headers=alice.headers)
    wait_until(database_url, ORDER_STATUS, status_is("completed"), params={"id": order["order_id"]})

    assert "provider unreachable" in shown["last_error"]
    assert retried.status_code == 200 and retried.json["status"] == "scheduled"
    runs = db.execute(EXECUTIONS, {"id": order["order_id"]}).fetchall()
    assert [(r["run_number"], r["outcome"]) for r in runs] == [(1, "failed"), (1, "succeeded")]
    attempts = db.execute(
        "SELECT details->>'reason' AS reason FROM order_events WHERE "
        "order_id = %s AND details ? 'reason'",
        (order["order_id"],),
    ).fetchall()
    assert len(attempts) == 3  # ORDERS_RUN_MAX_ATTEMPTS=3: 3 attempts, each error kept
    errors = db.execute(
        "SELECT attempt, worker, error FROM job_errors WHERE job_id = %s ORDER BY attempt",
        (shown["job_id"],),
    ).fetchall()
    assert [(e["attempt"], e["worker"]) for e in errors] == [(1, "w1"), (2, "w1"), (3, "w1")]
    assert all("provider unreachable" in e["error"] for e in errors)
    sources = db.execute(
        "SELECT DISTINCT source FROM order_timeline WHERE order_id = %s", (order["order_id"],)
    ).fetchall()
    # The finished jobs (and their Procrastinate events) are deleted; the errors stay.
    assert {r["source"] for r in sources} == {"audit", "execution", "job_error"}
    again = client.post(f"/orders/{order['order_id']}/retry", headers=alice.headers)
    assert again.status_code == 409


def test_stuck_order_is_requeued_after_its_job_is_deleted(client, db, alice, workers, database_url):
    """An operator deletes the job row in SQL; the periodic recovery re-defers the order once."""
    order = create(client, alice, schedule_time=in_(-1))
    db.execute("DELETE FROM procrastinate_jobs WHERE id = %s", (order["job_id"],))
    workers.start("w1")

    wait_until(
        database_url,
        ORDER_STATUS,
        status_is("completed"),
        timeout=30,
        params={"id": order["order_id"]},
    )

    reasons = db.execute(
        "SELECT details->>'reason' AS reason, actor FROM order_events "
        "WHERE order_id = %s AND details ? 'reason'",
        (order["order_id"],),
    ).fetchall()
    assert len(db.execute(EXECUTIONS, {"id": order["order_id"]}).fetchall()) == 1
    assert reasons == [
        {
            "reason": f"stuck-order recovery: job {order['job_id']} was missing",
            "actor": "worker:recover_stuck_orders",
        }
    ]


def test_sigkilled_worker_job_is_executed_once_by_another(client, db, alice, workers, database_url):
    """A worker killed in the middle of a statement that would take 5 minutes: the server ends
    the statement (it checks its client every second), and the order runs elsewhere, once."""
    order = start_slow_run(client, db, alice, workers, database_url, "victim", seconds=300)
    db.execute("UPDATE slow_budget SET n = 0")

    workers.kill("victim")
    killed_at = time.monotonic()
    workers.start("rescuer")
    wait_until(
        database_url,
        ORDER_STATUS,
        status_is("completed"),
        timeout=60,
        params={"id": order["order_id"]},
    )

    assert time.monotonic() - killed_at < 60  # not the 300 s the killed statement had left
    runs = db.execute(EXECUTIONS, {"id": order["order_id"]}).fetchall()
    assert [(r["run_number"], r["worker"]) for r in runs] == [(1, "rescuer")]


def test_sigterm_lets_the_running_order_finish(client, db, alice, workers, database_url):
    """Graceful shutdown: the in-flight run completes before the worker exits."""
    order = start_slow_run(client, db, alice, workers, database_url, "w1", seconds=2)

    workers.signal("w1", signal.SIGTERM)
    code = workers.wait("w1", timeout=30)

    assert code == 0
    assert db.execute(ORDER_STATUS, {"id": order["order_id"]}).fetchone()["status"] == "completed"


def test_placing_an_order_notifies_the_order_placed_channel(client, alice, workers, database_url):
    """Listeners on `order_placed` receive the order id of each run, once it committed."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as listener:
        listener.execute("LISTEN order_placed")
        order = create(client, alice)
        workers.start("w1")

        received = [n.payload for n in listener.notifies(timeout=20, stop_after=1)]

    assert received == [str(order["order_id"])]


def test_a_stalled_job_superseded_by_a_newer_one_is_retired(
    client, db, alice, workers, database_url
):
    """A dead worker's job for an order that recovery already re-deferred: retrying it would
    take the same queueing lock, so it is aborted instead, and the order runs once."""
    order = create(client, alice, schedule_time=in_(3600))
    dead = db.execute(
        "INSERT INTO procrastinate_workers (last_heartbeat) VALUES (now() - interval '1 hour') "
        "RETURNING id"
    ).fetchone()["id"]
    db.execute(
        "UPDATE procrastinate_jobs SET status = 'doing', worker_id = %s WHERE id = %s",
        (dead, order["job_id"]),
    )
    newer = db.execute(
        "INSERT INTO procrastinate_jobs (queue_name, task_name, queueing_lock, args, scheduled_at) "
        "VALUES ('orders', 'execute_order', %s, %s, now() + interval '10 s') RETURNING id",
        (f"order:{order['order_id']}", json.dumps({"order_id": order["order_id"]})),
    ).fetchone()["id"]
    db.execute(
        "UPDATE orders SET job_id = %s, next_run_at = now() + interval '10 s' WHERE order_id = %s",
        (newer, order["order_id"]),
    )

    workers.start("w1")  # recovers stalled jobs every 5 s: before the newer job is due

    wait_until(
        database_url,
        "SELECT status FROM procrastinate_jobs WHERE id = %(id)s",
        lambda rows: rows[0]["status"] == "aborted",
        params={"id": order["job_id"]},
    )
    wait_until(database_url, ORDER_STATUS, status_is("completed"), params={"id": order["order_id"]})
    runs = db.execute(EXECUTIONS, {"id": order["order_id"]}).fetchall()
    assert [(r["run_number"], r["outcome"]) for r in runs] == [(1, "succeeded")]
