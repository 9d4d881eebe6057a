"""Per-account limits: a request rate (429 + Retry-After) counted in Postgres so every API
process agrees, a quota of active orders (422) that concurrent creates cannot slip past, and a
floor on how often an order runs (422)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from orders.settings import Settings
from orders.web.app import create_app
from tests.conftest import Account
from tests.helpers import assert_error, in_

EVERY_MINUTE = {"is_recurring": True, "repeat_interval": 1, "repeat_unit": "minutes"}


@pytest.fixture
def limited_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "api_rate_limit": 6,
            "api_rate_window_seconds": 60,
            "max_active_orders": 3,
            "min_interval_seconds": 120,
            "db_pool_max": 8,
        }
    )


@pytest.fixture
def apps(limited_settings):
    """Two API processes' worth of apps on the same database."""
    made = [create_app(limited_settings) for _ in range(2)]
    yield made
    for app in made:
        app.extensions["orders.db"].close()


def order(**fields) -> dict:
    return {"order_name": "tea", "schedule_time": in_(3600)} | fields


def test_the_rate_limit_is_shared_by_every_api_process(apps, db):
    first, second = (app.test_client() for app in apps)
    alice, bob = Account(first, "alice@example.com"), Account(first, "bob@example.com")

    answers = [
        client.get("/orders", headers=alice.headers).status_code
        for client in (first, second, first, second, first, second, first)
    ]

    assert answers == [200] * 6 + [429]
    refused = second.get("/auth/me", headers=alice.headers)
    error = assert_error(refused, 429, "rate_limited")
    assert 50 <= int(refused.headers["Retry-After"]) <= 60 and "6 requests" in error["message"]
    assert second.get("/orders", headers=bob.headers).status_code == 200  # per account


def test_the_window_ends_and_requests_pass_again(apps, db):
    client = apps[0].test_client()
    alice = Account(client, "alice@example.com")
    for _ in range(7):
        client.get("/auth/me", headers=alice.headers)

    db.execute("UPDATE account_requests SET window_started_at = now() - interval '61 s'")

    assert client.get("/auth/me", headers=alice.headers).status_code == 200


def test_the_quota_counts_active_orders_only(apps, db):
    client = apps[0].test_client()
    alice = Account(client, "alice@example.com")
    made = [client.post("/orders", json=order(), headers=alice.headers) for _ in range(3)]

    over = client.post("/orders", json=order(), headers=alice.headers)

    assert [m.status_code for m in made] == [201] * 3
    error = assert_error(over, 422, "order_quota_exceeded")
    assert "3 active orders" in error["message"]
    client.delete(f"/orders/{made[0].json['order_id']}", headers=alice.headers)
    assert client.post("/orders", json=order(), headers=alice.headers).status_code == 201


def test_concurrent_creates_cannot_slip_past_the_quota(limited_settings):
    apps = [create_app(limited_settings.model_copy(update={"api_rate_limit": 0})) for _ in "ab"]
    alice = Account(apps[0].test_client(), "alice@example.com")
    clients = [apps[n % 2].test_client() for n in range(10)]

    with ThreadPoolExecutor(10) as pool:
        answers = list(
            pool.map(lambda c: c.post("/orders", json=order(), headers=alice.headers), clients)
        )

    for app in apps:
        app.extensions["orders.db"].close()
    assert sorted(a.status_code for a in answers) == [201] * 3 + [422] * 7


@pytest.mark.parametrize(
    ("schedule", "field"),
    [
        ({"repeat_interval": 30, "repeat_unit": "seconds"}, "repeat_interval"),
        ({"repeat_interval": 1, "repeat_unit": "minutes"}, "repeat_interval"),
        ({"cron": "* * * * *"}, "cron"),
        ({"cron": "0,1 9 * * *"}, "cron"),  # uneven gaps: the shortest counts
    ],
)
def test_runs_closer_than_the_floor_are_refused(apps, schedule, field):
    client = apps[0].test_client()
    alice = Account(client, "alice@example.com")

    response = client.post(
        "/orders", json=order(is_recurring=True, **schedule), headers=alice.headers
    )

    error = assert_error(response, 422, "validation_error")
    assert error["details"][0]["field"] == field
    assert "ORDERS_MIN_INTERVAL_SECONDS" in error["message"]


def test_the_floor_allows_what_meets_it(apps):
    client = apps[0].test_client()
    alice = Account(client, "alice@example.com")
    every_2_minutes = order(is_recurring=True, repeat_interval=2, repeat_unit="minutes")

    assert client.post("/orders", json=every_2_minutes, headers=alice.headers).status_code == 201
    hourly = order(is_recurring=True, cron="0 * * * *")
    assert client.post("/orders", json=hourly, headers=alice.headers).status_code == 201


def test_limits_are_off_in_test_and_on_elsewhere():
    """The suite and the benchmarks (ORDERS_ENV=test) run unthrottled; dev and production
    get the documented defaults."""
    test = Settings(ORDERS_ENV="test")
    production = Settings(ORDERS_ENV="production")

    assert (test.api_rate_limit, test.max_active_orders, test.min_interval_seconds) == (0, 0, 1)
    assert (production.api_rate_limit, production.max_active_orders) == (1200, 10_000)
    assert production.min_interval_seconds == 60
    assert Settings(ORDERS_ENV="test", ORDERS_API_RATE_LIMIT=50).api_rate_limit == 50
