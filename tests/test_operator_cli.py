"""The operator commands: stats, orders list/show, retry, cancel, requeue-failed, prune, users."""

from __future__ import annotations

from click.testing import CliRunner

from orders.cli.main import main
from tests.helpers import in_


def create(client, account, name: str = "soap", **fields) -> int:
    body = {"order_name": name, "schedule_time": in_(3600)} | fields
    response = client.post("/orders", json=body, headers=account.headers)
    assert response.status_code == 201, response.json
    return response.json["order_id"]


def fail(db, order_id: int) -> None:
    """Arrange a failed order as a worker leaves it: failed, job failed, error recorded."""
    db.execute(
        "UPDATE procrastinate_jobs SET status = 'failed', attempts = 2 WHERE id = "
        "(SELECT job_id FROM orders WHERE order_id = %s)",
        (order_id,),
    )
    db.execute(
        "UPDATE orders SET status = 'failed', last_error = 'provider down', "
        "next_run_at = NULL WHERE order_id = %s",
        (order_id,),
    )


def test_stats_shows_statuses_queues_and_lateness(cli, client, alice, db):
    create(client, alice)
    fail(db, create(client, alice))

    statuses, queues, summary, sizes = cli("stats").strip().split("\n\n")
    counts = dict(line.split() for line in statuses.splitlines()[2:])
    assert counts == {
        "scheduled": "1",
        "processing": "0",
        "completed": "0",
        "failed": "1",
        "cancelled": "0",
        "expired": "0",
    }
    assert [line.split()[:3] for line in queues.splitlines()[2:]] == [["orders", "todo", "1"]]
    assert "overdue 0 · stuck 0" in summary and "failed orders 1 · live workers 0" in summary
    tables = [line.split()[0] for line in sizes.splitlines()[2:]]
    assert tables[:3] == ["order_events", "order_executions", "job_errors"]
    assert "rows (estimate)" in sizes


def test_list_filters_and_show_timeline(cli, client, alice, bob, db):
    soap, tea = (
        create(client, alice, "soap"),
        create(client, bob, "tea", is_recurring=True, repeat_interval=1, repeat_unit="hours"),
    )
    out = cli("orders", "list")
    assert "soap" in out and "tea" in out and "alice@example.com" in out

    out = cli("orders", "list", "--email", "BOB@example.com")
    assert "tea" in out and "soap" not in out
    assert "soap" in cli("orders", "list", "--one-time") and "tea" not in cli(
        "orders", "list", "--one-time"
    )
    assert cli("orders", "list", "--status", "failed").strip() == "(none)"
    assert "tea" not in cli("orders", "list", "--before", str(tea))

    out = cli("orders", "show", str(soap))
    assert "order_name" in out and "soap" in out
    assert "audit" in out and "job" in out and "deferred" in out and "older:" not in out
    events, page = [], cli("orders", "show", str(soap), "--limit", "1")  # newest first
    while True:
        events.append(page.split("\n\n")[1].splitlines()[2].split()[3])
        if "older:" not in page:
            break
        cursor = page.rsplit("--cursor ", 1)[1].strip()
        page = cli("orders", "show", str(soap), "--limit", "1", "--cursor", cursor)
    assert events == ["scheduled", "created", "deferred"]  # the job is scheduled in an hour
    assert "Error: order not found" in cli("orders", "show", "999", code=1)


def test_retry_and_cancel_write_the_operator_into_the_audit_trail(cli, client, alice, db):
    failed, scheduled = create(client, alice), create(client, alice)
    fail(db, failed)

    assert f"order {failed} scheduled" in cli("retry", str(failed))
    job = db.execute(
        "SELECT j.status FROM orders o JOIN procrastinate_jobs j ON j.id = o.job_id "
        "WHERE o.order_id = %s",
        (failed,),
    ).fetchone()
    assert job["status"] == "todo"
    assert "only failed orders can be retried" in cli("retry", str(scheduled), code=1)

    assert f"order {scheduled} cancelled" in cli("cancel", str(scheduled))
    actors = db.execute(
        "SELECT DISTINCT actor FROM order_events WHERE order_id = ANY(%s) "
        "AND event_type = 'status_changed' AND actor <> 'db:postgres'",  # not the arrangement
        ([failed, scheduled],),
    ).fetchall()
    assert {a["actor"] for a in actors} == {"operator:tester"}


def test_requeue_failed_asks_then_requeues_all(cli, client, alice, db):
    ids = [create(client, alice) for _ in range(3)]
    for order_id in ids:
        fail(db, order_id)

    assert "Aborted" in cli("requeue-failed", input="n\n", code=1)
    assert (
        db.execute("SELECT count(*) AS n FROM orders WHERE status = 'failed'").fetchone()["n"] == 3
    )

    out = cli("requeue-failed", "--yes")
    assert "requeued 3 of 3 failed orders" in out
    assert (
        db.execute("SELECT count(*) AS n FROM orders WHERE status = 'failed'").fetchone()["n"] == 0
    )
    assert cli("requeue-failed") == "no failed orders\n"


def test_prune_deletes_expired_sessions(cli, alice, db):
    db.execute(
        "INSERT INTO sessions (user_id, refresh_jti, refresh_expires_at) "
        "VALUES (%s, gen_random_uuid(), now() - interval '1 day')",
        (alice.user_id,),
    )
    out = cli("prune", "--retention-hours", "1")
    assert "0 procrastinate_jobs" in out and "1 expired sessions, 0 login counters" in out
    assert db.execute("SELECT count(*) AS n FROM sessions").fetchone()["n"] == 1  # alice's login


def test_users_add_admin_and_set_role(cli, client, monkeypatch, alice):
    monkeypatch.setenv("ORDERS_USER_PASSWORD", "admin password 1")
    assert "admin@example.com (admin)" in cli("users", "add", "--email", "Admin@Example.com")
    login = {"email": "admin@example.com", "password": "admin password 1"}
    assert client.post("/auth/login", json=login).status_code == 200
    assert "already exists" in cli("users", "add", "--email", "admin@example.com", code=1)
    assert "email" in cli("users", "add", "--email", "not-an-email", code=1)

    assert "alice@example.com (admin)" in cli("users", "set-role", "alice@example.com", "admin")
    me = client.get("/auth/me", headers=alice.headers).json
    assert me["role"] == "admin"
    assert "account not found" in cli("users", "set-role", "nobody@example.com", "admin", code=1)


def test_without_a_database_url_the_command_says_so(monkeypatch, tmp_path):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here
    result = CliRunner().invoke(main, ["stats"])
    assert result.exit_code == 1 and "DATABASE_URL is not set" in result.output
