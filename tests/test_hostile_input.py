"""Injection attempts are data: stored and returned verbatim, never executed. Filters, cursors
and sort keys outside what the API documents are 422s."""

from __future__ import annotations

import pytest

from tests.helpers import assert_error, in_

NASTY = [
    "'; DROP TABLE orders; --",
    '" OR 1=1 --',
    "%(user_id)s %s {order_id} $1",
    "$$; SELECT pg_sleep(10); $$",
    "<script>alert('x')</script>",
    "../../etc/passwd",
    "ünïcødé ✓ 🚀 \u202e",
    "\\x00 \\u0000",
]


@pytest.mark.parametrize("text", NASTY)
def test_strings_are_stored_and_returned_verbatim(client, db, alice, text):
    body = {"order_name": text, "schedule_time": in_(3600), "payload": {text: [text, {"k": text}]}}
    key = text if text.isascii() and text.isprintable() else None  # a header: printable ASCII
    headers = alice.headers | ({"Idempotency-Key": key} if key else {})
    created = client.post("/orders", json=body, headers=headers)
    assert created.status_code == 201, created.json
    order = client.get(f"/orders/{created.json['order_id']}", headers=alice.headers).json

    assert order["order_name"] == text and order["payload"] == {text: [text, {"k": text}]}
    stored = db.execute("SELECT order_name, idempotency_key FROM orders").fetchone()
    assert stored == {"order_name": text, "idempotency_key": key}
    if key:  # replaying the key finds the same order
        again = client.post("/orders", json=body, headers=headers)
        assert again.json["order_id"] == created.json["order_id"]


@pytest.mark.parametrize("field", ["order_name", "payload"])
def test_nul_characters_are_a_clear_422(client, alice, field):
    """PostgreSQL cannot store U+0000 in text or jsonb: refuse it up front, not with a 500."""
    body = {"order_name": "soap", "payload": {}} | (
        {"order_name": "so\u0000ap"} if field == "order_name" else {"payload": {"k": "a\u0000"}}
    )
    assert_error(client.post("/orders", json=body, headers=alice.headers), 422, "validation_error")
    signup = {"email": "x@example.com", "password": "pass\u0000word123"}
    assert_error(client.post("/auth/signup", json=signup), 422, "validation_error")


@pytest.mark.parametrize(
    "query",
    [
        "status=scheduled' OR '1'='1",
        "status=SCHEDULED",
        "is_recurring=maybe",
        "limit=0",
        "limit=-1",
        "limit=100000000000000000000",
        "limit=1;DROP TABLE orders",
        "cursor=' OR 1=1 --",
        "cursor=eyJiZWZvcmUiOiAiMSBPUiAxPTEifQ==",  # {"before": "1 OR 1=1"}
        "cursor=eyJiZWZvcmUiOiAtMX0=",  # {"before": -1}
        "sort=order_id;DROP TABLE orders",
        "order_by=created_at",
    ],
)
def test_bad_filters_cursors_and_sort_keys_are_422(client, db, alice, query):
    response = client.get(f"/orders?{query}", headers=alice.headers)
    assert_error(response, 422)
    assert db.execute("SELECT count(*) AS n FROM users").fetchone()["n"] == 1  # all still there


@pytest.mark.parametrize(
    "path",
    [
        "/orders?status=&is_recurring=&limit=&cursor=",  # the README's table, pasted
        "/provider/requests?status=&after_id=&limit=",
    ],
)
def test_empty_query_parameters_mean_not_given(client, alice, acme, path):
    account = acme if path.startswith("/provider") else alice

    assert client.get(path, headers=account.headers).status_code == 200
