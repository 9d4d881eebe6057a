"""POST /orders/batch: many orders in one transaction, all or nothing, errors named by index."""

from __future__ import annotations

import threading

import pytest

from tests.helpers import SUMMARY, assert_error, flush_status_log, in_
from tests.workers import wait_until

COUNTS = """
SELECT (SELECT count(*) FROM orders) AS orders,
       (SELECT count(*) FROM procrastinate_jobs) AS jobs,
       (SELECT count(*) FROM order_events) AS events,
       (SELECT count(*) FROM order_batches) AS batches
"""
NOTHING = {"orders": 0, "jobs": 0, "events": 0, "batches": 0}


def one_time(i: int, **fields) -> dict:
    return {"order_name": f"item {i}", "schedule_time": in_(3600)} | fields


def post(client, account, orders: list[dict], key: str | None = None):
    headers = account.headers | ({"Idempotency-Key": key} if key else {})
    return client.post("/orders/batch", json={"orders": orders}, headers=headers)


def test_batch_writes_orders_jobs_and_audit_together(client, db, alice, settings, database_url):
    """Each order of the batch has its job at its first run, its queueing lock and its
    'created' event and log line, and the answer lists the orders in the order sent."""
    sent = [
        one_time(0),
        {"order_name": "now"},
        one_time(2, is_recurring=True, repeat_interval=2, repeat_unit="hours", max_executions=3),
        {
            "order_name": "daily",
            "is_recurring": True,
            "cron": "0 9 * * *",
            "timezone": "Asia/Tokyo",
        },
    ]

    response = post(client, alice, sent)

    assert response.status_code == 201, response.json
    orders = response.json["orders"]
    assert [o["order_name"] for o in orders] == ["item 0", "now", "item 2", "daily"]
    assert {o["status"] for o in orders} == {"scheduled"}
    assert orders[3]["next_run_at"].endswith("T00:00:00Z")  # 09:00 in Tokyo
    jobs = db.execute(
        "SELECT id, status, queueing_lock, args, scheduled_at, task_name FROM procrastinate_jobs"
    ).fetchall()
    by_id = {j["id"]: j for j in jobs}
    for order in orders:
        job = by_id[order["job_id"]]
        assert (job["status"], job["task_name"]) == ("todo", "execute_order")
        assert job["queueing_lock"] == f"order:{order['order_id']}"
        assert job["args"] == {"order_id": order["order_id"], "user_id": alice.user_id}
        assert job["scheduled_at"].isoformat() == order["next_run_at"].replace("Z", "+00:00")
    events = db.execute("SELECT order_id, event_type, actor FROM order_events").fetchall()
    assert sorted((e["order_id"], e["event_type"], e["actor"]) for e in events) == [
        (o["order_id"], "created", f"user:{alice.user_id}") for o in orders
    ]
    lines = flush_status_log(database_url, settings.log_file)
    assert sorted(line["order_id"] for line in lines) == [o["order_id"] for o in orders]


def test_the_batch_is_what_single_creates_would_have_made(client, alice):
    """Every field of a batch order equals the same order created through POST /orders."""
    body = one_time(0, is_recurring=True, cron="30 8 * * MON", timezone="Europe/Paris")
    body |= {"payload": {"sku": "A-1", "qty": 2}, "max_executions": 4}

    single = client.post("/orders", json=body, headers=alice.headers).json
    batched = post(client, alice, [body]).json["orders"][0]

    differing = {k for k in single if single[k] != batched[k]}
    assert differing == {"order_id", "job_id", "created_at", "updated_at"}


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"order_name": "x", "is_recurring": True, "cron": "every day"}, "orders.3.cron"),
        ({"order_name": ""}, "orders.3.order_name"),
        ({"order_name": "x", "timezone": "Mars/Base"}, "orders.3.timezone"),
        ({"order_name": "x", "repeat_interval": 5}, "orders.3.repeat_interval"),
        (
            {"order_name": "x", "schedule_time": "2020-01-01T00:00:00+00:00"},
            "orders.3.schedule_time",
        ),
        ({"order_name": "x", "schedule_time": "2030-01-01T00:00:00"}, "orders.3.schedule_time"),
        ({"order_name": "x", "colour": "red"}, "orders.3.colour"),
        ("not an object", "orders.3"),
    ],
)
def test_an_invalid_order_is_named_by_index_and_nothing_is_created(client, db, alice, item, field):
    """One bad order among valid ones: a 422 naming it by its index; no order, job or event."""
    response = post(client, alice, [one_time(0), one_time(1), one_time(2), item, one_time(4)])

    error = assert_error(response, 422, "validation_error")
    assert [d["field"] for d in error["details"]] == [field]
    assert db.execute(COUNTS).fetchone() == NOTHING


