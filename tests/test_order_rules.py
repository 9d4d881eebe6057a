"""One set of rules for an order's definition, the same through POST, PUT and PATCH: every
case the issue found reaching a 500 (or slipping through PATCH) is a 422 naming its field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.helpers import assert_error, in_, jobs_of

CRON_ORDER = {"order_name": "cron", "is_recurring": True, "cron": "0 9 * * MON"}
INTERVAL_ORDER = {
    "order_name": "interval",
    "is_recurring": True,
    "repeat_interval": 1,
    "repeat_unit": "days",
}


def create(client, alice, **fields) -> dict:
    body = {"order_name": "soap", "schedule_time": in_(3600)} | fields
    response = client.post("/orders", json=body, headers=alice.headers)
    assert response.status_code == 201, response.json
    return response.json


def assert_422_on(response, field: str) -> None:
    error = assert_error(response, 422)
    assert any((d["field"] or "") == field for d in error.get("details") or []), error
    assert "Value error" not in str(error)  # pydantic's prefix is not for clients


def write(client, alice, method: str, body: dict, base: dict = CRON_ORDER):
    """POST `body`, or PUT/PATCH it onto a new order made from `base`."""
    if method == "post":
        return client.post("/orders", json=body, headers=alice.headers)
    order = create(client, alice, **base)
    return getattr(client, method)(f"/orders/{order['order_id']}", json=body, headers=alice.headers)


@pytest.mark.parametrize("method", ["post", "put", "patch"])
def test_cron_without_a_time_zone_runs_in_utc(client, alice, method):
    """It used to reach the database's CHECK and answer 500."""
    body = {"cron": "0 9 * * MON"} | ({} if method == "patch" else CRON_ORDER)

    response = write(client, alice, method, body, base=INTERVAL_ORDER)

    assert response.status_code in (200, 201), response.json
    assert response.json["timezone"] == "UTC" and response.json["cron"] == "0 9 * * MON"
    assert response.json["next_run_at"].endswith("T09:00:00Z")


@pytest.mark.parametrize("method", ["post", "put", "patch"])
@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"cron": "0 0 31 2 *"}, "cron"),  # valid syntax, never fires
        ({"cron": "0 0 31 4,6,9,11 *"}, "cron"),
        ({"cron": "0 0 * * * *"}, "cron"),  # 6 fields
        ({"cron": "@daily"}, "cron"),
        ({"cron": "H 9 * * *"}, "cron"),
        ({"cron": "0 9 * * MON", "timezone": "Mars/Base"}, "timezone"),
        ({"cron": "0 9 * * MON", "timezone": "localtime"}, "timezone"),
        ({"repeat_interval": 1_000_000, "repeat_unit": "weeks"}, "repeat_interval"),
        ({"repeat_interval": 600, "repeat_unit": "weeks"}, "repeat_interval"),  # > 10 years
        ({"repeat_interval": 1}, "repeat_unit"),
        ({"repeat_unit": "days"}, "repeat_interval"),
    ],
)
def test_schedules_that_cannot_run_are_422_everywhere(client, alice, method, change, field):
    """The same refusal, naming the same field, through all three ways to write an order;
    a refused change leaves the order and its job as they were."""
    body = change if method == "patch" else {"order_name": "x", "is_recurring": True} | change

    response = write(client, alice, method, body)

    assert_422_on(response, field)
    if method != "post":
        orders = client.get("/orders", headers=alice.headers).json["orders"]
        assert [(o["cron"], o["repeat_interval"]) for o in orders] == [("0 9 * * MON", None)]


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"schedule_time": "2019-01-01T00:00:00Z"}, "schedule_time"),
        ({"schedule_time": (datetime.now(UTC) - timedelta(days=800)).isoformat()}, "schedule_time"),
        ({"schedule_time": "9999-12-31T23:00:00-14:00"}, "schedule_time"),
        (
            {"schedule_time": (datetime.now(UTC) + timedelta(days=4000)).isoformat()},
            "schedule_time",
        ),
        ({"schedule_time": None}, "schedule_time"),
        ({"order_name": None}, "order_name"),
        ({"order_name": "   "}, "order_name"),
        ({"order_name": ""}, "order_name"),
        ({"payload": None}, "payload"),
        ({"is_recurring": None}, "is_recurring"),
        ({"timezone": "Mars/Base"}, "timezone"),
        ({"provider_id": 2**63}, "provider_id"),
    ],
)
def test_patch_refuses_what_post_refuses(client, db, alice, patch, field):
    """PATCH used to have no validators at all."""
    order = create(client, alice, **CRON_ORDER)

    response = client.patch(f"/orders/{order['order_id']}", json=patch, headers=alice.headers)

    assert_422_on(response, field)
    assert [j["status"] for j in jobs_of(db, order["order_id"])] == ["todo"]


