"""Real `orders worker` processes deliver webhooks: every event of every run once to a healthy
receiver, in sequence per order; nothing lost to a flapping one; a worker killed mid-post is
made up for by another, with the same Idempotency-Key."""

from __future__ import annotations

from collections import defaultdict

import pytest

from tests.helpers import in_
from tests.receivers import Receiver
from tests.workers import wait_until

pytestmark = pytest.mark.slow

WEBHOOK_ENV = {
    "ORDERS_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
    "ORDERS_WEBHOOK_SWEEP_CRON": "* * * * * */1",
    "ORDERS_WEBHOOK_RETRY_BASE_SECONDS": "0.2",
    "ORDERS_WEBHOOK_CONNECT_TIMEOUT_SECONDS": "1",
    "ORDERS_WEBHOOK_READ_TIMEOUT_SECONDS": "5",
    "ORDERS_CIRCUIT_FAILURE_THRESHOLD": "3",
    "ORDERS_CIRCUIT_COOLDOWN_SECONDS": "1",
}
SETTLED = "SELECT count(*) AS n FROM webhook_deliveries WHERE status = 'delivered'"


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"webhook_allow_private_targets": True})


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


def subscribe(client, account, receiver, events) -> None:
    body = {"url": receiver.url(), "events": events}
    response = client.post("/webhooks", json=body, headers=account.headers)
    assert response.status_code == 201, response.json
    receiver.secret = response.json["secret"]


def delivered(count: int):
    return lambda rows: rows[0]["n"] >= count


def test_workers_deliver_every_event_once_in_sequence(
    client, alice, workers, receiver, database_url
):
    """10 one-time orders and one recurring order of 3 runs: 24 events, each posted once,
    signed, numbered 1, 2, ... per order."""
    subscribe(client, alice, receiver, ["order.run_succeeded", "order.completed"])
    for name in ("w1", "w2"):
        workers.start(name, **WEBHOOK_ENV)
    for i in range(10):
        client.post("/orders", json={"order_name": f"o{i}", "schedule_time": in_(0.5)},
                    headers=alice.headers)  # fmt: skip
    client.post(
        "/orders",
        json={"order_name": "r", "schedule_time": in_(0.5), "is_recurring": True,
              "repeat_interval": 1, "repeat_unit": "seconds", "max_executions": 3},
        headers=alice.headers,
    )  # fmt: skip

    wait_until(database_url, SETTLED, delivered(24), timeout=120)

    by_order = defaultdict(list)
    for hit in receiver.hits:
        by_order[hit.event["order_id"]].append((hit.event["sequence"], hit.event["type"]))
    assert len(receiver.hits) == 24 and len(set(receiver.keys)) == 24
    assert all(hit.valid for hit in receiver.hits)
    sequences = sorted(sorted(events) for events in by_order.values())
    assert sequences.count([(1, "order.run_succeeded"), (2, "order.completed")]) == 10
    assert [(1, "order.run_succeeded"), (2, "order.run_succeeded"), (3, "order.run_succeeded"),
            (4, "order.completed")] in sequences  # fmt: skip


def test_a_flapping_receiver_loses_nothing_with_workers(
    client, db, alice, workers, receiver, database_url
):
    """The first 6 posts fail (the circuit may open, probe and close, depending on how the
    failures fall into claims): every event still arrives, and the circuit ends closed."""
    subscribe(client, alice, receiver, ["order.completed"])
    receiver.fail_first = 6
    workers.start("w1", **WEBHOOK_ENV)
    ids = [
        client.post("/orders", json={"order_name": f"o{i}", "schedule_time": in_(0.5)},
                    headers=alice.headers).json["order_id"]
        for i in range(8)
    ]  # fmt: skip

    wait_until(database_url, SETTLED, delivered(8), timeout=120)

    ok = {h.event["order_id"] for h in receiver.hits[6:]}
    assert ok == set(ids)
    assert set(receiver.keys[:6]) <= set(receiver.keys[6:])
    circuit = db.execute("SELECT state::text, opens, half_opens, closes FROM circuits").fetchone()
    # Each time it opened from closed it closed again (a probe's success, or a delivery already
    # in flight succeeding); a failed probe re-opens it without a close, so the opens exceed the
    # closes by at most the probes sent.
    assert circuit["state"] == "closed"
    assert (circuit["opens"] > 0) == (circuit["closes"] > 0)
    assert circuit["closes"] <= circuit["opens"] <= circuit["closes"] + circuit["half_opens"]


def test_a_worker_killed_mid_post_is_made_up_for_with_the_same_key(
    client, db, alice, workers, receiver, database_url
):
    """w1 posts to a slow receiver and is SIGKILLed; after the lease w2 posts it again (same
    key, same body), and the record shows the lost attempt."""
    subscribe(client, alice, receiver, ["order.cancelled"])
    receiver.delay = 3.0
    env = WEBHOOK_ENV | {"ORDERS_WEBHOOK_READ_TIMEOUT_SECONDS": "4"}
    workers.start("w1", **env)
    order = client.post("/orders", json={"order_name": "x", "schedule_time": in_(3600)},
                        headers=alice.headers).json  # fmt: skip
    client.delete(f"/orders/{order['order_id']}", headers=alice.headers)
    receiver.wait_for(1, timeout=60)

    workers.kill("w1")
    receiver.delay = 0.0
    workers.start("w2", **env)
    wait_until(database_url, SETTLED, delivered(1), timeout=120)

    first, second = receiver.hits
    assert first.body == second.body
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]
    attempts = db.execute(
        "SELECT attempt, status_code, worker FROM webhook_attempts ORDER BY attempt_id"
    ).fetchall()
    assert [(a["attempt"], a["status_code"], a["worker"]) for a in attempts] == [
        (1, None, "(lost)"),
        (2, 200, "w2"),
    ]