def test_every_invalid_order_is_reported(client, alice):
    """All the bad orders of a batch are listed at once, so a client can fix them in one go."""
    orders = [one_time(0), {"order_name": " "}, one_time(2), {"order_name": "x", "cron": "?"}]

    error = assert_error(post(client, alice, orders), 422, "validation_error")

    assert [d["field"] for d in error["details"]] == ["orders.1.order_name", "orders.3.cron"]


def test_unknown_providers_are_named_by_index(client, db, alice, acme):
    """Orders may name only existing providers: each bad one is named, nothing is created."""
    orders = [one_time(0, provider_id=acme.provider_id), one_time(1, provider_id=999)]
    orders += [one_time(2), one_time(3, provider_id=999)]

    error = assert_error(post(client, alice, orders), 422, "validation_error")
    good = post(client, alice, [one_time(0, provider_id=acme.provider_id)])

    assert [d["field"] for d in error["details"]] == [
        "orders.1.provider_id",
        "orders.3.provider_id",
    ]
    assert good.status_code == 201 and good.json["orders"][0]["provider_id"] == acme.provider_id


def test_a_failure_in_the_database_leaves_nothing_behind(client, db, alice, settings, database_url):
    """When the transaction fails after the jobs were deferred, no order, job or event remains."""
    db.execute("""CREATE FUNCTION fail_audit() RETURNS trigger LANGUAGE plpgsql AS
                  $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$""")
    db.execute(
        "CREATE TRIGGER fail_audit BEFORE INSERT ON order_events FOR EACH ROW "
        "WHEN (NEW.order_id % 3 = 0) EXECUTE FUNCTION fail_audit()"
    )

    response = post(client, alice, [one_time(i) for i in range(5)], key="doomed")

    assert_error(response, 500, "internal_error")
    assert db.execute(COUNTS).fetchone() == NOTHING
    assert flush_status_log(database_url, settings.log_file) == []


def test_batch_size_is_limited_by_a_setting(client, db, app, alice):
    """More than ORDERS_BATCH_MAX_ORDERS orders is a 422 on `orders`, checked before the items
    are; an empty batch is a 422 too; exactly the limit is fine."""
    app.extensions["orders.settings"].batch_max_orders = 3

    too_many = post(client, alice, [{"order_name": ""}] * 4)
    empty = post(client, alice, [])
    at_limit = post(client, alice, [one_time(i) for i in range(3)])

    error = assert_error(too_many, 422, "validation_error")
    assert [(d["field"], d["message"]) for d in error["details"]] == [
        ("orders", "at most 3 orders per batch (got 4)")
    ]
    assert [d["field"] for d in assert_error(empty, 422)["details"]] == ["orders"]
    assert at_limit.status_code == 201 and len(at_limit.json["orders"]) == 3


