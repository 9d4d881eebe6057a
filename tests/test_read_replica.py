"""DATABASE_READ_URL: lists, the dashboard overview and /metrics read a real streaming replica;
everything else, and every write, uses the primary."""

from __future__ import annotations

import psycopg
import pytest

from bench.cluster import free_port
from orders.web.app import create_app
from tests.conftest import Account
from tests.helpers import assert_error, in_
from tests.replica import standby
from tests.workers import wait_until


@pytest.fixture(scope="module")
def replica(cluster):
    """A hot standby of the session cluster (URL without a database name)."""
    with standby(cluster.url()) as url:
        yield url


@pytest.fixture
def replicated(settings, replica, database_url):
    """The API with DATABASE_READ_URL on the standby's copy of this test's database."""
    name = database_url.rsplit("/", 1)[1]
    wait_until(
        f"{replica}/postgres",
        "SELECT datname FROM pg_database WHERE datname = %(n)s",
        bool,
        timeout=60,
        params={"n": name},
    )
    app = create_app(settings.model_copy(update={"database_read_url": f"{replica}/{name}"}))
    yield app, f"{replica}/{name}"
    app.extensions["orders.read_db"].close()
    app.extensions["orders.db"].close()


def listed(client, account) -> list[int]:
    return [o["order_id"] for o in client.get("/orders", headers=account.headers).json["orders"]]


def test_lists_read_the_replica_and_may_lag_it(replicated, db):
    """With replay paused on the standby, a new order is at once readable by id (primary) but
    missing from the list (replica); once replay resumes, the list catches up."""
    app, read_url = replicated
    client = app.test_client()
    ada = Account(client, "ada@example.com")
    first = client.post(
        "/orders", json={"order_name": "a", "schedule_time": in_(600)}, headers=ada.headers
    ).json["order_id"]
    wait_until(
        read_url,
        "SELECT 1 FROM orders WHERE order_id = %(id)s",
        bool,
        timeout=60,
        params={"id": first},
    )

    with psycopg.connect(read_url, autocommit=True) as standby_conn:
        standby_conn.execute("SELECT pg_wal_replay_pause()")
        try:
            second = client.post(
                "/orders", json={"order_name": "b", "schedule_time": in_(600)}, headers=ada.headers
            ).json["order_id"]
            by_id = client.get(f"/orders/{second}", headers=ada.headers)
            while_paused = listed(client, ada)
        finally:
            standby_conn.execute("SELECT pg_wal_replay_resume()")

    assert by_id.status_code == 200 and while_paused == [first]
    wait_until(
        read_url,
        "SELECT 1 FROM orders WHERE order_id = %(id)s",
        bool,
        timeout=60,
        params={"id": second},
    )
    assert listed(client, ada) == [second, first]


def test_dashboard_and_metrics_answer_from_a_read_only_standby(replicated, db):
    """The overview, the mail dashboard and /metrics only read: they answer from the hot
    standby (which refuses every write), so with replay paused they miss a new order."""
    app, read_url = replicated
    client = app.test_client()
    ops = Account(client, "ops@example.com")
    db.execute("UPDATE users SET role = 'admin' WHERE user_id = %s", (ops.user_id,))
    client.post("/orders", json={"order_name": "x"}, headers=ops.headers)
    wait_until(
        read_url,
        "SELECT 1 FROM users u JOIN orders o USING (user_id) WHERE u.role = 'admin'",
        bool,
        timeout=60,
    )

    with psycopg.connect(read_url, autocommit=True) as standby_conn:
        standby_conn.execute("SELECT pg_wal_replay_pause()")
        try:
            client.post("/orders", json={"order_name": "y"}, headers=ops.headers)
            overview = client.get("/dashboard/api/overview", headers=ops.headers)
            mail = client.get("/dashboard/mail", headers=ops.headers)
            metrics = client.get("/metrics")
        finally:
            standby_conn.execute("SELECT pg_wal_replay_resume()")

    assert overview.status_code == 200, overview.json
    assert {"status": "scheduled", "n": 1} in overview.json["orders"]  # the primary has 2
    assert mail.status_code == 200, mail.json
    assert metrics.status_code == 200 and 'orders_orders{status="scheduled"} 1.0' in metrics.text
    assert db.execute("SELECT count(*) AS n FROM orders").fetchone()["n"] == 2
    with psycopg.connect(read_url) as conn, pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        conn.execute("DELETE FROM orders")


def test_without_a_read_url_everything_reads_the_primary(app, settings):
    """DATABASE_READ_URL unset (or empty, as in .env.example): one pool, the primary's."""
    assert app.extensions["orders.read_db"] is app.extensions["orders.db"]
    assert settings.model_copy(update={"database_read_url": ""}).read_database() is None


def test_a_replica_that_is_down_is_a_503_for_its_reads_only(settings, db):
    """Reads sent to an unreachable replica answer 503 in the error shape; the primary's
    endpoints keep working."""
    down = settings.model_copy(
        update={
            "database_read_url": f"postgresql://postgres@127.0.0.1:{free_port()}/x",
            "db_timeout_seconds": 1.0,
        }
    )
    app = create_app(down)
    client = app.test_client()
    try:
        ada = Account(client, "ada@example.com")
        order = client.post("/orders", json={"order_name": "a"}, headers=ada.headers)

        listing = client.get("/orders", headers=ada.headers)
        one = client.get(f"/orders/{order.json['order_id']}", headers=ada.headers)
    finally:
        app.extensions["orders.read_db"].close()
        app.extensions["orders.db"].close()

    assert_error(listing, 503, "database_unavailable")
    assert order.status_code == 201 and one.status_code == 200
