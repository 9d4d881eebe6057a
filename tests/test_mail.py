"""Mail for real: the outbox is delivered to an SMTP server (aiosmtpd on loopback) exactly as
queued, held through an outage and delivered once after it; .eml files in dev."""

from __future__ import annotations

import email
import email.policy
import threading
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from orders.database import Q
from tests.conftest import Account
from tests.helpers import in_
from tests.mail import deliver
from tests.test_providers import make_requests, order_for, respond
from tests.workers import wait_until

OUTBOX = "SELECT outbox_id, status, attempts, last_error, sent_at FROM outbox ORDER BY outbox_id"


def queue(db, count: int, recipient: str = "someone@example.com") -> list[int]:
    """`count` pending mails, as a feature's transaction would have queued them."""
    now = datetime.now(UTC)
    return [
        db.execute(
            Q["outbox_insert"],
            {"kind": "customer_notice", "recipient": recipient, "subject": f"mail {i}",
             "body": f"body {i}", "now": now},
        ).fetchone()["outbox_id"]
        for i in range(count)
    ]  # fmt: skip


def test_digest_mail_arrives_once_with_recipient_subject_and_message_id(
    client, db, alice, acme, globex, smtp, mail_settings, database_url
):
    """Two digests queued -> two messages at the server; a second send run sends nothing."""
    from tests.test_digest import digest

    acme_ids = make_requests(db, order_for(client, alice, acme)["order_id"], runs=2)
    make_requests(db, order_for(client, alice, globex)["order_id"], runs=1)
    digest(database_url)

    first = deliver(database_url, mail_settings)
    second = deliver(database_url, mail_settings)

    rows = db.execute(OUTBOX).fetchall()
    got = sorted(smtp.received, key=lambda m: m.recipients)
    assert (first.sent, second.sent) == (2, 0)
    assert [(m.recipients, m.subject) for m in got] == [
        ([acme.email], "2 new requests for Acme"),
        ([globex.email], "1 new request for Globex"),
    ]
    assert all(f"#{i} " in got[0].body for i in acme_ids)
    assert {m.message["Message-ID"] for m in got} == {
        f"<outbox-{r['outbox_id']}@localhost>" for r in rows
    }
    assert {(r["status"], r["attempts"]) for r in rows} == {("sent", 1)}


def test_outage_holds_mail_then_delivers_each_once(db, smtp, mail_settings, database_url):
    """Server down: mail stays pending with attempts and the error; back up: each sent once."""
    ids = queue(db, 3)
    smtp.stop()

    down = deliver(database_url, mail_settings)
    held = db.execute(OUTBOX).fetchall()
    smtp.start()
    up = deliver(database_url, mail_settings)
    again = deliver(database_url, mail_settings)

    assert down.sent == 0 and "cannot connect" in down.unavailable
    assert {(r["status"], r["attempts"]) for r in held} == {("pending", 1)}
    assert all("Connection refused" in r["last_error"] for r in held)
    assert (up.sent, again.sent) == (3, 0)
    assert sorted(m.message["Message-ID"] for m in smtp.received) == [
        f"<outbox-{i}@localhost>" for i in ids
    ]
    assert {(r["status"], r["attempts"]) for r in db.execute(OUTBOX)} == {("sent", 2)}


def test_failed_attempts_back_off_exponentially_then_give_up(db, smtp, mail_settings, database_url):
    """Waits base, 2*base...; after ORDERS_MAIL_MAX_ATTEMPTS the mail is failed for good."""
    settings = mail_settings.model_copy(update={"mail_retry_base_seconds": 60.0})
    queue(db, 1)
    smtp.stop()
    t0 = datetime.now(UTC)

    deliver(database_url, settings, clock=lambda: t0)
    early = deliver(database_url, settings, clock=lambda: t0 + timedelta(seconds=59))
    deliver(database_url, settings, clock=lambda: t0 + timedelta(seconds=61))
    second = db.execute("SELECT next_attempt_at, attempts FROM outbox").fetchone()
    deliver(database_url, settings, clock=lambda: t0 + timedelta(seconds=182))

    row = db.execute(OUTBOX).fetchone()
    assert early.unavailable is None  # nothing was due yet: no attempt, no connection
    assert second["attempts"] == 2
    assert second["next_attempt_at"] == t0 + timedelta(seconds=61 + 120)
    assert (row["status"], row["attempts"]) == ("failed", 3)


def test_refused_recipient_fails_alone_and_shows_on_the_dashboard(
    client, db, smtp, mail_settings, database_url
):
    """A 550 for one address fails that mail at once; the others go; admins see why."""
    queue(db, 1, "nobody@example.com")
    queue(db, 2)
    smtp.recorder.refuse.add("nobody@example.com")
    admin = Account(client, "ops@example.com")
    db.execute("UPDATE users SET role = 'admin' WHERE user_id = %s", (admin.user_id,))

    result = deliver(database_url, mail_settings)
    board = client.get("/dashboard/mail", headers=admin.headers).json

    assert (result.sent, result.refused) == (2, 1)
    assert [m.recipients for m in smtp.received] == [["someone@example.com"]] * 2
    assert [(c["status"], c["count"]) for c in board["counts"]] == [("sent", 2), ("failed", 1)]
    problem = board["problems"][0]
    assert (problem["recipient"], problem["status"], problem["attempts"]) == (
        "nobody@example.com",
        "failed",
        1,
    )
    assert "550" in problem["last_error"]


