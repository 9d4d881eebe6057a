"""Missed runs (issue 15, item 4): each policy's rule on a clock the test sets, then across a
real outage (no worker for several slots), and expires_after for one-time orders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orders.scheduling.missed import MissedRules, count_slots, plan_recurring
from orders.scheduling.schedule import Recurrence
from tasks.executor.runs import SKIPPED
from tests.helpers import assert_error, in_
from tests.workers import wait_until

HOURLY = Recurrence(interval=1, unit="hours")
NINE_IN_PARIS = Recurrence(cron="0 9 * * *", timezone="Europe/Paris")
DUE = datetime(2026, 1, 1, 9, tzinfo=UTC)
RULES = MissedRules(grace=timedelta(seconds=60), max_catch_up=100)


def at(hour: int, minute: int = 0) -> datetime:
    return DUE.replace(hour=hour, minute=minute)


@pytest.mark.parametrize("policy", ["latest", "all", "none"])
def test_a_run_on_time_runs_its_own_slot(policy):
    plan = plan_recurring(HOURLY, policy, DUE, at(9, 0) + timedelta(seconds=5), RULES)
    assert (plan.run_for, plan.next_run_at, plan.missed) == (DUE, at(10), 0)


def test_latest_runs_once_for_the_latest_missed_slot():
    plan = plan_recurring(HOURLY, "latest", DUE, at(12, 30), RULES)
    assert (plan.run_for, plan.next_run_at, plan.missed) == (at(12), at(13), 3)


def test_all_runs_the_oldest_missed_slot_and_the_next_is_due_at_once():
    plan = plan_recurring(HOURLY, "all", DUE, at(12, 30), RULES)
    assert (plan.run_for, plan.next_run_at, plan.missed) == (DUE, at(10), 0)


def test_all_keeps_only_the_latest_slots_past_its_maximum():
    plan = plan_recurring(HOURLY, "all", DUE, at(12, 30), MissedRules(max_catch_up=2))
    assert (plan.run_for, plan.next_run_at, plan.missed) == (at(11), at(12), 2)


def test_none_skips_every_missed_slot_and_goes_on_at_the_next_future_one():
    plan = plan_recurring(HOURLY, "none", DUE, at(12, 30), RULES)
    assert (plan.run_for, plan.next_run_at, plan.missed) == (None, at(13), 4)


def test_none_runs_a_run_late_within_its_grace():
    plan = plan_recurring(HOURLY, "none", DUE, at(9, 0) + timedelta(seconds=59), RULES)
    assert plan.run_for == DUE


def test_cron_catch_up_walks_back_across_a_dst_change():
    """Paris moved to summer time on 2026-03-29: 09:00 is 08:00 UTC before, 07:00 after."""
    due = datetime(2026, 3, 27, 8, tzinfo=UTC)
    now = datetime(2026, 3, 31, 12, tzinfo=UTC)
    plan = plan_recurring(NINE_IN_PARIS, "all", due, now, MissedRules(max_catch_up=3))
    assert plan.run_for == datetime(2026, 3, 29, 7, tzinfo=UTC)
    assert (plan.next_run_at, plan.missed) == (datetime(2026, 3, 30, 7, tzinfo=UTC), 2)
    assert count_slots(NINE_IN_PARIS, due, datetime(2026, 3, 31, 7, tzinfo=UTC)) == 5


def recurring(client, account, policy: str, start: str) -> dict:
    body = {
        "order_name": policy,
        "schedule_time": start,
        "is_recurring": True,
        "repeat_interval": 2,
        "repeat_unit": "seconds",
        "missed_runs": policy,
    }
    response = client.post("/orders", json=body, headers=account.headers)
    assert response.status_code == 201, response.json
    assert response.json["missed_runs"] == policy
    return response.json


def test_each_policy_across_a_real_outage(client, db, alice, workers):
    """Three 2-second orders; no worker for about 9 s (4+ slots); then one worker."""
    start = datetime.now(UTC) + timedelta(seconds=1)
    orders = {p: recurring(client, alice, p, start.isoformat()) for p in ("latest", "all", "none")}
    url = workers.env["DATABASE_URL"]
    wait_until(
        url,
        "SELECT now() > %(t)s AS due",
        lambda r: r[0]["due"],
        params={"t": start + timedelta(seconds=9)},
    )

    workers.start("w", ORDERS_MISSED_RUNS_MAX="3", ORDERS_MISSED_RUN_GRACE_SECONDS="1")
    back = datetime.now(UTC)
    runs = {p: _runs_after(url, o["order_id"], back) for p, o in orders.items()}

    latest = runs["latest"][0]  # one run for the latest slot, the ones before it counted skipped
    assert latest["scheduled_for"] == start + timedelta(seconds=2 * latest["missed_slots"])
    assert latest["missed_slots"] >= 4 and latest["scheduled_for"] >= back - timedelta(seconds=2)
    caught_up = [r for r in runs["all"] if r["scheduled_for"] <= back]
    assert 1 <= len(caught_up) <= 3 and caught_up[0]["missed_slots"] >= 2  # at most 3, the latest
    assert all(
        b["scheduled_for"] - a["scheduled_for"] == timedelta(seconds=2)
        for a, b in zip(runs["all"], runs["all"][1:], strict=False)
    )
    assert all(r["scheduled_for"] > back - timedelta(seconds=1) for r in runs["none"])
    noted = db.execute(
        "SELECT count(*) AS n FROM order_events WHERE order_id = %s AND details->>'reason' = %s",
        (orders["none"]["order_id"], SKIPPED),
    ).fetchone()["n"]
    assert noted >= 1


def _runs_after(url: str, order_id: int, back: datetime) -> list[dict]:
    """The order's runs once two have started after the worker came back."""
    return wait_until(
        url,
        "SELECT scheduled_for, missed_slots, started_at FROM order_executions "
        "WHERE order_id = %(id)s ORDER BY run_number",
        lambda rows: sum(r["started_at"] >= back for r in rows) >= 2,
        params={"id": order_id},
        timeout=60,
    )


