"""What is coming: the upcoming-runs table follows the schedules, order changes, the clock and
real workers; the customer endpoint, the operator's view and chart read it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orders.scheduling.schedule import recurrence_of
from orders.scheduling.upcoming.expansion import expand
from orders.scheduling.upcoming.store import horizon_end, reach
from orders.scheduling.upcoming.upkeep import upkeep
from tests.helpers import assert_error, fail_executions_of, in_
from tests.workers import wait_until

UNEXPANDED = "UPDATE orders SET upcoming_until = upcoming_not_expanded() WHERE order_id = %s"
ROWS = "SELECT minute, first_run_at, runs FROM upcoming_runs WHERE order_id = %s ORDER BY minute"
ORDER = (
    "SELECT order_id, user_id, status::text, is_recurring, repeat_interval,"
    " repeat_unit::text AS repeat_unit, cron, timezone, max_executions, executions_count,"
    " next_run_at, schedule_time FROM orders WHERE order_id = %s"
)


def create(client, account, **fields) -> dict:
    body = {"order_name": "tea", "schedule_time": in_(3600)} | fields
    response = client.post("/orders", json=body, headers=account.headers)
    assert response.status_code == 201, response.json
    return response.json


def rows_of(db, order_id: int) -> list[tuple[datetime, datetime, int]]:
    return [(r["minute"], r["first_run_at"], r["runs"]) for r in db.execute(ROWS, (order_id,))]


def schedule(db, order_id: int, start: datetime, end: datetime) -> list[tuple]:
    """The order's slots in [start, end] by the schedule code, one (minute, first, runs) each
    minute, bounded by max_executions: what the table must hold."""
    order = db.execute(ORDER, (order_id,)).fetchone()
    recurrence, slot, left = recurrence_of(order), order["next_run_at"], None
    if order["max_executions"] is not None:
        left = order["max_executions"] - order["executions_count"]
    minutes: dict[datetime, list] = {}
    while slot <= end and left != 0:
        if slot >= start:
            entry = minutes.setdefault(slot.replace(second=0, microsecond=0), [slot, 0])
            entry[1] += 1
        left = None if left is None else left - 1
        if recurrence is None:
            break
        slot = recurrence.following(slot)
    return [(m, first, runs) for m, (first, runs) in sorted(minutes.items())]


def in_table_window(rows, start: datetime, end: datetime) -> list[tuple]:
    return [r for r in rows if start <= r[0] <= end]


def test_an_interval_order_is_expanded_over_the_horizon(client, db, alice):
    """Every 7 minutes from an hour ahead: the table holds each run of the next 24 h, per minute."""
    order = create(client, alice, is_recurring=True, repeat_interval=7, repeat_unit="minutes")

    rows = rows_of(db, order["order_id"])

    end = rows[-1][1]
    assert rows == schedule(db, order["order_id"], rows[0][0], end)
    assert timedelta(hours=24) < end - datetime.now(UTC) <= timedelta(hours=30, minutes=10)
    assert len(rows) > 190


def test_seconds_intervals_are_counted_per_minute(client, db, alice):
    """Every 7 seconds: one row per minute with how many runs fall in it, not one per run."""
    order = create(
        client,
        alice,
        schedule_time=in_(5),
        is_recurring=True,
        repeat_interval=7,
        repeat_unit="seconds",
    )

    rows = rows_of(db, order["order_id"])

    assert rows[:3] == schedule(
        db, order["order_id"], rows[0][0], rows[2][0] + timedelta(minutes=1, microseconds=-1)
    )
    assert {runs for _, _, runs in rows[1:-1]} <= {8, 9}  # the ends are partial minutes
    assert 24 * 60 + 8 <= len(rows) <= 30 * 60 + 12  # 24 h 10 min, and up to a quarter more


def test_cron_with_a_time_zone_across_the_spring_change(client, db, alice):
    """Every half hour from 01:00 to 03:59 Paris time over 2030-03-31 (02:00 -> 03:00): the
    upkeep, on a clock set to the day before, writes exactly the slots the schedule code gives."""
    order = create(
        client,
        alice,
        is_recurring=True,
        cron="*/30 1-3 * * *",
        timezone="Europe/Paris",
        schedule_time="2030-03-30T12:00:00+00:00",
    )
    now = datetime(2030, 3, 30, 12, 0, tzinfo=UTC)
    assert rows_of(db, order["order_id"]) == []  # years ahead: nothing within the horizon yet

    done = upkeep(db, now, hours=24)

    rows = rows_of(db, order["order_id"])
    assert rows == schedule(db, order["order_id"], now, reach(now, 24))
    paris = [
        r[1].astimezone(
            recurrence_of({"is_recurring": True, "cron": "x", "timezone": "Europe/Paris"}).zone
        )
        for r in rows
    ]
    assert [t.strftime("%m-%d %H:%M") for t in paris] == [
        "03-31 01:00",
        "03-31 01:30",
        "03-31 03:00",
        "03-31 03:30",
    ]
    assert done.extended == 1 and done.written == 4


def test_cron_expansion_matches_the_schedule_across_the_autumn_change():
    """Every 20 minutes in New York over 2030-11-03 (02:00 -> 01:00): the same slots as
    Recurrence.following, the repeated hour once."""
    order = {
        "order_id": 1,
        "user_id": 1,
        "is_recurring": True,
        "cron": "*/20 * * * *",
        "timezone": "America/New_York",
        "repeat_interval": None,
        "repeat_unit": None,
        "max_executions": None,
        "executions_count": 0,
        "schedule_time": None,
        "next_run_at": datetime(2030, 11, 3, 4, 0, tzinfo=UTC),
    }
    now, target = datetime(2030, 11, 3, 3, 0, tzinfo=UTC), datetime(2030, 11, 3, 9, 0, tzinfo=UTC)
    recurrence, slot, expected = recurrence_of(order), order["next_run_at"], []
    while slot <= target:
        expected.append(slot)
        slot = recurrence.following(slot)

    expansion = expand(order, now, target)

    assert [first for first, _ in expansion.minutes.values()] == expected
    assert expansion.until == slot


def test_max_executions_bounds_the_rows(client, db, alice):
    """Every hour, three times: three rows, and nothing more for the upkeep to write."""
    order = create(
        client, alice, is_recurring=True, repeat_interval=1, repeat_unit="hours", max_executions=3
    )

    rows = rows_of(db, order["order_id"])
    done = upkeep(db, datetime.now(UTC) + timedelta(hours=1), hours=24)

    assert [r[2] for r in rows] == [1, 1, 1]
    assert rows == schedule(db, order["order_id"], rows[0][0], rows[-1][1])
    assert done.written == 0 and rows_of(db, order["order_id"])[1:] == rows[1:]


def test_a_one_time_order_enters_the_horizon_when_its_time_comes(client, db, alice):
    """One row at its time when within the horizon; three days ahead, none until the clock
    brings it within 24 h, then exactly one."""
    soon = create(client, alice, schedule_time=in_(7200))
    later = create(client, alice, schedule_time=in_(3 * 86400))

    assert [r[1] for r in rows_of(db, soon["order_id"])] == [
        datetime.fromisoformat(soon["next_run_at"])
    ]
    assert rows_of(db, later["order_id"]) == []

    upkeep(db, datetime.now(UTC) + timedelta(days=2, hours=1), hours=24)

    assert [r[1] for r in rows_of(db, later["order_id"])] == [
        datetime.fromisoformat(later["next_run_at"])
    ]
    assert rows_of(db, soon["order_id"]) == []  # its minute is past on that clock: purged


def test_update_cancel_and_retry_rewrite_the_rows(client, db, alice):
    """A PATCH replaces the rows with the new schedule; DELETE removes them; a retried order
    gets its rows back."""
    order = create(client, alice, is_recurring=True, repeat_interval=1, repeat_unit="hours")
    oid = order["order_id"]

    patched = client.patch(
        f"/orders/{oid}",
        json={"cron": "15 */6 * * *", "timezone": "Asia/Tokyo"},
        headers=alice.headers,
    )
    after_patch = rows_of(db, oid)
    expected = schedule(db, oid, after_patch[0][0], reach(datetime.now(UTC), 24))
    client.delete(f"/orders/{oid}", headers=alice.headers)
    after_cancel = rows_of(db, oid)

    assert patched.status_code == 200, patched.json
    assert [r[1].minute for r in after_patch] == [15] * len(after_patch)
    # every 6 h over a 24 h horizon, written up to a spread point a little further: 4 to 6 slots
    assert 4 <= len(after_patch) <= 6 and after_patch == expected[: len(after_patch)]
    assert after_cancel == []


@pytest.mark.slow
def test_a_failed_order_loses_its_rows_and_a_retry_brings_them_back(
    client, db, alice, workers, database_url
):
    """A recurring order whose runs keep failing: the worker's last attempt fails it and deletes
    its rows in the same transaction; POST /retry expands it again, due now."""
    order = create(
        client,
        alice,
        schedule_time=in_(0.5),
        is_recurring=True,
        repeat_interval=1,
        repeat_unit="hours",
    )
    oid = order["order_id"]
    fail_executions_of(db, oid)
    assert 25 <= len(rows_of(db, oid)) <= 31  # now, then hourly over 24 h (to 30 h) 10 min
    workers.start("w1")

    failed = "SELECT 1 FROM orders WHERE order_id = %(id)s AND status = 'failed'"
    wait_until(database_url, failed, bool, params={"id": oid})
    after_failure = rows_of(db, oid)
    db.execute("DROP TRIGGER fail_run ON order_executions")
    retried = client.post(f"/orders/{oid}/retry", headers=alice.headers)

    assert after_failure == []
    assert retried.status_code == 200, retried.json
    rows = rows_of(db, oid)
    assert rows[0][1] == datetime.fromisoformat(retried.json["next_run_at"])
    assert 25 <= len(rows) <= 31 and rows == schedule(db, oid, rows[0][0], rows[-1][1])


def test_batch_create_expands_every_order(client, db, alice):
    """A batch of one-time, interval and cron orders: each has the rows its schedule gives."""
    body = {
        "orders": [
            {"order_name": "a", "schedule_time": in_(600)},
            {
                "order_name": "b",
                "schedule_time": in_(600),
                "is_recurring": True,
                "repeat_interval": 2,
                "repeat_unit": "hours",
            },
            {
                "order_name": "c",
                "is_recurring": True,
                "cron": "0 9 * * *",
                "timezone": "Europe/Paris",
            },
        ]
    }

    created = client.post("/orders/batch", json=body, headers=alice.headers)

    assert created.status_code == 201, created.json
    for order in created.json["orders"]:
        rows = rows_of(db, order["order_id"])
        assert rows and rows == schedule(db, order["order_id"], rows[0][0], rows[-1][1])
    counts = [len(rows_of(db, o["order_id"])) for o in created.json["orders"]]
    assert counts[0] == 1 and 13 <= counts[1] <= 16 and counts[2] in (1, 2)


def test_the_upkeep_follows_the_clock_and_purges_the_past(client, db, alice):
    """Passes hours apart on a passed-in clock: past minutes are purged, the horizon moves
    with the clock, and the table stays equal to the schedule; a second pass at the same time
    writes nothing."""
    order = create(
        client,
        alice,
        schedule_time=in_(60),
        is_recurring=True,
        repeat_interval=13,
        repeat_unit="minutes",
    )
    oid, now = order["order_id"], datetime.now(UTC)

    for hours in (7, 14, 30):  # each past the quarter horizon an order is written ahead
        clock = now + timedelta(hours=hours)
        done = upkeep(db, clock, hours=24)
        again = upkeep(db, clock, hours=24)
        minute = clock.replace(second=0, microsecond=0)

        rows = rows_of(db, oid)
        assert rows[0][0] >= minute and done.purged > 0 and done.written > 0
        assert rows[-1][1] > horizon_end(clock, 24) - timedelta(minutes=13)
        assert rows == schedule(db, oid, minute, rows[-1][1])
        assert again.written == 0 and again.purged == 0


def test_orders_made_by_hand_are_expanded_by_the_upkeep(client, db, alice):
    """An order inserted by SQL (upcoming_until not expanded) is picked up by the next pass."""
    order = create(client, alice, is_recurring=True, repeat_interval=1, repeat_unit="hours")
    oid = order["order_id"]
    db.execute("DELETE FROM upcoming_runs WHERE order_id = %s", (oid,))
    db.execute(UNEXPANDED, (oid,))

    upkeep(db, datetime.now(UTC), hours=24)

    assert rows_of(db, oid)[0][1] == datetime.fromisoformat(order["next_run_at"])
    assert 24 <= len(rows_of(db, oid)) <= 30  # from an hour ahead, hourly over 24 (to 30) h


def test_upkeep_writes_leave_no_audit_events(client, db, alice):
    """Moving upcoming_until is bookkeeping: the audit trail does not grow."""
    create(client, alice, is_recurring=True, repeat_interval=1, repeat_unit="hours")
    before = db.execute("SELECT count(*) AS n FROM order_events").fetchone()["n"]

    done = upkeep(db, datetime.now(UTC) + timedelta(hours=7), hours=24)

    assert done.extended == 1
    assert db.execute("SELECT count(*) AS n FROM order_events").fetchone()["n"] == before


def test_paused_orders_and_accounts_have_no_upcoming_runs_until_resumed(client, db, alice):
    """A paused order will not run: a pause forgets its rows, the upkeep leaves it alone, and
    after the resume the next pass writes them again (an account pause the same for all)."""
    hourly = {"is_recurring": True, "repeat_interval": 1, "repeat_unit": "hours"}
    one, two = (
        create(client, alice, **hourly)["order_id"],
        create(client, alice, **hourly)["order_id"],
    )
    expected = rows_of(db, one)
    pause = "SELECT orders_pause(%s, %s, 'operator:t')"
    resume = "SELECT orders_resume(%s, %s, 'operator:t')"

    db.execute(pause, ("order", str(one)))
    upkeep(db, datetime.now(UTC), hours=24)
    assert rows_of(db, one) == [] and rows_of(db, two) != []
    assert len(db.execute("SELECT * FROM orders").fetchall()) == 2  # every mark loads in Python
    db.execute(pause, ("account", alice.email))
    upkeep(db, datetime.now(UTC), hours=24)
    assert rows_of(db, two) == []

    db.execute(resume, ("account", alice.email))
    upkeep(db, datetime.now(UTC), hours=24)
    assert rows_of(db, one) == [] and rows_of(db, two) == expected_for(db, two)
    db.execute(resume, ("order", str(one)))
    upkeep(db, datetime.now(UTC), hours=24)
    assert rows_of(db, one) == expected


def expected_for(db, order_id: int) -> list[tuple]:
    rows = rows_of(db, order_id)
    return schedule(db, order_id, rows[0][0], rows[-1][1]) if rows else [("no rows",)]


@pytest.mark.slow
def test_a_real_worker_leaves_the_future_rows_right(client, db, alice, workers, database_url):
    """Every 2 s, 8 times, and every 3 s without end, run by a real worker: runs never write
    the table, yet its future rows stay those of the schedule; after the last run of the
    bounded order nothing of it remains ahead."""
    bounded = create(
        client,
        alice,
        schedule_time=in_(1),
        is_recurring=True,
        repeat_interval=2,
        repeat_unit="seconds",
        max_executions=8,
    )
    endless = create(
        client,
        alice,
        schedule_time=in_(1),
        is_recurring=True,
        repeat_interval=3,
        repeat_unit="seconds",
    )
    workers.start("w1")

    done = "SELECT 1 FROM orders WHERE order_id = %(id)s AND status = 'completed'"
    wait_until(database_url, done, bool, timeout=60, params={"id": bounded["order_id"]})
    ran = "SELECT executions_count AS n FROM orders WHERE order_id = %(id)s"
    wait_until(database_url, ran, lambda r: r[0]["n"] >= 5, params={"id": endless["order_id"]})

    now = datetime.now(UTC)
    ahead = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    order = db.execute(ORDER, (endless["order_id"],)).fetchone()
    expected = expand(order, now, reach(now, 24))
    table = {r[0]: [r[1], r[2]] for r in rows_of(db, endless["order_id"]) if r[0] >= ahead}
    end = max(table)  # the table reaches as far as when it was last extended
    assert len(table) > 1400
    assert table == {m: v for m, v in expected.minutes.items() if ahead <= m < end} | {
        end: table[end]
    }
    assert [r for r in rows_of(db, bounded["order_id"]) if r[0] >= ahead] == []
    last = db.execute("SELECT last_run_at FROM orders WHERE order_id = %s", (bounded["order_id"],))
    last_minute = last.fetchone()["last_run_at"].replace(second=0, microsecond=0)
    assert all(r[0] <= last_minute for r in rows_of(db, bounded["order_id"]))  # the rest: purged


@pytest.mark.slow
def test_the_periodic_task_expands_orders_in_a_real_worker(
    client, db, alice, workers, database_url
):
    """The expand_upcoming_runs task, run by a worker's periodic deferrer, expands an order
    whose rows are gone and whose expansion was reset, as if inserted by hand."""
    order = create(client, alice, is_recurring=True, repeat_interval=1, repeat_unit="hours")
    oid = order["order_id"]
    db.execute("DELETE FROM upcoming_runs WHERE order_id = %s", (oid,))
    db.execute(UNEXPANDED, (oid,))

    workers.start("w1", ORDERS_UPCOMING_CRON="* * * * * */2")

    count = "SELECT count(*) AS n FROM upcoming_runs WHERE order_id = %(id)s"
    wait_until(database_url, count, lambda r: r[0]["n"] >= 24, timeout=60, params={"id": oid})
    rows = rows_of(db, oid)
    assert rows == schedule(db, oid, rows[0][0], rows[-1][1])
    assert rows[0][1] == datetime.fromisoformat(order["next_run_at"])


def test_the_endpoint_answers_the_callers_runs_by_minute_in_pages(client, alice, bob):
    """Alice sees her own runs, by time, in pages; Bob's orders never appear."""
    tea = create(
        client,
        alice,
        schedule_time=in_(600),
        is_recurring=True,
        repeat_interval=1,
        repeat_unit="hours",
    )
    once = create(client, alice, schedule_time=in_(1200))
    create(client, bob, schedule_time=in_(900))

    first = client.get("/orders/upcoming?hours=2&limit=2", headers=alice.headers)
    second = client.get(
        f"/orders/upcoming?hours=2&limit=2&cursor={first.json['next_cursor']}",
        headers=alice.headers,
    )

    assert first.status_code == 200, first.json
    runs = first.json["runs"] + second.json["runs"]
    assert [(r["order_id"], r["runs"]) for r in runs] == [
        (tea["order_id"], 1),
        (once["order_id"], 1),
        (tea["order_id"], 1),
    ]
    assert runs[0]["run_at"] == tea["next_run_at"].replace("+00:00", "Z") or datetime.fromisoformat(
        runs[0]["run_at"]
    ) == datetime.fromisoformat(tea["next_run_at"])
    assert runs[0]["order_name"] == "tea"
    assert second.json["next_cursor"] is None
    assert client.get("/orders/upcoming", headers=bob.headers).json["runs"][0]["runs"] == 1
    assert len(client.get("/orders/upcoming", headers=bob.headers).json["runs"]) == 1