def test_concurrent_senders_deliver_each_mail_once(db, smtp, mail_settings, database_url):
    """Four senders at once over 60 mails: every mail arrives exactly once."""
    ids = queue(db, 60)

    threads = [threading.Thread(target=deliver, args=(database_url, mail_settings)) for _ in "abcd"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    got = sorted(int(m.message["Message-ID"][8:].split("@")[0]) for m in smtp.received)
    assert got == ids
    assert {r["status"] for r in db.execute(OUTBOX)} == {"sent"}


def test_a_commit_lost_after_smtp_accepted_redelivers_with_the_same_message_id(
    db, smtp, mail_settings, database_url
):
    """At-least-once: if marking sent fails after the server accepted, the mail goes again,
    recognisably the same message."""
    queue(db, 1)
    db.execute("""CREATE FUNCTION lose_commit() RETURNS trigger LANGUAGE plpgsql AS
                  $$ BEGIN RAISE EXCEPTION 'database went away'; END $$""")
    db.execute(
        "CREATE TRIGGER lose_commit BEFORE UPDATE ON outbox FOR EACH ROW "
        "WHEN (NEW.status = 'sent') EXECUTE FUNCTION lose_commit()"
    )

    with pytest.raises(psycopg.errors.RaiseException, match="database went away"):
        deliver(database_url, mail_settings)  # the sender dies with its transaction
    db.execute("DROP TRIGGER lose_commit ON outbox")
    deliver(database_url, mail_settings)

    assert len(smtp.received) == 2
    assert len({m.message["Message-ID"] for m in smtp.received}) == 1
    assert db.execute(OUTBOX).fetchone()["status"] == "sent"


def test_dev_without_smtp_writes_eml_files(db, settings, database_url, tmp_path):
    """ORDERS_ENV=dev and no SMTP_HOST: each mail is a readable .eml file in ORDERS_MAIL_DIR."""
    folder = tmp_path / "mail"
    dev = settings.model_copy(update={"env": "dev", "smtp_host": None, "mail_dir": folder})
    [outbox_id] = queue(db, 1)

    result = deliver(database_url, dev)

    message = email.message_from_bytes(
        (folder / f"outbox-{outbox_id}.eml").read_bytes(), policy=email.policy.default
    )
    assert result.sent == 1 and [p.name for p in folder.iterdir()] == [f"outbox-{outbox_id}.eml"]
    assert (message["To"], message["Subject"]) == ("someone@example.com", "mail 0")
    assert message.get_content().strip() == "body 0"


def test_production_without_smtp_keeps_mail_waiting_with_the_reason(db, settings, database_url):
    """No SMTP_HOST outside dev/test: nothing is sent, and the outbox says why."""
    production = settings.model_copy(update={"env": "production", "smtp_host": None})
    queue(db, 2)

    result = deliver(database_url, production)

    rows = db.execute(OUTBOX).fetchall()
    assert result.sent == 0 and {r["status"] for r in rows} == {"pending"}
    assert all("SMTP_HOST is not set" in r["last_error"] for r in rows)


def test_order_run_to_provider_digest_to_customer_notice_end_to_end(
    client, db, alice, acme, smtp, workers, database_url
):
    """A real worker: the order runs, its request is in the next digest mail, the provider
    answers, the customer's mail arrives; each message once."""
    order = order_for(client, alice, acme, schedule_time=in_(0.5))
    workers.start("w1", **smtp.env(), ORDERS_DIGEST_CRON="* * * * * */1")

    digest_mail = smtp.wait_for(1)[:1]
    [request] = client.get(f"/orders/{order['order_id']}/requests", headers=alice.headers).json[
        "requests"
    ]
    answered = respond(client, acme, [request["request_id"]], "decline", "no beans left")
    notice = smtp.wait_for(2)[1:]
    wait_until(
        database_url,
        "SELECT count(*) AS n FROM procrastinate_jobs WHERE task_name = 'send_provider_digests'"
        " AND status = 'succeeded'",
        lambda rows: rows[0]["n"] >= 4,
    )

    assert [(m.recipients, m.subject) for m in digest_mail] == [
        ([acme.email], "1 new request for Acme")
    ]
    assert f"#{request['request_id']}  coffee beans (order {order['order_id']}, run 1)" in (
        digest_mail[0].body
    )
    assert request["notified_at"] is not None and answered.status_code == 200
    assert [(m.recipients, m.subject) for m in notice] == [
        (["alice@example.com"], "Your provider has responded")
    ]
    assert "declined by Acme" in notice[0].body and "no beans left" in notice[0].body
    assert len(smtp.received) == 2
