"""Circuit breakers seen from outside: the SMTP server's (aiosmtpd down and back), the operator's
CLI (`orders circuits`, `orders circuits reset HOST`, `orders webhooks ...`), /metrics
(aggregates only, no host label) and the dashboard's JSON."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import Account
from tests.mail import deliver as deliver_mail
from tests.receivers import Receiver, deliver, hook_settings
from tests.test_mail import OUTBOX, queue
from tests.test_webhooks_delivery import cancel_orders, subscribe

CIRCUIT = "SELECT kind, state::text, opens, half_opens, closes FROM circuits"


def test_smtp_down_opens_its_circuit_and_mail_waits_without_attempts(
    db, smtp, mail_settings, database_url
):
    """Two failed runs open it; runs while open attempt nothing (mail keeps its attempts);
    after the cool-down one run probes, the server is back, the circuit closes, mail goes once."""
    settings = mail_settings.model_copy(
        update={"circuit_failure_threshold": 2, "mail_max_attempts": 10}
    )
    ids = queue(db, 3)
    smtp.stop()
    t0 = datetime.now(UTC)

    deliver_mail(database_url, settings, clock=lambda: t0)
    deliver_mail(database_url, settings, clock=lambda: t0 + timedelta(seconds=1))
    opened = db.execute(CIRCUIT).fetchone()
    held = deliver_mail(database_url, settings, clock=lambda: t0 + timedelta(seconds=30))
    attempts_while_open = {r["attempts"] for r in db.execute(OUTBOX)}
    smtp.start()
    probe = deliver_mail(database_url, settings, clock=lambda: t0 + timedelta(seconds=62))

    assert (opened["kind"], opened["state"], opened["opens"]) == ("smtp", "open", 1)
    assert "circuit open" in held.unavailable and attempts_while_open == {2}
    assert probe.sent == 3
    assert sorted(m.message["Message-ID"] for m in smtp.received) == [
        f"<outbox-{i}@localhost>" for i in ids
    ]
    assert db.execute(CIRCUIT).fetchone() == {
        "kind": "smtp", "state": "closed", "opens": 1, "half_opens": 1, "closes": 1,
    }  # fmt: skip


@pytest.fixture
def tripped(client, db, alice, settings, database_url) -> Receiver:
    """A receiver that is down, with its circuit open and one failed delivery."""
    receiver = Receiver()
    receiver.start()
    subscribe(client, alice, receiver)
    receiver.stop()
    cancel_orders(client, db, alice, 1)
    deliver(database_url, hook_settings(settings, circuit_failure_threshold=1))
    db.execute("UPDATE webhook_deliveries SET status = 'failed'")
    return receiver


@pytest.fixture
def settings(settings):
    return hook_settings(settings)


def test_the_cli_lists_and_resets_circuits_and_shows_deliveries(cli, db, tripped):
    """`orders circuits` shows the open one; reset closes it; webhooks commands show the record."""
    destination = f"127.0.0.1:{tripped.port}"

    listed = cli("circuits")
    problems = cli("webhooks", "problems")
    deliveries = cli("webhooks", "deliveries", "--status", "failed")
    shown = cli("webhooks", "show", "1")
    reset = cli("circuits", "reset", "127.0.0.1")
    again = cli("webhooks", "redeliver", "1")
    unknown = cli("circuits", "reset", "nowhere.example", code=1)

    assert destination in listed and "open" in listed
    assert "order.cancelled" in problems and "failed" in deliveries
    assert '"type": "order.cancelled"' in shown and "Connect" in shown
    assert f"webhook {destination}: open -> closed" in reset
    assert "delivery 1 pending" in again
    assert "no circuit" in unknown
    assert db.execute(CIRCUIT).fetchone()["state"] == "closed"


def test_metrics_count_circuits_without_naming_hosts(client, tripped):
    """Open circuits per kind and state changes; the destination appears nowhere."""
    text = client.get("/metrics").get_data(as_text=True)

    assert re.search(r'^orders_circuits_open\{kind="webhook"\} 1\.0$', text, re.M)
    assert re.search(r'^orders_circuits_open\{kind="smtp"\} 0\.0$', text, re.M)
    assert re.search(
        r'^orders_circuit_state_changes_total\{kind="webhook",to="open"\} 1\.0$', text, re.M
    )
    assert re.search(r'^orders_webhook_deliveries\{status="failed"\} 1\.0$', text, re.M)
    assert str(tripped.port) not in text and "127.0.0.1" not in text


def test_the_dashboard_shows_circuits_and_problems(client, db, tripped):
    """Admins get the circuits (with hosts) and failed deliveries; customers a 403."""
    admin = Account(client, "ops@example.com")
    db.execute("UPDATE users SET role = 'admin' WHERE user_id = %s", (admin.user_id,))
    customer = Account(client, "carol@example.com")

    board = client.get("/dashboard/api/downstream", headers=admin.headers)
    refused = client.get("/dashboard/api/downstream", headers=customer.headers)

    assert board.status_code == 200 and refused.status_code == 403
    assert [c["state"] for c in board.json["circuits"]] == ["open"]
    assert board.json["webhooks"]["failed"] == 1
    assert [p["status"] for p in board.json["problems"]] == ["failed"]