def test_a_one_time_order_expires_or_runs_late_by_its_expires_after(client, db, alice, workers):
    def order(name: str, expires_after: int) -> int:
        body = {"order_name": name, "schedule_time": in_(1), "expires_after": expires_after}
        response = client.post("/orders", json=body, headers=alice.headers)
        assert response.status_code == 201, response.json
        return response.json["order_id"]

    strict, patient = order("strict", 1), order("patient", 3600)
    url = workers.env["DATABASE_URL"]
    wait_until(
        url,
        "SELECT now() > %(t)s AS due",
        lambda r: r[0]["due"],
        params={"t": datetime.now(UTC) + timedelta(seconds=4)},
    )
    workers.start("w")

    rows = wait_until(
        url,
        "SELECT order_id, status, last_error, executions_count FROM orders ORDER BY order_id",
        lambda rows: {r["status"] for r in rows} == {"expired", "completed"},
    )
    by_id = {r["order_id"]: r for r in rows}
    assert by_id[strict]["status"] == "expired" and by_id[strict]["executions_count"] == 0
    assert by_id[strict]["last_error"].startswith("expired")
    assert by_id[patient]["status"] == "completed"
    shown = client.get(f"/orders/{strict}", headers=alice.headers).json
    assert (shown["status"], shown["expires_after"]) == ("expired", 1)
    ran = db.execute("SELECT count(*) AS n FROM order_executions WHERE order_id = %s", (strict,))
    assert ran.fetchone()["n"] == 0


def test_expires_after_is_for_one_time_orders_only(client, alice):
    body = {
        "order_name": "r",
        "is_recurring": True,
        "repeat_interval": 1,
        "repeat_unit": "hours",
        "expires_after": 60,
    }
    error = assert_error(client.post("/orders", json=body, headers=alice.headers), 422)
    assert "expires_after" in error["message"]


def test_making_an_expiring_order_recurring_drops_its_expiry(client, alice):
    created = client.post(
        "/orders",
        json={"order_name": "x", "schedule_time": in_(60), "expires_after": 30},
        headers=alice.headers,
    ).json
    patched = client.patch(
        f"/orders/{created['order_id']}",
        json={
            "is_recurring": True,
            "repeat_interval": 1,
            "repeat_unit": "hours",
            "missed_runs": "none",
        },
        headers=alice.headers,
    )
    assert patched.status_code == 200, patched.json
    assert (patched.json["expires_after"], patched.json["missed_runs"]) == (None, "none")
