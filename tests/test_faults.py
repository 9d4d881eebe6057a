"""Database faults: PostgreSQL stopped and restarted under API and worker load, and a worker's
connections cut mid-run. The API answers 503 (bounded by DB_TIMEOUT_SECONDS) while it is down;
API and workers recover by themselves; no acknowledged order is lost and none runs twice."""

from __future__ import annotations

import json
import signal
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from contextlib import contextmanager

import pytest

from orders.web.app import create_app
from tests.browser import serve
from tests.helpers import SUMMARY, assert_error, in_, slow_executions
from tests.workers import wait_until

TIMEOUT = 1.0  # DB_TIMEOUT_SECONDS of the app under test
FAULT = {"ORDERS_RUN_MAX_ATTEMPTS": "11"}  # the outage counts as attempts; never fail on it


@contextmanager
def database_down(cluster):
    """Fast shutdown of the test cluster (every connection dropped); started again after."""
    cluster.terminate(signal.SIGINT)
    try:
        yield
    finally:
        cluster.ensure_running()


def post_until_served(client, account, body: dict, timeout: float = 60):
    """POST /orders until it is not a 503: the pool reconnects in the background, with backoff
    that grows with the outage, so the first requests after it may still be refused."""
    deadline = time.monotonic() + timeout
    while (
        response := client.post("/orders", json=body, headers=account.headers)
    ).status_code == 503 and time.monotonic() < deadline:
        time.sleep(0.2)
    return response


@pytest.fixture
def fast_app(settings):
    app = create_app(settings.model_copy(update={"db_timeout_seconds": TIMEOUT}))
    yield app
    app.extensions["orders.db"].close()


def test_api_is_503_while_the_database_is_down_then_recovers(fast_app, cluster, alice):
    client = fast_app.test_client()
    with database_down(cluster):
        started = time.monotonic()
        down = client.post("/orders", json={"order_name": "x"}, headers=alice.headers)
        elapsed = time.monotonic() - started
        assert_error(down, 503, "database_unavailable")
        assert elapsed < TIMEOUT + 2, elapsed  # bounded by the pool timeout, never a hang
        assert client.get("/healthz").status_code == 200
        assert_error(client.get("/readyz"), 503, "not_ready")

    created = post_until_served(client, alice, {"order_name": "x"})
    assert created.status_code == 201, created.json
    assert client.get("/readyz").status_code == 200