def test_body_limits(client, db, app, alice, settings):
    """A batch may be larger than one order's body limit, up to ORDERS_BATCH_MAX_BODY_BYTES
    (413 past it); each order in it still obeys ORDERS_MAX_BODY_BYTES (422 naming it)."""
    app.extensions["orders.settings"].batch_max_body_bytes = 300_000
    filler = "x" * 1000
    big = [one_time(i, payload={"note": filler}) for i in range(100)]  # ~115 kB > 64 kB

    accepted = post(client, alice, big)
    too_large = post(client, alice, big * 3)
    one_huge = post(client, alice, [one_time(0), one_time(1, payload={"n": "y" * 70_000})])

    assert accepted.status_code == 201 and len(accepted.json["orders"]) == 100
    assert_error(too_large, 413)
    error = assert_error(one_huge, 422, "validation_error")
    assert [d["field"] for d in error["details"]] == ["orders.1"]
    assert db.execute("SELECT count(*) AS n FROM orders").fetchone()["n"] == 100


def test_idempotency_key_replays_the_same_orders(client, db, alice, bob):
    """The same key and body answer 200 with the same orders (as they are now) and create
    nothing; the same key with another body is a 422; another user's key is their own."""
    orders = [one_time(i) for i in range(3)]

    first = post(client, alice, orders, key="batch-1")
    client.delete(f"/orders/{first.json['orders'][1]['order_id']}", headers=alice.headers)
    again = post(client, alice, orders, key="batch-1")
    other_body = post(client, alice, orders[:2], key="batch-1")
    bobs = post(client, bob, orders, key="batch-1")

    assert first.status_code == 201 and again.status_code == 200
    ids = [o["order_id"] for o in first.json["orders"]]
    assert [o["order_id"] for o in again.json["orders"]] == ids
    assert [o["status"] for o in again.json["orders"]] == ["scheduled", "cancelled", "scheduled"]
    assert_error(other_body, 422, "idempotency_key_reused")
    assert bobs.status_code == 201 and not set(ids) & {o["order_id"] for o in bobs.json["orders"]}
    assert db.execute(COUNTS).fetchone() | {"events": None} == {
        "orders": 6,
        "jobs": 6,
        "events": None,
        "batches": 2,
    }


def test_concurrent_retries_with_one_key_create_one_batch(app, db, alice):
    """Two requests with the same key at the same moment: one batch is created, and both
    answers list the same orders."""
    orders = [one_time(i) for i in range(200)]
    start, answers = threading.Barrier(2), []

    def send() -> None:
        client = app.test_client()
        start.wait()
        answers.append(post(client, alice, orders, key="twin"))

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(a.status_code for a in answers) == [200, 201], [a.json for a in answers]
    assert answers[0].json["orders"] == answers[1].json["orders"]
    assert db.execute(COUNTS).fetchone() | {"events": None} == {
        "orders": 200,
        "jobs": 200,
        "events": None,
        "batches": 1,
    }


def test_batch_is_documented(client):
    """/openapi.json describes the batch endpoint with the same order model as POST /orders."""
    doc = client.get("/openapi.json").json

    operation = doc["paths"]["/orders/batch"]["post"]
    batch = doc["components"]["schemas"]["NewOrderBatch"]
    assert {"201", "200", "413", "422"} <= set(operation["responses"])
    assert batch["properties"]["orders"]["items"] == {"$ref": "#/components/schemas/NewOrder"}
    assert batch["properties"]["orders"]["minItems"] == 1
    assert "ORDERS_BATCH_MAX_ORDERS" in batch["properties"]["orders"]["description"]


@pytest.mark.slow
def test_workers_run_every_order_of_a_batch_once(client, db, alice, workers, database_url):
    """Orders created by one batch, due now, each run exactly once by real workers."""
    orders = [{"order_name": f"due {i}"} for i in range(40)]
    orders += [{"order_name": "twice", "is_recurring": True, "repeat_interval": 1}]
    orders[-1] |= {"repeat_unit": "seconds", "max_executions": 2}
    assert post(client, alice, orders).status_code == 201

    workers.start("w1")
    workers.start("w2")

    rows = wait_until(
        database_url, SUMMARY, lambda rs: all(r["status"] == "completed" for r in rs), timeout=120
    )
    assert [r["runs"] for r in rows] == [1] * 40 + [2]
    assert all(r["runs"] == r["distinct_runs"] == r["executions_count"] for r in rows)
