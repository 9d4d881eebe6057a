"""An account's owner exports its data and deletes it: orders cancelled, what the customer
wrote erased from orders, the audit trail and mail, sessions ended, the row a tombstone."""

from __future__ import annotations

import pytest

from tests.conftest import Account
from tests.helpers import assert_error, in_, jobs_of

SECRET = "Alice's secret birthday present"


def create(client, alice, **fields) -> dict:
    body = {"order_name": SECRET, "schedule_time": in_(3600), "payload": {"note": SECRET}}
    response = client.post("/orders", json=body | fields, headers=alice.headers)
    assert response.status_code == 201, response.json
    return response.json


def delete(client, account: Account, password: str | None = None):
    body = {"password": password or account.password}
    return client.delete("/auth/me", json=body, headers=account.headers)


@pytest.fixture
def alices_history(client, db, alice) -> dict[str, int]:
    """Orders in every state, a renamed one (its old name is in the audit trail), mail."""
    scheduled = create(client, alice)
    renamed = create(client, alice, is_recurring=True, repeat_interval=1, repeat_unit="days")
    client.patch(
        f"/orders/{renamed['order_id']}", json={"order_name": SECRET + " 2"}, headers=alice.headers
    )
    failed, done = create(client, alice), create(client, alice)
    db.execute("UPDATE orders SET status = 'failed' WHERE order_id = %s", (failed["order_id"],))
    db.execute(
        "UPDATE orders SET status = 'completed', next_run_at = NULL WHERE order_id = %s",
        (done["order_id"],),
    )
    for status in ("pending", "sent"):
        db.execute(
            "INSERT INTO outbox (kind, recipient, subject, body, status, attempts, sent_at, "
            "next_attempt_at, created_at) VALUES ('customer_notice', %s, 'Your provider', %s, "
            "%s, %s, CASE WHEN %s = 'sent' THEN now() END, now(), now())",
            (alice.email, SECRET, status, int(status == "sent"), status),
        )
    return {
        "scheduled": scheduled["order_id"],
        "renamed": renamed["order_id"],
        "failed": failed["order_id"],
        "completed": done["order_id"],
    }


def test_export_has_the_account_its_orders_their_history_and_sessions(client, alice):
    order = create(client, alice)
    client.patch(f"/orders/{order['order_id']}", json={"order_name": "x"}, headers=alice.headers)

    export = client.get("/auth/me/export", headers=alice.headers)

    assert export.status_code == 200
    body = export.json
    assert body["account"]["email"] == alice.email and "password" not in export.get_data(True)
    assert [o["order_id"] for o in body["orders"]] == [order["order_id"]]
    assert [e["event_type"] for e in body["orders"][0]["events"]] == ["created", "updated"]
    assert body["orders"][0]["events"][1]["details"]["changed"]["order_name"] == "x"
    assert len(body["sessions"]) == 1 and body["sessions"][0]["ended_at"] is None


def test_delete_with_the_wrong_password_changes_nothing(client, db, alice, alices_history):
    assert_error(delete(client, alice, "not the password"), 401, "invalid_credentials")

    assert client.get("/auth/me", headers=alice.headers).status_code == 200
    assert (
        db.execute("SELECT count(*) AS n FROM orders WHERE status = 'cancelled'").fetchone()["n"]
        == 0
    )


def test_delete_cancels_erases_and_ends_sessions(client, db, alice, bob, alices_history):
    bobs = create(client, bob)

    deleted = delete(client, alice)

    assert deleted.status_code == 200, deleted.json
    assert deleted.json["orders_cancelled"] == 3  # scheduled x2 and failed; completed stays
    statuses = db.execute(
        "SELECT order_id, status, order_name, payload, idempotency_key FROM orders "
        "WHERE user_id = %s ORDER BY order_id",
        (alice.user_id,),
    ).fetchall()
    assert [r["status"] for r in statuses] == ["cancelled", "cancelled", "cancelled", "completed"]
    assert {(r["order_name"], str(r["payload"])) for r in statuses} == {("deleted", "{}")}
    for order_id in (alices_history["scheduled"], alices_history["renamed"]):
        assert [j["status"] for j in jobs_of(db, order_id)][-1] == "cancelled"
    assert client.get(f"/orders/{bobs['order_id']}", headers=bob.headers).json["status"] == (
        "scheduled"
    )


def test_delete_leaves_no_personal_data_behind(client, db, alice, alices_history):
    delete(client, alice)

    dump = " ".join(
        str(row)
        for table in ("users", "orders", "order_events", "outbox", "sessions", "login_failures")
        for row in db.execute(f"SELECT * FROM {table}").fetchall()  # noqa: S608 - fixed names
    )
    assert SECRET not in dump and alice.email not in dump
    user = db.execute("SELECT email, deleted_at FROM users").fetchone()
    assert user["email"] == f"deleted-{alice.user_id}@deleted.invalid" and user["deleted_at"]
    mail = db.execute("SELECT status, body FROM outbox").fetchall()
    assert mail == [{"status": "sent", "body": "(removed: the account was deleted)"}]
    events = db.execute(
        "SELECT count(*) AS n FROM order_events WHERE user_id = %s", (alice.user_id,)
    ).fetchone()
    assert events["n"] >= 8  # the history keeps its events, without what she wrote


def test_a_deleted_account_cannot_be_used_and_its_email_is_free(client, alice):
    other_session = client.post(
        "/auth/login", json={"email": alice.email, "password": alice.password}
    ).json

    delete(client, alice)

    assert_error(client.get("/auth/me", headers=alice.headers), 401)
    refresh = {"Authorization": f"Bearer {other_session['refresh_token']}"}
    assert_error(client.post("/auth/refresh", headers=refresh), 401)
    login = client.post("/auth/login", json={"email": alice.email, "password": alice.password})
    assert_error(login, 401, "invalid_credentials")
    assert Account(client, alice.email, "a new life 123").user_id != alice.user_id


def test_delete_while_an_order_runs_is_a_409_and_changes_nothing(app, client, db, alice):
    order = create(client, alice)
    db.execute("BEGIN")
    db.execute("SELECT 1 FROM orders WHERE order_id = %s FOR UPDATE", (order["order_id"],))
    try:
        response = delete(client, alice)
    finally:
        db.execute("ROLLBACK")

    assert_error(response, 409, "busy")
    assert client.get("/auth/me", headers=alice.headers).status_code == 200
