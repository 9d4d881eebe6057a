"""Under pressure: a busy worker is not taken for dead, a frozen or killed one releases its orders
quickly, every wait is bounded, and a rescued duplicate never changes an order that moved on."""

from __future__ import annotations

import signal
import threading
import time

import psycopg

from tests.helpers import in_, slow_executions
from tests.workers import wait_until

HELD_SECONDS = 12  # four times the test workers' ORDERS_STALLED_AFTER_SECONDS (3)
RUNS = "SELECT order_id, run_number, worker FROM order_executions ORDER BY execution_id"


def create(client, account, **fields) -> dict:
    body = {"order_name": "tea", "schedule_time": in_(0.5)} | fields
    response = client.post("/orders", json=body, headers=account.headers)
    assert response.status_code == 201, response.json
    return response.json


def recurring(client, account, **fields) -> dict:
    every_hour = {"is_recurring": True, "repeat_interval": 1, "repeat_unit": "hours"}
    return create(client, account, **(every_hour | fields))


class RowLock(threading.Thread):
    """An ordinary transaction (a slow report, an operator's SELECT ... FOR UPDATE) holding rows
    locked until released."""

    def __init__(self, url: str, sql: str, params: tuple):
        super().__init__(daemon=True)
        self.url, self.sql, self.params = url, sql, params
        self.locked, self.release = threading.Event(), threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.url) as conn, conn.transaction():
            conn.execute(self.sql, self.params)
            self.locked.set()
            self.release.wait(120)

    def __enter__(self):
        self.start()
        assert self.locked.wait(30)
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.join(30)


def test_a_busy_worker_is_not_taken_for_dead(client, db, alice, workers, database_url):
    """8 due recurring orders locked for 4x the stalled timeout beside two workers (concurrency
    8, as compose ships): no rescue, no restart, no failed attempt, maintenance keeps running,
    a change of a locked order is refused at once; released, each runs exactly once."""
    orders = [recurring(client, alice, schedule_time=in_(1))["order_id"] for _ in range(8)]
    for name in ("w1", "w2"):
        workers.start(name, concurrency=8)
    wait_until(database_url, "SELECT 1 FROM worker_processes HAVING count(*) = 2", bool)
    registered = {r["worker_id"] for r in db.execute("SELECT worker_id FROM worker_processes")}
    lock = "SELECT 1 FROM orders WHERE order_id = ANY(%s) FOR UPDATE"

    with RowLock(database_url, lock, (orders,)):
        started = time.monotonic()
        patched = client.patch(
            f"/orders/{orders[0]}", json={"order_name": "x"}, headers=alice.headers
        )
        answered_in = time.monotonic() - started
        maintenance_before = _maintenance_runs(db)
        ages = _heartbeat_ages_while(db, HELD_SECONDS)
        maintenance_during = _maintenance_runs(db) - maintenance_before

    rows = wait_until(database_url, RUNS, lambda rs: len(rs) == 8, timeout=60)
    assert patched.status_code == 409 and patched.json["error"]["code"] == "order_executing"
    assert patched.headers["Retry-After"] and answered_in < 1.5
    assert max(ages) < 3, ages  # heartbeats kept beating: nobody could think them dead
    assert maintenance_during >= 5  # periodic tasks due meanwhile ran on time (every second)
    assert sorted((r["order_id"], r["run_number"]) for r in rows) == [(o, 1) for o in orders]
    assert {r["worker_id"] for r in db.execute("SELECT worker_id FROM worker_processes")} == (
        registered
    )  # the same registrations: no worker restarted
    assert db.execute("SELECT count(*) AS n FROM job_errors").fetchone()["n"] == 0
    retried = "SELECT count(*) AS n FROM procrastinate_events WHERE type = 'deferred_for_retry'"
    assert db.execute(retried).fetchone()["n"] == 0  # no job was rescued from a live worker
    assert all(p.poll() is None for p, _ in workers.procs.values())


def _maintenance_runs(db) -> int:
    return db.execute(
        "SELECT count(*) AS n FROM procrastinate_jobs "
        "WHERE task_name = 'recover_stuck_orders' AND status = 'succeeded'"
    ).fetchone()["n"]


def _heartbeat_ages_while(db, seconds: float) -> list[float]:
    """Sample the workers' heartbeat ages every half second for `seconds`."""
    ages, deadline = [], time.monotonic() + seconds
    query = (
        "SELECT extract(epoch FROM max(now() - last_heartbeat))::float8 AS age "
        "FROM procrastinate_workers"
    )
    while time.monotonic() < deadline:
        ages.append(db.execute(query).fetchone()["age"])
        time.sleep(0.5)
    return ages


