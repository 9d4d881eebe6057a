"""Orders API: create, read, list, update, convert, cancel, history; each write one transaction."""

from __future__ import annotations

import json

import pytest

from tests.helpers import assert_error, flush_status_log, in_, jobs_of


def create(client, account, **fields):
    body = {"order_name": "coffee beans", "schedule_time": in_(3600)} | fields
    response = client.post("/orders", json=body, headers=account.headers)
    assert response.status_code == 201, response.json
    return response.json


def test_create_writes_order_job_and_audit_together(client, db, alice, settings, database_url):
    """One POST: the order, its todo job at schedule_time, a 'created' event and a log line."""
    order = create(client, alice)

    jobs = jobs_of(db, order["order_id"])
    events = db.execute("SELECT * FROM order_events WHERE order_id = %s", (order["order_id"],))
    lines = [json.dumps(x) for x in flush_status_log(database_url, settings.log_file)]
    assert order["status"] == "scheduled" and order["user_id"] == alice.user_id
    assert [(j["id"], j["status"]) for j in jobs] == [(order["job_id"], "todo")]
    assert jobs[0]["scheduled_at"].isoformat() == order["next_run_at"].replace("Z", "+00:00")
    assert [(e["event_type"], e["to_status"], e["actor"]) for e in events] == [
        ("created", "scheduled", f"user:{alice.user_id}")
    ]
    assert json.loads(lines[-1]) | {"timestamp": None} == {
        "timestamp": None,
        "event_id": json.loads(lines[-1])["event_id"],
        "order_id": order["order_id"],
        "user_id": alice.user_id,
        "job_id": order["job_id"],
        "from": None,
        "to": "scheduled",
        "executions_count": 0,
        "actor": f"user:{alice.user_id}",
    }


def test_original_create_path_still_works(client, alice):
    """POST /orders/create, the original system's path, does the same."""
    response = client.post("/orders/create", json={"order_name": "tea"}, headers=alice.headers)

    assert response.status_code == 201 and response.json["status"] == "scheduled"


def test_failed_transaction_leaves_nothing_behind(client, db, alice, settings, database_url):
    """If the transaction fails after the job was deferred, no order, job or audit row remains."""
    db.execute("""CREATE FUNCTION fail_audit() RETURNS trigger LANGUAGE plpgsql AS
                  $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$""")
    db.execute(
        "CREATE TRIGGER fail_audit BEFORE INSERT ON order_events "
        "FOR EACH ROW EXECUTE FUNCTION fail_audit()"
    )

    response = client.post("/orders", json={"order_name": "doomed"}, headers=alice.headers)

    assert_error(response, 500, "internal_error")
    assert "injected" not in response.get_data(as_text=True)
    for table in ("orders", "procrastinate_jobs", "order_events"):
        assert db.execute(f"SELECT count(*) AS n FROM {table}").fetchone()["n"] == 0, table  # noqa: S608
    assert flush_status_log(database_url, settings.log_file) == []


def test_recurring_by_interval(client, alice):
    """Every 2 hours, 3 times: the first run is at schedule_time."""
    at = in_(600)

    order = create(
        client,
        alice,
        schedule_time=at,
        is_recurring=True,
        repeat_interval=2,
        repeat_unit="hours",
        max_executions=3,
    )

    assert order["is_recurring"] and order["max_executions"] == 3
    assert order["next_run_at"] == order["schedule_time"]


