"""Providers: orders name them, customers see their requests, providers answer one or many."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from orders.cli.main import main
from orders.database import Q
from tests.helpers import assert_error, in_

OUTBOX = "SELECT kind, recipient, subject, body FROM outbox ORDER BY outbox_id"


def order_for(client, account, provider, **fields) -> dict:
    body = {"order_name": "coffee beans", "schedule_time": in_(3600)} | fields
    body["provider_id"] = provider.provider_id
    response = client.post("/orders", json=body, headers=account.headers)
    assert response.status_code == 201, response.json
    return response.json


def make_requests(db, order_id: int, runs: int, now: datetime | None = None) -> list[int]:
    """What `runs` executions of the order insert (the worker's own query), request ids."""
    now = now or datetime.now(UTC)
    for run in range(1, runs + 1):
        db.execute(
            Q["provider_request_insert"], {"order_id": order_id, "run_number": run, "now": now}
        )
    rows = db.execute(
        "SELECT request_id FROM provider_requests WHERE order_id = %s ORDER BY run_number",
        (order_id,),
    )
    return [r["request_id"] for r in rows]


def respond(client, provider, ids, action="fulfil", message=None):
    body = {"request_ids": ids, "action": action} | ({"message": message} if message else {})
    return client.post("/provider/requests/respond", json=body, headers=provider.headers)


def test_orders_name_a_provider_which_must_exist(client, alice, acme):
    """provider_id is stored and shown; an unknown one is a 422 on create and on change."""
    order = order_for(client, alice, acme)

    unknown = client.post(
        "/orders", json={"order_name": "x", "provider_id": 999}, headers=alice.headers
    )
    patched = client.patch(
        f"/orders/{order['order_id']}", json={"provider_id": 999}, headers=alice.headers
    )
    cleared = client.patch(
        f"/orders/{order['order_id']}", json={"provider_id": None}, headers=alice.headers
    )
    listed = client.get("/providers", headers=alice.headers).json

    assert order["provider_id"] == acme.provider_id
    assert assert_error(unknown, 422, "validation_error")["details"][0]["field"] == "provider_id"
    assert_error(patched, 422, "validation_error")
    assert cleared.status_code == 200 and cleared.json["provider_id"] is None
    assert listed["providers"] == [
        {"provider_id": acme.provider_id, "name": "Acme", "expected_response_hours": 48}
    ]


def test_customer_sees_the_requests_of_their_order_with_the_wait(client, db, alice, bob, acme):
    """Each run's request with its expected answer date and "wait N days"; others get 404."""
    order = order_for(client, alice, acme)
    make_requests(db, order["order_id"], runs=2, now=datetime.now(UTC) - timedelta(hours=1))
    url = f"/orders/{order['order_id']}/requests"

    mine = client.get(url, headers=alice.headers)
    theirs = client.get(url, headers=bob.headers)

    requests = mine.json["requests"]
    assert [r["run_number"] for r in requests] == [1, 2]
    assert {(r["provider_name"], r["status"], r["wait_days"], r["wait"]) for r in requests} == {
        ("Acme", "pending", 2, "wait 2 days")  # 48 h promised, 1 h gone: 47 h = 2 days
    }
    assert requests[0]["notified_at"] is None
    assert_error(theirs, 404, "not_found")


def test_provider_fulfils_one_and_declines_many(client, db, alice, bob, acme):
    """Answers are recorded, listed by status, and each customer gets one mail per answer."""
    ids_a = make_requests(db, order_for(client, alice, acme)["order_id"], runs=2)
    ids_b = make_requests(db, order_for(client, bob, acme)["order_id"], runs=1)

    one = respond(client, acme, [ids_a[0]])
    many = respond(client, acme, [ids_a[1], ids_b[0]], "decline", "out of stock")
    pending = client.get("/provider/requests?status=pending", headers=acme.headers).json
    declined = client.get("/provider/requests?status=declined", headers=acme.headers).json

    assert one.status_code == 200 and one.json["requests"][0]["status"] == "fulfilled"
    assert [r["request_id"] for r in many.json["requests"]] == sorted([ids_a[1], ids_b[0]])
    assert {r["response_message"] for r in many.json["requests"]} == {"out of stock"}
    assert pending["requests"] == []
    assert [r["request_id"] for r in declined["requests"]] == [ids_a[1], ids_b[0]]
    mails = db.execute(OUTBOX).fetchall()
    assert [(m["kind"], m["recipient"]) for m in mails] == [
        ("customer_notice", "alice@example.com"),
        ("customer_notice", "alice@example.com"),
        ("customer_notice", "bob@example.com"),
    ]
    assert "out of stock" in mails[1]["body"] and f"#{ids_a[1]}" in mails[1]["body"]
    assert many.json["customer_mails_queued"] == 2


def test_answering_is_all_or_nothing(client, db, alice, acme, globex):
    """Someone else's or an unknown id is a 404, an answered one a 409; nothing changes."""
    mine = make_requests(db, order_for(client, alice, acme)["order_id"], runs=2)
    theirs = make_requests(db, order_for(client, alice, globex)["order_id"], runs=1)
    respond(client, acme, [mine[0]])

    foreign = respond(client, acme, [mine[1], theirs[0]])
    unknown = respond(client, acme, [mine[1], 99999])
    again = respond(client, acme, [mine[1], mine[0]])

    assert assert_error(foreign, 404)["details"][0]["message"] == f"request {theirs[0]}"
    assert_error(unknown, 404, "not_found")
    assert assert_error(again, 409, "already_answered")["message"].endswith(f"[{mine[0]}]")
    statuses = db.execute("SELECT request_id, status FROM provider_requests ORDER BY 1").fetchall()
    assert [s["status"] for s in statuses] == ["fulfilled", "pending", "pending"]
    assert db.execute("SELECT count(*) AS n FROM outbox").fetchone()["n"] == 1


@pytest.mark.parametrize(
    "body",
    [
        {"request_ids": [], "action": "fulfil"},
        {"request_ids": [1, 1], "action": "fulfil"},
        {"request_ids": [1], "action": "decline"},
        {"request_ids": [1], "action": "ignore"},
    ],
)
def test_invalid_answers_are_422(client, acme, body):
    """No ids, repeated ids, a decline without a message, an unknown action."""
    response = client.post("/provider/requests/respond", json=body, headers=acme.headers)

    assert_error(response, 422, "validation_error")


def test_provider_endpoints_refuse_other_roles(client, alice, acme):
    """A customer's valid token is a 403 on provider endpoints (and vice versa for admin ones)."""
    inbox = client.get("/provider/requests", headers=alice.headers)
    answer = respond(client, alice, [1])
    dashboard = client.get("/dashboard/mail", headers=acme.headers)
    anonymous = client.get("/provider/requests")

    assert_error(inbox, 403, "forbidden")
    assert_error(answer, 403, "forbidden")
    assert_error(dashboard, 403, "forbidden")
    assert_error(anonymous, 401, "unauthorized")


def test_provider_inbox_shows_only_their_requests_paged(client, db, alice, acme, globex):
    """Oldest first, `limit` per page, `next_after_id` to continue; no other provider's."""
    mine = make_requests(db, order_for(client, alice, acme)["order_id"], runs=3)
    make_requests(db, order_for(client, alice, globex)["order_id"], runs=2)

    first = client.get("/provider/requests?limit=2", headers=acme.headers).json
    rest = client.get(
        f"/provider/requests?limit=2&after_id={first['next_after_id']}", headers=acme.headers
    ).json

    assert [r["request_id"] for r in first["requests"]] == mine[:2]
    assert [r["request_id"] for r in rest["requests"]] == mine[2:]
    assert rest["next_after_id"] is None
    assert first["requests"][0]["order_name"] == "coffee beans"


def test_digest_mode_batches_customer_mail(client, db, app, alice, bob, acme, database_url):
    """ORDERS_CUSTOMER_NOTIFY=digest: answering queues nothing; the batch sends one per customer."""
    from tasks.jobs.mail import queue_customer_notices
    from tests.mail import run_on_connection

    settings = app.extensions["orders.settings"]
    app.extensions["orders.settings"] = settings.model_copy(update={"customer_notify": "digest"})
    ids = make_requests(db, order_for(client, alice, acme)["order_id"], runs=3)
    ids += make_requests(db, order_for(client, bob, acme)["order_id"], runs=1)

    answered = respond(client, acme, ids[:2]).json
    respond(client, acme, ids[2:], "decline", "sorry")
    before = db.execute(OUTBOX).fetchall()
    batch = run_on_connection(database_url, queue_customer_notices, datetime.now(UTC))
    again = run_on_connection(database_url, queue_customer_notices, datetime.now(UTC))

    mails = db.execute(OUTBOX).fetchall()
    assert answered["customer_mails_queued"] == 0 and before == []
    assert batch == {"mails": 2, "requests": 4} and again == {"mails": 0, "requests": 0}
    assert [m["recipient"] for m in mails] == ["alice@example.com", "bob@example.com"]
    assert mails[0]["subject"] == "Providers have responded to 3 of your requests"
    assert all(f"#{i} " in mails[0]["body"] for i in ids[:3])


def test_cli_adds_a_provider_with_its_login(database_url, client, monkeypatch):
    """`orders providers add` creates provider and provider-role login in one transaction."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    argv = ["providers", "add", "--name", "Initech", "--email", "Sales@Initech.example"]
    argv += ["--expected-response-hours", "24", "--login"]
    typed = "initech pass 1\ninitech pass 1\n"  # the hidden prompt, with its confirmation

    created = CliRunner().invoke(main, argv, input=typed)
    monkeypatch.setenv("ORDERS_PROVIDER_PASSWORD", "initech pass 1")
    duplicate = CliRunner().invoke(main, argv)
    invalid = CliRunner().invoke(main, [*argv[:6], "--expected-response-hours", "0"])
    login = client.post(
        "/auth/login", json={"email": "sales@initech.example", "password": "initech pass 1"}
    )
    me = client.get("/auth/me", headers={"Authorization": f"Bearer {login.json['access_token']}"})

    assert created.exit_code == 0, created.output
    assert "Initech <sales@initech.example>, login sales@initech.example" in created.output
    assert duplicate.exit_code == 1 and "already exists" in duplicate.output
    assert invalid.exit_code == 1 and "expected_response_hours" in invalid.output
    assert me.json["role"] == "provider" and "initech pass 1" not in created.output