def test_a_frozen_worker_releases_its_order_which_runs_once_elsewhere(
    client, db, alice, workers, database_url
):
    """SIGSTOP while it holds an order in a run: the server ends the frozen session after
    ORDERS_RUN_IDLE_TIMEOUT_SECONDS, another worker runs the order exactly once, a PATCH is
    refused at once while it is held and accepted after; the thawed worker changes nothing."""
    slow_executions(db, seconds=1, times=1)
    frozen = workers.start("frozen", ORDERS_RUN_IDLE_TIMEOUT_SECONDS="2")
    order = recurring(client, alice)
    wait_until(database_url, "SELECT 1 FROM pg_stat_activity WHERE wait_event = 'PgSleep'", bool)
    frozen.send_signal(signal.SIGSTOP)
    try:
        url = f"/orders/{order['order_id']}"
        held = client.patch(url, json={"order_name": "x"}, headers=alice.headers)
        db.execute("UPDATE slow_budget SET n = 0")
        workers.start("rescuer")

        wait_until(database_url, RUNS, lambda rs: len(rs) == 1, timeout=60)
        changed = client.patch(url, json={"order_name": "green tea"}, headers=alice.headers)
    finally:
        frozen.send_signal(signal.SIGCONT)
    wait_until(  # thawed, it lost its session and opened a new one: its chance to do harm
        database_url,
        "SELECT 1 FROM pg_stat_activity WHERE application_name = 'orders-worker frozen runs'",
        bool,
    )
    wait_until(
        database_url,
        "SELECT 1 FROM procrastinate_jobs WHERE status = 'todo' "
        "AND task_name = 'execute_order' AND scheduled_at < now()",
        lambda rows: not rows,
    )

    assert held.status_code == 409 and "Retry-After" in held.headers
    assert changed.status_code == 200, changed.json
    runs = db.execute(RUNS).fetchall()
    assert [(r["run_number"], r["worker"]) for r in runs] == [(1, "rescuer")]
    assert frozen.poll() is None


def test_a_sigkilled_workers_running_job_is_retried_by_its_free_liveness_lock(
    db, workers, database_url
):
    """A registered worker process whose liveness lock is free is dead, even with a fresh
    heartbeat: its running job is retried by a live worker's sweep (every second), not after
    the stalled timeout (an hour here)."""
    dead = db.execute("INSERT INTO procrastinate_workers DEFAULT VALUES RETURNING id").fetchone()
    db.execute(
        "INSERT INTO worker_processes (worker_id, name, host, pid) VALUES (%s, 'dead', 'h', 1)",
        (dead["id"],),
    )
    job = db.execute(
        "INSERT INTO procrastinate_jobs (queue_name, task_name, args, status, worker_id) "
        "VALUES ('maintenance', 'prune_login_failures', '{\"timestamp\": 0}', 'doing', %s) "
        "RETURNING id",
        (dead["id"],),
    ).fetchone()
    workers.start("alive", ORDERS_STALLED_AFTER_SECONDS="3600")

    wait_until(
        database_url,
        "SELECT status FROM procrastinate_jobs WHERE id = %(id)s",
        lambda rows: rows[0]["status"] == "succeeded",
        timeout=30,
        params=job,
    )

    gone = "SELECT count(*) AS n FROM procrastinate_workers WHERE id = %s"
    assert db.execute(gone, (dead["id"],)).fetchone()["n"] == 0  # the dead process is forgotten


def test_a_run_that_meets_a_lock_timeout_is_delayed_without_an_attempt(
    client, db, alice, acme, workers, database_url
):
    """Its provider row locked by someone else longer than ORDERS_RUN_LOCK_TIMEOUT_SECONDS: the
    run is put back a moment, no attempt counted, no error kept; it runs once after."""
    body = {"order_name": "x", "schedule_time": in_(0.5), "provider_id": acme.provider_id}
    order = client.post("/orders", json=body, headers=alice.headers).json
    lock = "SELECT 1 FROM providers WHERE provider_id = %s FOR UPDATE"

    delays = (
        "SELECT count(*) AS n FROM procrastinate_events "
        "WHERE job_id = %(job_id)s AND type = 'scheduled'"
    )
    with RowLock(database_url, lock, (acme.provider_id,)):
        workers.start("w1", ORDERS_RUN_LOCK_TIMEOUT_SECONDS="0.5", ORDERS_RUN_MAX_ATTEMPTS="1")
        wait_until(database_url, delays, lambda rows: rows[0]["n"] >= 3, params=order)

    rows = wait_until(database_url, RUNS, lambda rs: len(rs) == 1, timeout=30)
    executed = db.execute(
        "SELECT attempts FROM order_executions WHERE order_id = %s", (order["order_id"],)
    ).fetchone()
    assert rows[0]["order_id"] == order["order_id"] and executed["attempts"] == 1
    assert db.execute("SELECT count(*) AS n FROM job_errors").fetchone()["n"] == 0


def test_a_rescued_duplicate_never_changes_an_order_that_moved_on(
    client, db, alice, workers, database_url
):
    """A job brought back for a cancelled order and one for a completed order: both are retired
    without a run, and neither order changes."""
    cancelled = create(client, alice, schedule_time=in_(3600))
    client.delete(f"/orders/{cancelled['order_id']}", headers=alice.headers)
    done = create(client, alice)
    workers.start("w1")
    wait_until(
        database_url,
        "SELECT status FROM orders WHERE order_id = %(order_id)s",
        lambda rows: rows[0]["status"] == "completed",
        params=done,
    )
    before = db.execute("SELECT * FROM orders ORDER BY order_id").fetchall()

    db.execute(
        "UPDATE procrastinate_jobs SET status = 'todo', scheduled_at = now() WHERE id = %s",
        (cancelled["job_id"],),
    )
    db.execute(
        "INSERT INTO procrastinate_jobs (id, queue_name, task_name, args, scheduled_at) "
        "VALUES (%s, 'orders', 'execute_order', %s, now())",
        (done["job_id"], psycopg.types.json.Jsonb({"order_id": done["order_id"]})),
    )
    wait_until(
        database_url,
        "SELECT 1 FROM procrastinate_jobs WHERE task_name = 'execute_order'",
        lambda rows: not rows,
    )

    assert db.execute("SELECT * FROM orders ORDER BY order_id").fetchall() == before
    assert len(db.execute(RUNS).fetchall()) == 1
