"""Webhooks never reach non-public addresses unless ORDERS_WEBHOOK_ALLOW_PRIVATE_TARGETS says so:
refused at registration, and again at every connection (the address actually connected to),
with redirects refused. These tests run with the setting off, as production does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orders.webhooks.safety import refusal
from tests.helpers import assert_error
from tests.receivers import Receiver, deliver, hook_settings

REFUSED = [
    "http://127.0.0.1:8080/hook",
    "http://localhost/hook",
    "http://2130706433/hook",  # 127.0.0.1 written as one number
    "http://10.1.2.3/hook",
    "http://172.16.0.1/hook",
    "http://192.168.1.10/hook",
    "http://169.254.169.254/latest/meta-data",
    "http://100.64.0.1/hook",
    "http://0.0.0.0/hook",
    "http://[::1]/hook",
    "http://[::]/hook",
    "http://[fe80::1]/hook",
    "http://[fc00::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[::ffff:10.0.0.1]/hook",
    "http://[64:ff9b::a9fe:a9fe]/hook",
    "http://[2002:7f00:1::]/hook",
]


@pytest.mark.parametrize("url", REFUSED)
def test_private_destinations_are_refused_at_registration(client, alice, url):
    """Each resolves to loopback, private, link-local, shared, unspecified or an IPv6 form."""
    body = {"url": url, "events": ["order.failed"]}

    response = client.post("/webhooks", json=body, headers=alice.headers)

    error = assert_error(response, 422, "refused_destination")
    assert error["details"][0]["field"] == "url"


def test_an_unresolvable_host_is_refused(client, alice):
    body = {"url": "https://no-such-host.invalid/hook", "events": ["order.failed"]}

    assert_error(client.post("/webhooks", json=body, headers=alice.headers), 422)


def test_public_addresses_pass():
    assert refusal("93.184.215.14") is None
    assert refusal("2606:4700::6810:84e5") is None
    assert "shared" in refusal("100.100.1.1")
    assert "loopback" in refusal("::ffff:127.0.0.2")


def test_delivery_checks_the_address_it_connects_to(client, db, alice, settings, database_url):
    """A URL that passed (or whose DNS changed since) is checked again at connect time: the
    receiver on loopback gets nothing and the attempt records why."""
    receiver = Receiver().start()
    try:
        allowed = hook_settings(settings)
        db.execute(
            "INSERT INTO webhook_endpoints (user_id, url, destination, events, secret) "
            "VALUES (%s, %s, %s, ARRAY['order.cancelled'], repeat('s', 40))",
            (alice.user_id, f"http://localhost:{receiver.port}/hook", f"localhost:{receiver.port}"),
        )
        order = client.post("/orders", json={"order_name": "x"}, headers=alice.headers).json
        client.delete(f"/orders/{order['order_id']}", headers=alice.headers)

        strict = hook_settings(
            settings, webhook_allow_private_targets=False, webhook_retry_base_seconds=60
        )
        deliver(database_url, strict)
        refused = db.execute("SELECT error, status_code FROM webhook_attempts").fetchall()
        later = datetime.now(UTC) + timedelta(minutes=2)
        deliver(database_url, allowed, clock=lambda: later)  # once allowed, it goes through
    finally:
        receiver.stop()

    assert [r["status_code"] for r in refused] == [None]
    assert "refused destination localhost" in refused[0]["error"]
    assert "loopback" in refused[0]["error"]
    assert len(receiver.hits) == 1
