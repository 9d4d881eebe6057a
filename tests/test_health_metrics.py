"""/healthz, /readyz, /metrics on the API, and a worker's own health and metrics port."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from bench.cluster import free_port
from orders.operations.metrics import BUCKETS
from orders.web.app import create_app
from tasks.supervision.health import WorkerHealth, serve
from tests.helpers import assert_error, in_
from tests.workers import wait_until


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} from a Prometheus text exposition."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_ready_when_migrated(client):
    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json == {"status": "ready", "checks": {"database": "ok", "migrations": "current"}}


def test_not_ready_with_a_pending_or_edited_migration(client, db):
    db.execute("DELETE FROM schema_migrations WHERE version = '0007_operator_views.sql'")
    error = assert_error(client.get("/readyz"), 503, "not_ready")
    assert "0007_operator_views.sql" in error["details"]["migrations"]

    db.execute("INSERT INTO schema_migrations VALUES ('0007_operator_views.sql', 'edited')")
    assert "0007_operator_views.sql" in client.get("/readyz").json["error"]["details"]["migrations"]


def test_alive_but_not_ready_without_a_database(settings):
    down = settings.model_copy(
        update={"database_url": "postgresql://nobody@127.0.0.1:1/none", "db_timeout_seconds": 1}
    )
    app = create_app(down)
    try:
        client = app.test_client()
        assert client.get("/healthz").status_code == 200
        error = assert_error(client.get("/readyz"), 503, "not_ready")
        assert error["details"]["database"].startswith("unavailable")
        assert_error(client.get("/metrics"), 503, "database_unavailable")
    finally:
        app.extensions["orders.db"].close()


def test_metrics_count_orders_jobs_and_runs(client, alice, db):
    for name in ("a", "b"):
        body = {"order_name": name, "schedule_time": in_(3600)}
        assert client.post("/orders", json=body, headers=alice.headers).status_code == 201
    first = db.execute("SELECT min(order_id) AS id FROM orders").fetchone()["id"]
    runs = [(1, 0.02, 0.004, "succeeded", None), (2, 0.3, 0.2, "failed", "boom")]
    runs.append((2, 7.0, 40.0, "succeeded", None))
    for run, seconds, late, outcome, error in runs:
        db.execute(
            """INSERT INTO order_executions (order_id, run_number, scheduled_for, started_at,
                   finished_at, worker, attempts, outcome, error)
               VALUES (%s, %s, now() - make_interval(secs => %s), now(),
                       now() + make_interval(secs => %s), 'w1', 1, %s, %s)""",
            (first, run, late, seconds, outcome, error),
        )

    response = client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    m = samples(response.get_data(as_text=True))
    assert m[("orders_orders", (("status", "scheduled"),))] == 2
    assert m[("orders_orders", (("status", "failed"),))] == 0
    assert m[("orders_jobs", (("queue", "orders"), ("status", "todo")))] == 2
    duration = "orders_execution_duration_seconds"
    assert m[(f"{duration}_bucket", (("le", "0.025"),))] == 1
    assert m[(f"{duration}_bucket", (("le", "0.5"),))] == 2
    assert m[(f"{duration}_bucket", (("le", "5.0"),))] == 2
    assert m[(f"{duration}_bucket", (("le", "+Inf"),))] == 3
    assert abs(m[(f"{duration}_sum", ())] - 7.32) < 1e-6
    assert m[("orders_execution_lateness_seconds_bucket", (("le", "30.0"),))] == 2
    assert m[("orders_execution_lateness_seconds_count", ())] == 3
    assert m[("orders_stuck_orders", ())] == 0 and m[("orders_workers_live", ())] == 0
    assert m[("orders_emails_sent_total", ())] == 0
    assert m[("orders_status_log_lag_seconds", ())] >= 0


def test_metrics_token_when_configured(settings):
    app = create_app(settings.model_copy(update={"metrics_token": "scrape-secret"}))
    try:
        client = app.test_client()
        assert_error(client.get("/metrics"), 401, "unauthorized")
        bad = {"Authorization": "Bearer nope"}
        assert_error(client.get("/metrics", headers=bad), 401, "unauthorized")
        good = {"Authorization": "Bearer scrape-secret"}
        assert client.get("/metrics", headers=good).status_code == 200
    finally:
        app.extensions["orders.db"].close()


def test_worker_health_goes_stale_without_heartbeat():
    health = WorkerHealth(stale_after=0.2)
    server = serve(health, free_port(), host="127.0.0.1")
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        status, body = get(f"{url}/healthz")
        assert status == 200 and json.loads(body)["status"] == "ok"
        time.sleep(0.3)
        status, body = get(f"{url}/healthz")
        assert status == 503 and json.loads(body)["status"] == "stale"
        health.beat()
        assert get(f"{url}/healthz")[0] == 200
    finally:
        server.shutdown()
        server.server_close()


def test_real_worker_serves_health_and_job_durations(client, alice, workers, database_url):
    port = free_port()
    workers.start("w1", ORDERS_WORKER_HEALTH_PORT=str(port))
    body = {"order_name": "soap", "schedule_time": in_(0)}
    order = client.post("/orders", json=body, headers=alice.headers).json
    query = "SELECT status FROM orders WHERE order_id = %(order_id)s"
    wait_until(database_url, query, lambda r: r[0]["status"] == "completed", params=order)

    status, body = get(f"http://127.0.0.1:{port}/healthz")
    assert status == 200 and json.loads(body)["heartbeat_age"] < 3
    status, text = get(f"http://127.0.0.1:{port}/metrics")
    m = samples(text)
    assert m[("orders_worker_runs_total", (("outcome", "ran"),))] >= 1  # the order's run
    assert m[("orders_worker_batch_duration_seconds_count", ())] >= 1
    key = (("outcome", "succeeded"), ("task", "recover_stuck_orders"))  # a Procrastinate task
    assert m[("orders_worker_job_duration_seconds_count", key)] >= 1
    assert ("orders_worker_heartbeat_age_seconds", ()) in m


def test_an_idle_client_does_not_block_healthz():
    """A client that connects and sends nothing (or half a request) holds one thread until
    its timeout, never the probe."""
    health = WorkerHealth(stale_after=30)
    server = serve(health, free_port())
    try:
        host, port = server.server_address[:2]
        idle = socket.create_connection((host, port))
        half = socket.create_connection((host, port))
        half.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # headers never finished
        started = time.monotonic()
        status, body = get(f"http://{host}:{port}/healthz")
        assert status == 200 and json.loads(body)["status"] == "ok"
        assert time.monotonic() - started < 2
        idle.settimeout(30)
        assert idle.recv(1) == b""  # the server hung up on the idle client
        idle.close()
        half.close()
    finally:
        server.shutdown()
        server.server_close()


def test_worker_health_binds_to_loopback_unless_told():
    health = WorkerHealth(stale_after=30)
    server = serve(health, free_port())
    try:
        assert server.server_address[0] == "127.0.0.1"
    finally:
        server.shutdown()
        server.server_close()


def test_unregistered_is_unhealthy_until_the_next_registration_beats():
    health = WorkerHealth(stale_after=30)
    server = serve(health, free_port())
    try:
        url = f"http://127.0.0.1:{server.server_port}/healthz"
        health.beat(registered=False)
        status, body = get(url)
        assert status == 503 and json.loads(body)["status"] == "unregistered"
        health.beat()
        assert get(url)[0] == 200
    finally:
        server.shutdown()
        server.server_close()


def test_a_worker_whose_registration_is_gone_starts_over(workers, database_url, db):
    """Peers delete the row of a worker they take for dead (and retry its jobs): the worker
    notices (at its next heartbeat, which also flips /healthz to 503 "unregistered", or at its
    next fetch), registers again and is healthy again."""
    port = free_port()
    workers.start("w1", ORDERS_WORKER_HEALTH_PORT=str(port))
    up = "SELECT worker_id AS id FROM worker_processes"  # registered, control loop running
    [first] = wait_until(database_url, up, bool, timeout=60)

    db.execute("DELETE FROM procrastinate_workers")

    wait_until(
        database_url,
        up.replace("processes", "processes WHERE worker_id <> %(id)s"),
        bool,
        timeout=60,
        params=first,
    )
    deadline = time.monotonic() + 30
    while (answer := _probe(f"http://127.0.0.1:{port}/healthz"))[0] != 200:
        assert time.monotonic() < deadline, answer
        time.sleep(0.2)


def _probe(url: str) -> tuple[int, str]:
    try:
        return get(url)
    except OSError:  # not listening yet
        return 0, ""


def test_a_run_lands_in_the_smallest_bucket_not_below_it(db):
    """The rollups' histogram bucket of a value, as Prometheus' `le` means it."""
    values = [0.0, 0.005, 0.0051, 0.3, 1.0, 2.5, 2.6, 4.9999, 59.99, 60.0, 300.0, 300.1, -1.0]

    rows = db.execute("SELECT rollup_bucket(x) AS b FROM unnest(%s::float8[]) x", (values,))

    expected = [next((f"{b:g}" for b in BUCKETS if x <= b), "+Inf") for x in values]
    assert [r["b"] for r in rows] == expected
