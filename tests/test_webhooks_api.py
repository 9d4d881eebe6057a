"""The customer's webhook API, and events written by triggers in the transaction of the change
that causes them (API, worker or SQL by hand), once per endpoint that wants them."""

from __future__ import annotations

import pytest

from tests.helpers import assert_error, in_
from tests.receivers import Receiver, hook_settings

EVENTS = (
    "SELECT event_id, order_id, event_type, sequence, data FROM webhook_events ORDER BY event_id"
)
DELIVERIES = "SELECT delivery_id, endpoint_id, status, attempts FROM webhook_deliveries ORDER BY 1"
WAKE = "SELECT count(*) AS n FROM procrastinate_jobs WHERE task_name = 'deliver_webhooks'"


@pytest.fixture
def settings(settings):
    """Receivers here are local: private targets allowed (tests of the refusal do not)."""
    return hook_settings(settings)


def register(client, account, url="http://127.0.0.1:9/hook", events=None, **fields) -> dict:
    body = {"url": url, "events": events or ["order.cancelled"]} | fields
    response = client.post("/webhooks", json=body, headers=account.headers)
    assert response.status_code == 201, response.json
    return response.json


def place(client, account, **fields) -> dict:
    body = {"order_name": "tea", "schedule_time": in_(3600)} | fields
    response = client.post("/orders", json=body, headers=account.headers)
    assert response.status_code == 201, response.json
    return response.json


def test_register_list_change_and_delete(client, alice, bob):
    """The secret is shown once (then a hint); another account's endpoint is a 404."""
    events = ["order.completed", "order.failed", "order.completed"]

    created = register(client, alice, events=events, description="shop")
    listed = client.get("/webhooks", headers=alice.headers).json["webhooks"]
    changed = client.patch(
        f"/webhooks/{created['endpoint_id']}", json={"active": False}, headers=alice.headers
    )
    theirs = client.get(f"/webhooks/{created['endpoint_id']}", headers=bob.headers)
    deleted = client.delete(f"/webhooks/{created['endpoint_id']}", headers=alice.headers)
    after = client.get("/webhooks", headers=alice.headers).json["webhooks"]

    assert created["secret"].startswith("whsec_") and len(created["secret"]) > 32
    assert created["events"] == ["order.completed", "order.failed"]
    assert [w["secret_hint"] for w in listed] == [created["secret"][-4:]]
    assert "secret" not in listed[0]
    assert changed.json["active"] is False
    assert_error(theirs, 404, "not_found")
    assert deleted.status_code == 200 and after == []


@pytest.mark.parametrize(
    "body",
    [
        {"url": "ftp://example.com/hook", "events": ["order.failed"]},
        {"url": "https://user:pw@example.com/hook", "events": ["order.failed"]},
        {"url": "https://example.com/hook", "events": []},
        {"url": "https://example.com/hook", "events": ["order.exploded"]},
        {"url": "https://example.com/ho ok", "events": ["order.failed"]},
        {"url": "https://example.com/hook", "events": ["order.failed"], "secret": "mine"},
    ],
)
def test_bad_registrations_are_422(client, alice, body):
    """Scheme, credentials in the URL, events and unknown fields are checked."""
    assert_error(client.post("/webhooks", json=body, headers=alice.headers), 422)


def test_an_account_has_at_most_the_configured_number(client, alice, settings):
    """Past ORDERS_WEBHOOK_MAX_ENDPOINTS: 409 too_many_webhooks."""
    for _ in range(settings.webhook_max_endpoints):
        register(client, alice)

    refused = client.post(
        "/webhooks", json={"url": "http://127.0.0.1:9/x", "events": ["order.failed"]},
        headers=alice.headers,
    )  # fmt: skip

    assert_error(refused, 409, "too_many_webhooks")


def test_cancel_writes_the_event_in_its_own_transaction(client, db, alice):
    """One event and one delivery per wanting endpoint, a wake-up job; nothing for others."""
    register(client, alice, events=["order.cancelled"])
    register(client, alice, events=["order.cancelled", "order.failed"])
    register(client, alice, events=["order.completed"])
    order = place(client, alice)

    client.delete(f"/orders/{order['order_id']}", headers=alice.headers)

    events = db.execute(EVENTS).fetchall()
    deliveries = db.execute(DELIVERIES).fetchall()
    assert [(e["order_id"], e["event_type"], e["sequence"]) for e in events] == [
        (order["order_id"], "order.cancelled", 1)
    ]
    assert events[0]["data"]["status"] == "cancelled"
    assert events[0]["data"]["previous_status"] == "scheduled"
    assert sorted((d["endpoint_id"], d["status"]) for d in deliveries) == [
        (1, "pending"),
        (2, "pending"),
    ]
    assert db.execute(WAKE).fetchone()["n"] == 1


def test_sql_by_hand_is_covered_and_a_rollback_emits_nothing(client, db, alice):
    """An operator's UPDATE emits the event; a rolled-back change leaves no trace."""
    register(client, alice, events=["order.cancelled", "order.completed"])
    first, second = place(client, alice), place(client, alice)

    with db.transaction(force_rollback=True):
        db.execute(
            "UPDATE orders SET status = 'cancelled' WHERE order_id = %s", (first["order_id"],)
        )
    db.execute(
        "UPDATE orders SET status = 'completed', next_run_at = NULL WHERE order_id = %s",
        (second["order_id"],),
    )

    events = db.execute(EVENTS).fetchall()
    assert [(e["order_id"], e["event_type"]) for e in events] == [
        (second["order_id"], "order.completed")
    ]
    assert events[0]["data"]["actor"].startswith("db:")


