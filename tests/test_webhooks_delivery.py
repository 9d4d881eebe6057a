"""Webhook delivery against real receivers on loopback: healthy, failing, slow, flapping, down,
redirecting. Nothing is lost; a healthy receiver gets each event once; a retry (after a timeout
or a lost worker) carries the same Idempotency-Key; circuits open and close as designed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orders.webhooks.delivery import Policy
from tests.helpers import in_
from tests.mail import run_on_connection
from tests.receivers import Receiver, deliver, hook_settings

DELIVERIES = "SELECT delivery_id, status, attempts, last_status_code, last_error, last_response " \
             "FROM webhook_deliveries ORDER BY delivery_id"  # fmt: skip
ATTEMPTS = "SELECT delivery_id, attempt, status_code, error, duration_ms FROM webhook_attempts " \
           "ORDER BY attempt_id"  # fmt: skip
CIRCUIT = "SELECT state::text, consecutive_failures, opens, half_opens, closes FROM circuits"


@pytest.fixture
def settings(settings):
    return hook_settings(settings)


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


def subscribe(client, account, receiver: Receiver) -> dict:
    body = {"url": receiver.url(), "events": ["order.cancelled"]}
    response = client.post("/webhooks", json=body, headers=account.headers)
    assert response.status_code == 201, response.json
    receiver.secret = response.json["secret"]
    return response.json


def cancel_orders(client, db, account, count: int) -> list[int]:
    """`count` order.cancelled events (one SQL statement cancels them all)."""
    ids = [
        client.post(
            "/orders", json={"order_name": f"o{i}", "schedule_time": in_(3600)},
            headers=account.headers,
        ).json["order_id"]
        for i in range(count)
    ]  # fmt: skip
    db.execute("UPDATE orders SET status = 'cancelled' WHERE order_id = ANY(%s)", (ids,))
    return ids


def test_a_healthy_receiver_gets_each_event_once_signed(client, db, alice, receiver, settings,
                                                        database_url):  # fmt: skip
    """Five events -> five signed posts with distinct keys; a second run sends nothing."""
    subscribe(client, alice, receiver)
    ids = cancel_orders(client, db, alice, 5)

    first = deliver(database_url, settings)
    second = deliver(database_url, settings)

    hits = receiver.hits
    assert (first.delivered, second.claimed) == (5, 0)
    assert sorted(h.event["order_id"] for h in hits) == ids
    assert all(h.valid for h in hits)
    assert len(set(receiver.keys)) == 5
    assert all(h.headers["Idempotency-Key"] == h.event["id"] for h in hits)
    assert {h.event["type"] for h in hits} == {"order.cancelled"}
    assert {h.event["sequence"] for h in hits} == {1}
    rows = db.execute(DELIVERIES).fetchall()
    assert {(r["status"], r["attempts"], r["last_status_code"]) for r in rows} == {
        ("delivered", 1, 200)
    }
    attempts = db.execute(ATTEMPTS).fetchall()
    assert len(attempts) == 5 and all(a["duration_ms"] >= 0 for a in attempts)


def test_errors_are_retried_then_failed_keeping_the_last_answer(
    client, db, alice, receiver, settings, database_url
):
    """500 every time: ORDERS_WEBHOOK_MAX_ATTEMPTS posts with the same key, then failed."""
    subscribe(client, alice, receiver)
    cancel_orders(client, db, alice, 1)
    receiver.fail_first = 100

    deliver(database_url, settings)

    row = db.execute(DELIVERIES).fetchone()
    assert (row["status"], row["attempts"], row["last_status_code"]) == ("failed", 3, 500)
    assert '"status": 500' in row["last_response"]
    assert len(set(receiver.keys)) == 1 and len(receiver.hits) == 3
    assert [a["attempt"] for a in db.execute(ATTEMPTS)] == [1, 2, 3]


def test_backoff_grows_exponentially_with_jitter(settings):
    """base * 2^(n-1), half of it random, capped."""
    policy = Policy.from_settings(
        hook_settings(settings, webhook_retry_base_seconds=10, webhook_retry_max_seconds=60)
    )

    waits = [[policy.retry_in(n) for _ in range(50)] for n in (1, 2, 3, 4, 5)]

    bounds = [(5, 10), (10, 20), (20, 40), (30, 60), (30, 60)]
    for waits_n, (low, high) in zip(waits, bounds, strict=True):
        assert low <= min(waits_n) and max(waits_n) <= high
    assert len(set(waits[2])) > 1  # jitter


def test_a_flapping_receiver_loses_nothing(client, db, alice, receiver, settings, database_url):
    """The first posts fail; every event still arrives, retries with their own keys."""
    subscribe(client, alice, receiver)
    ids = cancel_orders(client, db, alice, 4)
    receiver.fail_first = 3

    deliver(
        database_url, hook_settings(settings, webhook_max_attempts=5, circuit_failure_threshold=10)
    )

    ok = receiver.hits[3:]
    assert sorted(h.event["order_id"] for h in ok) == ids
    assert {r["status"] for r in db.execute(DELIVERIES)} == {"delivered"}
    assert set(receiver.keys[:3]) <= set(receiver.keys[3:])


def test_a_slow_receiver_times_out_and_the_retry_has_the_same_key(
    client, db, alice, receiver, settings, database_url
):
    """Past the read timeout the attempt fails (the receiver may still have processed it); the
    retry sends the same body and key, so the receiver can deduplicate."""
    subscribe(client, alice, receiver)
    cancel_orders(client, db, alice, 1)
    receiver.delay = 3.0
    slow = hook_settings(settings, webhook_read_timeout_seconds=0.5, webhook_retry_base_seconds=60)

    deliver(database_url, slow)
    timed_out = db.execute(DELIVERIES).fetchone()
    receiver.delay = 0.0
    later = datetime.now(UTC) + timedelta(minutes=2)
    deliver(database_url, slow, clock=lambda: later)

    first, second = receiver.hits
    assert timed_out["status"] == "pending" and "timeout" in timed_out["last_error"]
    assert (
        first.body == second.body
        and first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]
    )
    assert db.execute(DELIVERIES).fetchone()["status"] == "delivered"


def test_redirects_are_refused(client, db, alice, receiver, settings, database_url):
    """A 302 is a failed attempt; the Location is never requested."""
    elsewhere = Receiver().start()
    try:
        subscribe(client, alice, receiver)
        receiver.location = elsewhere.url()
        cancel_orders(client, db, alice, 1)

        deliver(database_url, hook_settings(settings, webhook_max_attempts=1))
    finally:
        elsewhere.stop()

    row = db.execute(DELIVERIES).fetchone()
    assert row["status"] == "failed" and row["last_status_code"] == 302
    assert "redirect refused" in row["last_error"]
    assert elsewhere.hits == []


def test_a_lost_worker_is_redelivered_with_the_same_key(
    client, db, alice, receiver, settings, database_url
):
    """A claim whose worker dies before recording: when the lease ends the delivery is posted
    again (same key), and the lost attempt is in the record."""
    from orders.webhooks.delivery import claim_now

    subscribe(client, alice, receiver)
    cancel_orders(client, db, alice, 1)
    policy = Policy.from_settings(settings)
    now = datetime.now(UTC)
    claimed = run_on_connection(database_url, claim_now, policy, now, 10)  # then "dies"

    before_lease = deliver(database_url, settings, clock=lambda: now + timedelta(seconds=1))
    after = now + timedelta(seconds=policy.lease + 1)
    deliver(database_url, settings, clock=lambda: after)

    attempts = db.execute(ATTEMPTS).fetchall()
    assert before_lease.claimed == 0  # still leased: nobody else posts it
    assert [h.headers["Idempotency-Key"] for h in receiver.hits] == [claimed[0]["event_id"]]
    assert [(a["attempt"], a["status_code"]) for a in attempts] == [(1, None), (2, 200)]
    assert "lease ran out" in attempts[0]["error"]
    assert db.execute(DELIVERIES).fetchone()["status"] == "delivered"


def test_concurrent_posts_to_one_destination_are_limited(
    client, db, alice, receiver, settings, database_url
):
    """ORDERS_WEBHOOK_MAX_PER_DESTINATION=2: a slow receiver never sees more than 2 at once."""
    subscribe(client, alice, receiver)
    cancel_orders(client, db, alice, 8)
    receiver.delay = 0.3

    deliver(database_url, hook_settings(settings, webhook_max_per_destination=2))

    assert len(receiver.hits) == 8
    assert receiver.most_busy == 2


def test_a_down_receiver_opens_its_circuit_then_a_probe_closes_it(
    client, db, alice, receiver, settings, database_url
):
    """3 failures in a row open the circuit: deliveries wait without attempts; after the
    cool-down one probe goes; it succeeds and everything waiting is delivered once."""
    subscribe(client, alice, receiver)
    ids = cancel_orders(client, db, alice, 6)
    receiver.stop()
    t0 = datetime.now(UTC)
    quick = hook_settings(settings, webhook_concurrency=1)

    deliver(database_url, quick, clock=lambda: t0)
    opened = db.execute(CIRCUIT).fetchone()
    attempts_when_open = db.execute("SELECT count(*) AS n FROM webhook_attempts").fetchone()["n"]
    during = deliver(database_url, quick, clock=lambda: t0 + timedelta(seconds=10))
    receiver.start()
    probe = deliver(database_url, quick, clock=lambda: t0 + timedelta(seconds=31))

    assert (opened["state"], opened["consecutive_failures"], opened["opens"]) == ("open", 3, 1)
    assert attempts_when_open == 3 and during.claimed == 0
    assert probe.delivered == 6
    assert sorted(h.event["order_id"] for h in receiver.hits) == ids
    assert db.execute(CIRCUIT).fetchone() == {
        "state": "closed", "consecutive_failures": 0, "opens": 1, "half_opens": 1, "closes": 1,
    }  # fmt: skip
    assert {r["status"] for r in db.execute(DELIVERIES)} == {"delivered"}


def test_a_failed_probe_reopens_the_circuit(client, db, alice, receiver, settings, database_url):
    """Still down after the cool-down: one attempt only, and the circuit is open again."""
    subscribe(client, alice, receiver)
    cancel_orders(client, db, alice, 5)
    receiver.stop()
    t0 = datetime.now(UTC)
    quick = hook_settings(settings, webhook_concurrency=1)
    deliver(database_url, quick, clock=lambda: t0)

    deliver(database_url, quick, clock=lambda: t0 + timedelta(seconds=31))

    circuit = db.execute(CIRCUIT).fetchone()
    count = db.execute("SELECT count(*) AS n FROM webhook_attempts").fetchone()["n"]
    assert (circuit["state"], circuit["opens"], circuit["half_opens"]) == ("open", 2, 1)
    assert count == 4  # three that opened it, one probe


def test_settled_events_are_pruned_after_retention(
    client, db, alice, receiver, settings, database_url
):
    """Old events whose deliveries are settled go (with their attempts); unsettled ones stay."""
    from tasks.jobs.webhooks import prune_events

    subscribe(client, alice, receiver)
    cancel_orders(client, db, alice, 3)
    deliver(database_url, settings)
    cancel_orders(client, db, alice, 1)  # still pending
    cutoff = datetime.now(UTC) + timedelta(seconds=1)

    deleted = run_on_connection(database_url, prune_events, {"cutoff": cutoff, "batch": 2})

    left = db.execute("SELECT status::text FROM webhook_deliveries").fetchall()
    assert deleted == 3 and left == [{"status": "pending"}]
    assert db.execute("SELECT count(*) AS n FROM webhook_attempts").fetchone()["n"] == 0