def test_recurring_by_cron_in_a_time_zone(client, alice):
    """A cron order's first run is the next slot, computed in its own time zone."""
    order = create(
        client,
        alice,
        schedule_time="2030-01-07T07:00:00+00:00",
        is_recurring=True,
        cron="0 9 * * MON",
        timezone="Europe/Paris",
    )

    assert order["next_run_at"] == "2030-01-07T08:00:00Z"  # 09:00 in Paris, winter time


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "order_name"),
        ({"order_name": "  "}, "order_name"),
        ({"order_name": "x", "surprise": 1}, "surprise"),
        ({"order_name": "x", "schedule_time": "tomorrow-ish"}, "schedule_time"),
        ({"order_name": "x", "schedule_time": "2030-01-01T10:00:00"}, "schedule_time"),
        ({"order_name": "x", "schedule_time": "2001-01-01T10:00:00Z"}, "schedule_time"),
        (
            {
                "order_name": "x",
                "is_recurring": True,
                "repeat_interval": 1,
                "repeat_unit": "fortnights",
            },
            "repeat_unit",
        ),
        (
            {"order_name": "x", "is_recurring": True, "repeat_interval": 0, "repeat_unit": "days"},
            "repeat_interval",
        ),
        (
            {
                "order_name": "x",
                "is_recurring": True,
                "repeat_interval": 1,
                "repeat_unit": "days",
                "max_executions": 0,
            },
            "max_executions",
        ),
        ({"order_name": "x", "repeat_interval": 1, "repeat_unit": "days"}, None),
        ({"order_name": "x", "is_recurring": True}, None),
        ({"order_name": "x", "is_recurring": True, "cron": "61 * * * *"}, "cron"),
        (
            {
                "order_name": "x",
                "is_recurring": True,
                "cron": "0 9 * * MON",
                "timezone": "Mars/Olympus",
            },
            "timezone",
        ),
        (
            {
                "order_name": "x",
                "is_recurring": True,
                "repeat_interval": 1,
                "repeat_unit": "days",
                "cron": "0 9 * * MON",
            },
            None,
        ),
        ({"order_name": "x", "payload": [1, 2]}, "payload"),
    ],
)
def test_bad_orders_are_422_with_details(client, alice, body, field):
    """Each kind of bad input is a 422 naming the field, never a 500."""
    response = client.post("/orders", json=body, headers=alice.headers)

    error = assert_error(response, 422, "validation_error")
    if field:
        assert any((d["field"] or "").startswith(field) for d in error["details"]), error


def test_not_json_and_oversized_bodies(client, alice):
    """A body that is not JSON is a 400; one over the size limit a 413."""
    garbage = client.post(
        "/orders", data="{{", content_type="application/json", headers=alice.headers
    )
    huge = client.post(
        "/orders", json={"order_name": "x", "payload": {"a": "b" * 70_000}}, headers=alice.headers
    )

    assert_error(garbage, 400, "invalid_json")
    assert_error(huge, 413)


def test_orders_need_a_token(client):
    """No token, no orders."""
    assert_error(client.get("/orders"), 401, "unauthorized")


def test_idempotency_key_replays_without_a_second_job(client, db, alice):
    """The same key and body return the same order; the same key with another body is a 422."""
    headers = alice.headers | {"Idempotency-Key": "abc-123"}
    body = {"order_name": "milk", "schedule_time": in_(600)}

    first = client.post("/orders", json=body, headers=headers)
    again = client.post("/orders", json=body, headers=headers)
    other = client.post("/orders", json=body | {"order_name": "cream"}, headers=headers)

    assert first.status_code == 201 and again.status_code == 200
    assert again.json["order_id"] == first.json["order_id"]
    assert db.execute("SELECT count(*) AS n FROM procrastinate_jobs").fetchone()["n"] == 1
    assert_error(other, 422, "idempotency_key_reused")


def test_other_users_orders_do_not_exist_for_you(client, alice, bob):
    """Bob gets 404 on every route for Alice's order: no existence leak."""
    order_id = create(client, alice)["order_id"]
    url = f"/orders/{order_id}"

    for response in (
        client.get(url, headers=bob.headers),
        client.patch(url, json={"order_name": "mine"}, headers=bob.headers),
        client.put(url, json={"order_name": "mine"}, headers=bob.headers),
        client.delete(url, headers=bob.headers),
        client.get(f"{url}/history", headers=bob.headers),
        client.get("/orders/999999", headers=alice.headers),
    ):
        assert_error(response, 404, "not_found")


def test_list_filters_and_keyset_pagination(client, alice, bob):
    """Pages of 2 walk all of Alice's orders newest first; filters narrow the list."""
    ids = [create(client, alice, order_name=f"o{i}")["order_id"] for i in range(5)]
    create(client, alice, is_recurring=True, repeat_interval=1, repeat_unit="days")
    create(client, bob)

    seen, cursor = [], None
    while True:
        page = client.get(
            "/orders",
            query_string={"limit": 2, "is_recurring": "false"}
            | ({"cursor": cursor} if cursor else {}),
            headers=alice.headers,
        ).json
        seen += [o["order_id"] for o in page["orders"]]
        if not (cursor := page["next_cursor"]):
            break
    recurring = client.get("/orders?is_recurring=true", headers=alice.headers).json["orders"]
    cancelled = client.get("/orders?status=cancelled", headers=alice.headers).json["orders"]

    assert seen == sorted(ids, reverse=True)
    assert len(recurring) == 1 and cancelled == []