@pytest.mark.parametrize("hours", ["0", "-1", "25", "abc", "nan", "1e400"])
def test_the_endpoint_refuses_a_bad_window(client, alice, hours):
    """hours zero, negative, past the horizon or not a number: 400 in the one error shape."""
    response = client.get(f"/orders/upcoming?hours={hours}", headers=alice.headers)

    error = assert_error(response, 400, "invalid_hours")
    assert error["details"][0]["field"] == "hours"


def test_the_endpoint_needs_a_token(client):
    """No token, no runs."""
    assert_error(client.get("/orders/upcoming"), 401)


def test_the_sql_view_and_the_dashboard_count_runs_per_minute(client, db, alice, bob, admin):
    """Two accounts' orders in the same minute: one minute with both runs in the view and in
    the admin's chart; customers may not read the chart."""
    at = (datetime.now(UTC) + timedelta(hours=1)).replace(second=5, microsecond=0)
    create(client, alice, schedule_time=at.isoformat())
    create(client, bob, schedule_time=(at + timedelta(seconds=30)).isoformat())
    create(client, bob, schedule_time=(at + timedelta(minutes=3)).isoformat())

    view = db.execute("SELECT minute, runs, orders FROM upcoming_runs_per_minute ORDER BY minute")
    chart = client.get("/dashboard/api/upcoming?hours=2", headers=admin.headers)

    minute = at.replace(second=0)
    assert [(r["minute"], r["runs"], r["orders"]) for r in view] == [
        (minute, 2, 2),
        (minute + timedelta(minutes=3), 1, 1),
    ]
    assert chart.status_code == 200, chart.json
    assert [(m["runs"], m["orders"]) for m in chart.json["minutes"]] == [(2, 2), (1, 1)]
    assert chart.json["total_runs"] == 3 and chart.json["horizon_hours"] == 24
    assert_error(client.get("/dashboard/api/upcoming", headers=alice.headers), 403)
    assert_error(client.get("/dashboard/api/upcoming?hours=30", headers=admin.headers), 400)