def test_owners_without_endpoints_cost_no_rows(client, db, alice, bob):
    """Bob's orders write no events; only Alice's endpoint gets hers."""
    register(client, alice, events=["order.cancelled"])
    mine, theirs = place(client, alice), place(client, bob)

    client.delete(f"/orders/{theirs['order_id']}", headers=bob.headers)
    client.delete(f"/orders/{mine['order_id']}", headers=alice.headers)

    assert [e["order_id"] for e in db.execute(EVENTS)] == [mine["order_id"]]


def test_runs_and_status_changes_are_numbered_per_order(client, db, alice):
    """A run's success and the completion it causes: sequence 1 then 2, in one transaction."""
    register(client, alice, events=["order.run_succeeded", "order.completed"])
    order = place(client, alice)
    run_by_hand(db, order["order_id"])

    events = db.execute(EVENTS).fetchall()

    assert [(e["event_type"], e["sequence"]) for e in events] == [
        ("order.run_succeeded", 1),
        ("order.completed", 2),
    ]
    assert events[0]["data"]["run_number"] == 1


def run_by_hand(db, order_id: int) -> None:
    """What a run writes, in one transaction (the worker's statements, by SQL)."""
    with db.transaction():
        db.execute(
            "INSERT INTO order_executions (order_id, run_number, scheduled_for, started_at, "
            "finished_at, worker, attempts, outcome) SELECT order_id, 1, next_run_at, now(), "
            "now(), 'test', 1, 'succeeded' FROM orders WHERE order_id = %s",
            (order_id,),
        )
        db.execute(
            "UPDATE orders SET status = 'completed', executions_count = 1, next_run_at = NULL "
            "WHERE order_id = %s",
            (order_id,),
        )


def test_ping_rotation_deliveries_and_redelivery(client, db, alice, database_url, settings):
    """Ping is delivered like any event; a rotated secret and the previous one both sign;
    redelivery reuses the event's key, and is refused while the delivery is still queued."""
    from orders.webhooks.signing import verify
    from tests.receivers import deliver

    receiver = Receiver().start()
    try:
        hook = register(client, alice, url=receiver.url(), events=["order.failed"])
        path = f"/webhooks/{hook['endpoint_id']}"
        rotated = client.post(f"{path}/rotate-secret", json={"previous_valid_hours": 1},
                              headers=alice.headers).json  # fmt: skip
        pinged = client.post(f"{path}/ping", headers=alice.headers)
        early = client.post(
            f"/webhooks/deliveries/{pinged.json['delivery_id']}/redeliver", headers=alice.headers
        )
        deliver(database_url, settings)
        again = client.post(
            f"/webhooks/deliveries/{pinged.json['delivery_id']}/redeliver", headers=alice.headers
        )
        deliver(database_url, settings)
        page = client.get(f"{path}/deliveries", headers=alice.headers).json
        detail = client.get(
            f"/webhooks/deliveries/{pinged.json['delivery_id']}", headers=alice.headers
        ).json
    finally:
        receiver.stop()

    first, second = receiver.hits
    signature = first.headers["Orders-Signature"]
    assert pinged.status_code == 202 and pinged.json["event_type"] == "ping"
    assert_error(early, 409, "delivery_pending")
    assert again.status_code == 202 and again.json["status"] == "pending"
    assert first.event["type"] == "ping" and first.body == second.body
    assert receiver.keys == [pinged.json["event_id"]] * 2
    assert verify(signature, first.body, rotated["secret"])
    assert verify(signature, first.body, hook["secret"])  # the previous one, for an hour
    assert signature.count("v1=") == 2
    assert [d["status"] for d in page["deliveries"]] == ["delivered"]
    assert [(a["attempt"], a["status_code"]) for a in detail["history"]] == [(1, 200), (2, 200)]
    assert detail["payload"]["id"] == pinged.json["event_id"]


def test_failures_carry_the_error_and_provider_answers_are_events(client, db, alice, acme):
    """order.failed holds the order's last error; a provider's answer is provider.answered,
    numbered after the order's earlier events."""
    from tests.test_providers import make_requests, order_for, respond

    register(client, alice, events=["order.failed", "provider.answered"])
    doomed = place(client, alice)
    db.execute(
        "UPDATE orders SET status = 'failed', last_error = 'provider unreachable', "
        "next_run_at = NULL WHERE order_id = %s",
        (doomed["order_id"],),
    )
    ordered = order_for(client, alice, acme)
    (request_id,) = make_requests(db, ordered["order_id"], runs=1)

    respond(client, acme, [request_id], action="decline", message="out of stock")

    events = db.execute(EVENTS).fetchall()
    assert [(e["event_type"], e["sequence"]) for e in events] == [
        ("order.failed", 1),
        ("provider.answered", 1),
    ]
    assert events[0]["data"]["error"] == "provider unreachable"
    assert events[1]["data"] | {"responded_at": None} == {
        "order_id": ordered["order_id"], "request_id": request_id, "run_number": 1,
        "provider_id": acme.provider_id, "provider_name": "Acme", "status": "declined",
        "response_message": "out of stock", "responded_at": None,
    }  # fmt: skip