@pytest.mark.parametrize(
    "query",
    [
        "status=lost",
        "limit=0",
        "limit=5000",
        "cursor=%%%",
        "cursor=eyJiZWZvcmUiOiAtMX0=",
        "sort=order_id; DROP TABLE",
        "is_recurring=perhaps",
    ],
)
def test_bad_list_queries_are_422(client, alice, query):
    """Unknown filters, bad values and forged cursors are refused."""
    assert_error(client.get(f"/orders?{query}", headers=alice.headers), 422)


def test_patch_swaps_the_job_in_one_transaction(client, db, alice):
    """Rescheduling cancels the old job and defers one new job: exactly one is waiting."""
    order = create(client, alice)
    new_time = in_(7200)

    patched = client.patch(
        f"/orders/{order['order_id']}", json={"schedule_time": new_time}, headers=alice.headers
    ).json

    jobs = jobs_of(db, order["order_id"])
    assert [j["status"] for j in jobs] == ["cancelled", "todo"]
    assert patched["job_id"] == jobs[1]["id"] != order["job_id"]
    assert patched["next_run_at"] == patched["schedule_time"] != order["schedule_time"]


def test_convert_one_time_to_recurring_and_back(client, db, alice):
    """PATCH turns a one-time order recurring, and back; recurrence fields follow."""
    order_id = create(client, alice)["order_id"]
    url = f"/orders/{order_id}"

    recurring = client.patch(
        url,
        json={
            "is_recurring": True,
            "repeat_interval": 30,
            "repeat_unit": "minutes",
            "max_executions": 4,
        },
        headers=alice.headers,
    ).json
    by_cron = client.patch(
        url, json={"cron": "*/5 * * * *", "timezone": "UTC"}, headers=alice.headers
    ).json
    one_time = client.patch(url, json={"is_recurring": False}, headers=alice.headers).json

    assert (recurring["is_recurring"], recurring["repeat_unit"], recurring["max_executions"]) == (
        True,
        "minutes",
        4,
    )
    assert (by_cron["cron"], by_cron["repeat_interval"]) == ("*/5 * * * *", None)
    assert one_time["is_recurring"] is False and one_time["cron"] is None
    assert one_time["max_executions"] is None
    assert [j["status"] for j in jobs_of(db, order_id)].count("todo") == 1


def test_put_replaces_the_definition(client, alice):
    """PUT takes a whole order; fields left out return to their defaults."""
    order = create(client, alice, payload={"sku": 1})

    replaced = client.put(
        f"/orders/{order['order_id']}", json={"order_name": "renamed"}, headers=alice.headers
    )

    assert replaced.status_code == 200
    assert replaced.json["order_name"] == "renamed" and replaced.json["payload"] == {}


def test_bad_patches_are_refused_and_change_nothing(client, db, alice):
    """Recurrence on a one-time order, or max_executions at or below runs done: 422."""
    order = create(
        client, alice, is_recurring=True, repeat_interval=1, repeat_unit="days", max_executions=5
    )
    db.execute("UPDATE orders SET executions_count = 3 WHERE order_id = %s", (order["order_id"],))
    url = f"/orders/{order['order_id']}"

    below = client.patch(url, json={"max_executions": 2}, headers=alice.headers)
    mixed = client.patch(
        url, json={"is_recurring": False, "repeat_unit": "days"}, headers=alice.headers
    )
    unknown = client.patch(url, json={"status": "completed"}, headers=alice.headers)

    assert_error(below, 422, "validation_error")
    assert_error(mixed, 422)
    assert_error(unknown, 422)
    assert [j["status"] for j in jobs_of(db, order["order_id"])] == ["todo"]


def test_executing_order_cannot_change(client, db, alice):
    """While a run executes (order processing, or its job taken by a worker), writes are 409."""
    first, second = create(client, alice), create(client, alice)
    db.execute("UPDATE orders SET status = 'processing' WHERE order_id = %s", (first["order_id"],))
    db.execute("UPDATE procrastinate_jobs SET status = 'doing' WHERE id = %s", (second["job_id"],))

    for order in (first, second):
        url = f"/orders/{order['order_id']}"
        assert_error(
            client.patch(url, json={"order_name": "x"}, headers=alice.headers),
            409,
            "order_executing",
        )
        assert_error(client.delete(url, headers=alice.headers), 409, "order_executing")
    assert [j["status"] for j in jobs_of(db, second["order_id"])] == ["doing"]


