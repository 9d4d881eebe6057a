"""The API through a real PgBouncer in transaction mode; workers connect directly.

PgBouncer (Debian's 1.18) hands each transaction to any server connection and keeps no
prepared statements across them, so the API runs with DB_PREPARED_STATEMENTS=false.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from psycopg.rows import dict_row

from bench import pgbouncer as pgbouncer_module
from orders.database import make_pool
from orders.web.app import create_app
from tests.conftest import Account
from tests.helpers import SUMMARY, in_
from tests.workers import wait_until


@pytest.fixture
def pooled(settings, bouncer, database_url):
    """The API app connected through PgBouncer, as deployed behind a pooler."""
    through = bouncer.url(database_url.rsplit("/", 1)[1])
    app = create_app(settings.model_copy(update={"database_url": through, "db_prepare": False}))
    yield app
    app.extensions["orders.db"].close()


def transactions_through(bouncer, database: str) -> int:
    """How many transactions PgBouncer has served for `database` (its admin console)."""
    with psycopg.connect(bouncer.url("pgbouncer"), autocommit=True, row_factory=dict_row) as c:
        stats = {row["database"]: row for row in c.execute("SHOW STATS")}
    return int(stats[database]["total_xact_count"]) if database in stats else 0


def customer_session(app) -> dict:
    """What a customer's app does through the API; the answers, by step."""
    client = app.test_client()
    ada = Account(client, "ada@example.com")
    said = {"me": client.get("/auth/me", headers=ada.headers)}
    said["single"] = client.post("/orders", json={"order_name": "now"}, headers=ada.headers)
    later = {"order_name": "later", "schedule_time": in_(3600)}
    said["later"] = client.post("/orders", json=later, headers=ada.headers)
    batch = [{"order_name": f"b{i}"} for i in range(10)] + [TWICE, later]
    said["batch"] = client.post("/orders/batch", json={"orders": batch}, headers=ada.headers)
    said["pages"] = in_parallel(app, ada, "/orders?limit=5", clients=4, each=8)
    later_id = said["later"].json["order_id"]
    said["patched"] = client.patch(f"/orders/{later_id}", json=TO_CRON, headers=ada.headers)
    cancel_id = said["batch"].json["orders"][-1]["order_id"]
    said["cancelled"] = client.delete(f"/orders/{cancel_id}", headers=ada.headers)
    said["history"] = client.get(f"/orders/{later_id}/history", headers=ada.headers)
    said["ready"] = client.get("/readyz")
    said["logout"] = client.post("/auth/logout", headers=ada.headers)
    said["after_logout"] = client.get("/auth/me", headers=ada.headers)
    return said


TWICE = {"order_name": "twice", "is_recurring": True, "repeat_interval": 1}
TWICE |= {"repeat_unit": "seconds", "max_executions": 2}
TO_CRON = {"order_name": "renamed", "is_recurring": True, "cron": "0 9 * * *", "timezone": "UTC"}


def in_parallel(app, account, path: str, clients: int, each: int) -> list:
    """`clients` threads GET `path` `each` times at once: several pooled connections, each past
    psycopg's prepare threshold, sharing PgBouncer's server connections."""

    def one(_: int) -> list:
        client = app.test_client()
        return [client.get(path, headers=account.headers) for _ in range(each)]

    with ThreadPoolExecutor(clients) as pool:
        return [answer for answers in pool.map(one, range(clients)) for answer in answers]


def test_order_flow_through_pgbouncer(pooled, bouncer, database_url, workers):
    """Sign up, log in, create one and a batch, list, patch, cancel, history, log out: every
    answer is right through the pooler, and a direct worker runs each due order once."""
    name = database_url.rsplit("/", 1)[1]
    before = transactions_through(bouncer, name)
    workers.start("w1")

    said = customer_session(pooled)

    assert said["me"].json["email"] == "ada@example.com"
    assert [said[k].status_code for k in ("single", "later", "batch")] == [201, 201, 201]
    assert all(p.status_code == 200 and len(p.json["orders"]) == 5 for p in said["pages"])
    assert said["patched"].status_code == 200 and said["patched"].json["cron"] == "0 9 * * *"
    assert said["cancelled"].json["status"] == "cancelled"
    assert [e["event_type"] for e in said["history"].json["events"]] == ["created", "updated"]
    assert said["ready"].status_code == 200 and said["logout"].status_code in (200, 204)
    assert said["after_logout"].status_code == 401
    due = {said["single"].json["order_id"]}
    due |= {o["order_id"] for o in said["batch"].json["orders"][:-1]}
    rows = wait_until(
        database_url,
        SUMMARY,
        lambda rs: all(r["status"] == "completed" for r in rs if r["order_id"] in due),
        timeout=120,
    )
    runs = sorted((r["runs"], r["distinct_runs"]) for r in rows if r["order_id"] in due)
    assert runs == [(1, 1)] * 11 + [(2, 2)]
    assert transactions_through(bouncer, name) - before >= 50  # the API's work went through it


def test_automatic_prepares_break_behind_pgbouncer_and_the_setting_avoids_it(bouncer):
    """Two clients sharing one server connection: with psycopg's automatic prepares the second
    collides with the first's prepared statement; with DB_PREPARED_STATEMENTS=false
    (prepare=False) both run. This is why the API needs the setting behind a pooler."""

    def run_both(prepare: bool) -> None:
        pools = [make_pool(bouncer.url("single"), 1, 1, 10, prepare=prepare) for _ in range(2)]
        try:
            for pool in pools:
                pool.open(wait=True)
                for _ in range(10):  # past psycopg's prepare threshold (5)
                    with pool.connection() as conn:
                        assert conn.execute("SELECT %s::int AS n", (1,)).fetchone()["n"] == 1
        finally:
            for pool in pools:
                pool.close()

    with pytest.raises(psycopg.errors.DuplicatePreparedStatement):
        run_both(prepare=True)
    run_both(prepare=False)


def test_missing_pgbouncer_fails_with_instructions(monkeypatch, tmp_path):
    """Without pgbouncer the tests that need it fail and say how to install it; never skip."""
    monkeypatch.setenv("ORDERS_PGBOUNCER", str(tmp_path / "no-such-pgbouncer"))

    with pytest.raises(RuntimeError, match="apt-get install pgbouncer"):
        pgbouncer_module.find_pgbouncer()