@pytest.mark.parametrize(
    "body",
    [
        {"order_name": "x", "schedule_time": "9999-12-31T23:59:59-14:00"},
        {"order_name": "x", "schedule_time": "0001-01-01T00:00:00+14:00"},
        {"order_name": "x", "provider_id": 10**30},
        {"order_name": "x", "max_executions": 10**30},
        {"order_name": "x", "is_recurring": True, "repeat_interval": 10**30, "repeat_unit": "days"},
    ],
)
def test_out_of_range_values_are_422_not_500(client, alice, body):
    assert_error(client.post("/orders", json=body, headers=alice.headers), 422)


def test_a_one_time_order_cannot_take_a_time_zone_through_patch(client, alice):
    order = create(client, alice)

    response = client.patch(
        f"/orders/{order['order_id']}", json={"timezone": "Europe/Paris"}, headers=alice.headers
    )

    assert_422_on(response, "timezone")


def test_daily_interval_keeps_its_local_time_with_a_time_zone(client, alice):
    """An interval of days may name its wall clock; the first run is the schedule_time."""
    first = "2030-03-30T09:00:00+01:00"  # the day before Paris's spring change

    order = create(client, alice, **INTERVAL_ORDER, timezone="Europe/Paris", schedule_time=first)

    assert order["timezone"] == "Europe/Paris" and order["next_run_at"] == "2030-03-30T08:00:00Z"


def test_changing_the_schedule_anchors_it_at_its_next_run(client, alice):
    """An hourly order switched to daily keeps its next run and then its time of day."""
    order = create(client, alice, is_recurring=True, repeat_interval=1, repeat_unit="hours")

    patched = client.patch(
        f"/orders/{order['order_id']}", json={"repeat_unit": "days"}, headers=alice.headers
    ).json

    assert patched["next_run_at"] == order["next_run_at"] == patched["schedule_time"]


def test_max_executions_below_runs_done_is_refused_on_put_too(client, db, alice):
    order = create(client, alice, **INTERVAL_ORDER, max_executions=5)
    db.execute("UPDATE orders SET executions_count = 3 WHERE order_id = %s", (order["order_id"],))

    body = INTERVAL_ORDER | {"max_executions": 3}
    response = client.put(f"/orders/{order['order_id']}", json=body, headers=alice.headers)

    assert_422_on(response, "max_executions")


def test_the_database_mirrors_the_interval_and_cron_rules(db, alice):
    """Operators' SQL meets the same rules (CHECK constraints)."""
    import psycopg

    insert = (
        "INSERT INTO orders (user_id, order_name, schedule_time, next_run_at, is_recurring, "
        "repeat_interval, repeat_unit, cron, timezone) "
        "VALUES (%(u)s, 'x', now(), now(), true, %(i)s, %(unit)s, %(cron)s, %(tz)s)"
    )
    bad = [
        {"i": 1_000_000, "unit": "weeks", "cron": None, "tz": None},
        {"i": None, "unit": None, "cron": "0 9 * * * *", "tz": "UTC"},
        {"i": None, "unit": None, "cron": "0 9 * * *", "tz": None},
    ]
    for params in bad:
        with pytest.raises(psycopg.errors.CheckViolation):
            db.execute(insert, params | {"u": alice.user_id})
    db.execute(
        insert, {"u": alice.user_id, "i": 1, "unit": "days", "cron": None, "tz": "Asia/Tokyo"}
    )