def test_delete_cancels_order_and_job(client, db, alice, settings, database_url):
    """DELETE cancels the order and its job; a second DELETE changes nothing."""
    order = create(client, alice)
    url = f"/orders/{order['order_id']}"

    cancelled = client.delete(url, headers=alice.headers)
    again = client.delete(url, headers=alice.headers)
    update = client.patch(url, json={"order_name": "x"}, headers=alice.headers)

    assert cancelled.json["status"] == again.json["status"] == "cancelled"
    assert [j["status"] for j in jobs_of(db, order["order_id"])] == ["cancelled"]
    assert_error(update, 409, "order_finished")
    last = flush_status_log(database_url, settings.log_file)[-1]
    assert (last["from"], last["to"]) == ("scheduled", "cancelled")


def test_history_includes_changes_made_in_sql(client, db, alice):
    """The trigger audits the API and an operator's hand-written SQL alike."""
    order = create(client, alice)
    client.patch(
        f"/orders/{order['order_id']}", json={"order_name": "renamed"}, headers=alice.headers
    )
    db.execute(
        "UPDATE orders SET status = 'failed', next_run_at = NULL WHERE order_id = %s",
        (order["order_id"],),
    )

    events = client.get(f"/orders/{order['order_id']}/history", headers=alice.headers).json

    assert [(e["event_type"], e["actor"]) for e in events["events"]] == [
        ("created", f"user:{alice.user_id}"),
        ("updated", f"user:{alice.user_id}"),
        ("status_changed", "db:postgres"),
    ]
    assert events["events"][1]["details"]["changed"] == {"order_name": "renamed"}
    assert (events["events"][2]["from_status"], events["events"][2]["to_status"]) == (
        "scheduled",
        "failed",
    )


def test_database_refuses_invalid_rows_from_operators(db, alice):
    """CHECK constraints hold even for SQL written by hand."""
    bad_rows = [
        "INSERT INTO orders (user_id, order_name, schedule_time, next_run_at, repeat_unit) "
        "VALUES (%(u)s, 'x', now(), now(), 'days')",
        "INSERT INTO orders (user_id, order_name, schedule_time, next_run_at, is_recurring) "
        "VALUES (%(u)s, 'x', now(), now(), true)",
        "INSERT INTO orders (user_id, order_name, schedule_time, next_run_at, is_recurring, "
        "repeat_interval, repeat_unit, max_executions, executions_count) "
        "VALUES (%(u)s, 'x', now(), now(), true, 1, 'days', 2, 3)",
        "INSERT INTO orders (user_id, order_name, schedule_time, status) "
        "VALUES (%(u)s, 'x', now(), 'scheduled')",
        "INSERT INTO orders (user_id, order_name, schedule_time, next_run_at, status) "
        "VALUES (%(u)s, 'x', now(), now(), 'lost')",
    ]
    import psycopg

    for sql in bad_rows:
        with pytest.raises(
            (psycopg.errors.CheckViolation, psycopg.errors.InvalidTextRepresentation)
        ):
            db.execute(sql, {"u": alice.user_id})


@pytest.mark.parametrize("key", ["", "k" * 256])
def test_bad_idempotency_keys_are_422(client, alice, key):
    """An empty or oversized Idempotency-Key is refused before anything is written."""
    response = client.post(
        "/orders", json={"order_name": "x"}, headers=alice.headers | {"Idempotency-Key": key}
    )

    assert_error(response, 422, "validation_error")


def test_operators_act_on_any_order_under_their_own_name(app, client, db, alice, bob):
    """user_id None is an operator: any customer's order, audited with the operator's actor."""
    from orders.core.errors import NotFound
    from orders.scheduling import changes

    order = create(client, alice)
    db_ = app.extensions["orders.db"]
    with pytest.raises(NotFound):
        changes.cancel_order(db_, bob.user_id, order["order_id"])
    cancelled = changes.cancel_order(db_, None, order["order_id"], actor="operator:ops")
    events = db.execute(
        "SELECT to_status, actor FROM order_events WHERE order_id = %s ORDER BY event_id",
        (order["order_id"],),
    ).fetchall()
    assert cancelled.status == "cancelled" and cancelled.user_id == alice.user_id
    assert [(e["to_status"], e["actor"]) for e in events] == [
        ("scheduled", f"user:{alice.user_id}"),
        ("cancelled", "operator:ops"),
    ]