class Load(threading.Thread):
    """A client thread creating orders over HTTP until stopped; records what was acknowledged."""

    def __init__(self, base: str, token: str, n: int):
        super().__init__(daemon=True)
        self.base, self.token, self.n = base, token, n
        self.stop, self.acked, self.statuses, self.slowest = threading.Event(), [], Counter(), 0.0

    def run(self) -> None:
        i = 0
        while not self.stop.is_set():
            i += 1
            recurring = i % 4 == 0
            body = {"order_name": f"t{self.n}-{i}", "schedule_time": in_(0.2)}
            if recurring:
                body |= {
                    "is_recurring": True,
                    "repeat_interval": 1,
                    "repeat_unit": "seconds",
                    "max_executions": 3,
                }
            self._post(body, recurring)

    def _post(self, body: dict, recurring: bool) -> None:
        request = urllib.request.Request(
            f"{self.base}/orders",
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, order = response.status, json.loads(response.read())
                self.acked.append((order["order_id"], 3 if recurring else 1))
        except urllib.error.HTTPError as exc:
            status = exc.code
            assert json.loads(exc.read())["error"]["status"] == status  # the one error shape
            time.sleep(0.05)
        self.slowest = max(self.slowest, time.monotonic() - started)
        self.statuses[status] += 1


def test_restart_under_api_and_worker_load_loses_nothing(
    fast_app, cluster, alice, workers, database_url, db
):
    procs = [workers.start(name, concurrency=8, **FAULT) for name in ("w1", "w2")]
    with serve(fast_app) as base:
        loads = [Load(base, alice.access, n) for n in range(4)]
        for load in loads:
            load.start()
        time.sleep(2)
        with database_down(cluster):
            time.sleep(3)
        time.sleep(3)
        for load in loads:
            load.stop.set()
        for load in loads:
            load.join(timeout=60)

    statuses = sum((load.statuses for load in loads), Counter())
    assert set(statuses) <= {201, 503}, statuses
    assert statuses[201] > 20 and statuses[503] > 0, statuses
    assert max(load.slowest for load in loads) < TIMEOUT + 5
    acked = dict(pair for load in loads for pair in load.acked)
    rows = wait_until(
        database_url, SUMMARY, lambda rs: all(r["status"] == "completed" for r in rs), timeout=120
    )
    found = {r["order_id"]: r for r in rows}
    assert set(acked) <= set(found)  # every acknowledged order was committed
    for order_id, row in found.items():
        expected = 3 if row["is_recurring"] else 1
        assert acked.get(order_id, expected) == expected
        assert (row["runs"], row["distinct_runs"], row["executions_count"]) == (expected,) * 3, row
    assert all(proc.poll() is None for proc in procs)  # the same processes recovered


def test_a_worker_cut_off_mid_run_still_executes_once(client, db, alice, workers, database_url):
    slow_executions(db, seconds=3, times=1)
    proc = workers.start("w1", **FAULT)
    order = client.post(
        "/orders", json={"order_name": "cut", "schedule_time": in_(0.2)}, headers=alice.headers
    ).json
    wait_until(database_url, "SELECT 1 FROM pg_stat_activity WHERE wait_event = 'PgSleep'", bool)

    cut = db.execute(
        "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND backend_type = 'client backend'"
    ).fetchone()["n"]

    assert cut >= 2  # the run's connection and the worker's others (listener, heartbeat, ...)
    query = "SELECT status, executions_count FROM orders WHERE order_id = %(order_id)s"
    wait_until(
        database_url, query, lambda r: r[0]["status"] == "completed", timeout=60, params=order
    )
    runs = db.execute(
        "SELECT outcome FROM order_executions WHERE order_id = %s", (order["order_id"],)
    ).fetchall()
    assert [r["outcome"] for r in runs] == ["succeeded"]
    assert proc.poll() is None


def test_connection_lost_while_deferring_is_503_and_nothing_half_written(client, db, alice):
    """The session dies inside Procrastinate's defer (its job insert): 503, and the order row
    and audit row written before it in the same transaction are gone with it."""
    db.execute("""CREATE FUNCTION die() RETURNS trigger LANGUAGE plpgsql AS $$
                  BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NEW; END $$""")
    db.execute(
        "CREATE TRIGGER die BEFORE INSERT ON procrastinate_jobs FOR EACH ROW EXECUTE FUNCTION die()"
    )

    response = client.post("/orders", json={"order_name": "x"}, headers=alice.headers)

    assert_error(response, 503, "database_unavailable")
    for table in ("orders", "order_events", "procrastinate_jobs"):
        assert db.execute(f"SELECT count(*) AS n FROM {table}").fetchone()["n"] == 0  # noqa: S608


def test_a_worker_started_while_the_database_is_down_waits_for_it(
    cluster, client, alice, workers, database_url
):
    """Down for longer than the pool's first fill (30 s): the worker keeps waiting, then works."""
    with database_down(cluster):
        proc = workers.start("w1", **FAULT)
        time.sleep(35)
        assert proc.poll() is None
    order = post_until_served(client, alice, {"order_name": "x", "schedule_time": in_(0.2)}).json
    query = "SELECT status FROM orders WHERE order_id = %(order_id)s"
    wait_until(
        database_url, query, lambda r: r[0]["status"] == "completed", timeout=60, params=order
    )
    assert proc.poll() is None
