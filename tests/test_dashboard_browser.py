"""The dashboard in a real headless Chromium: log in, see a failed order, press Retry, see it run.

Set ORDERS_SCREENSHOT_DIR=docs/screenshots to refresh the screenshots committed there.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from orders.web.app import create_app
from tests.browser import browser, serve
from tests.conftest import Account
from tests.helpers import fail_executions_of, in_
from tests.workers import wait_until

ORDER = "SELECT status FROM orders WHERE order_id = %(order_id)s"
TIMEOUT_MS = 30_000


@pytest.fixture
def shots(tmp_path) -> Path:
    return Path(os.environ.get("ORDERS_SCREENSHOT_DIR") or tmp_path)


def log_in(page: Page, base: str, account: Account) -> None:
    page.goto(f"{base}/dashboard")
    page.get_by_label("Email").fill(account.email)
    page.get_by_label("Password").fill(account.password)
    page.get_by_role("button", name="Log in").click()


def a_failed_order(client, db, alice, workers, database_url) -> int:
    """An order that really failed: a worker ran it, each attempt raised, retries ran out."""
    body = {"order_name": "monthly soap refill", "schedule_time": in_(0.5)}
    order_id = client.post("/orders", json=body, headers=alice.headers).json["order_id"]
    fail_executions_of(db, order_id)
    workers.start("w1")
    wait_until(
        database_url, ORDER, lambda r: r[0]["status"] == "failed", params={"order_id": order_id}
    )
    db.execute("DROP TRIGGER fail_run ON order_executions")  # the provider is back
    return order_id


def test_admin_retries_a_failed_order_from_the_dashboard(
    app, client, db, alice, workers, database_url, shots
):
    admin = Account(client, "ops@example.com")
    db.execute("UPDATE users SET role = 'admin' WHERE user_id = %s", (admin.user_id,))
    recurring = {
        "order_name": "weekly tea",
        "is_recurring": True,
        "repeat_interval": 1,
        "repeat_unit": "weeks",
        "schedule_time": in_(3600),
    }
    client.post("/orders", json=recurring, headers=alice.headers)
    order_id = a_failed_order(client, db, alice, workers, database_url)

    with serve(app) as base, browser() as chromium:
        page = chromium.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(f"{base}/dashboard")
        page.screenshot(path=shots / "dashboard-login.png")
        log_in(page, base, admin)

        row = page.locator("#failed tr", has_text="monthly soap refill")
        expect(row).to_contain_text("provider unreachable")
        expect(page.locator("#recurring")).to_contain_text("weekly tea")
        expect(page.locator("#workers tbody tr")).to_have_count(1)
        expect(page.locator("#upcoming-window")).to_contain_text("1 run")  # the tea, within 3 h
        expect(page.locator("#upcoming rect")).to_have_count(1)
        row.locator("summary").click()  # the attempt history
        expect(row.locator("li")).to_have_count(3)  # first run + 2 retries
        page.screenshot(path=shots / "dashboard-overview.png", full_page=True)

        row.get_by_role("button", name="Retry").click()
        expect(page.locator("#flash")).to_contain_text(f"Order #{order_id} is now scheduled")
        wait_until(
            database_url,
            ORDER,
            lambda r: r[0]["status"] == "completed",
            params={"order_id": order_id},
        )
        expect(page.locator("#failed")).to_contain_text("No failed orders.")  # auto-refreshed
        expect(page.locator(".count.completed .n")).to_have_text("1")

        page.goto(f"{base}/dashboard/orders/{order_id}")
        expect(page.locator("#order-title")).to_contain_text("completed")
        timeline = page.locator("#timeline")
        expect(timeline).to_contain_text("succeeded")
        expect(timeline).to_contain_text(f"admin:{admin.user_id}")
        expect(timeline.locator("tr", has_text="job_error")).to_have_count(3)
        page.screenshot(path=shots / "dashboard-order.png", full_page=True)


def test_a_customer_cannot_use_the_dashboard(app, client, alice):
    with serve(app) as base, browser() as chromium:
        page = chromium.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        log_in(page, base, alice)
        expect(page.locator("#login-error")).to_have_text("This account is not an admin.")
        expect(page.locator("#overview")).to_be_hidden()

        page.get_by_label("Email").fill(alice.email)
        page.get_by_label("Password").fill("wrong password")
        page.get_by_role("button", name="Log in").click()
        expect(page.locator("#login-error")).to_have_text(re.compile("invalid email or password"))


def test_the_dashboard_keeps_its_session_across_token_rotations(settings, db, database_url):
    """Access tokens of 3 s, no grace period: the page refreshes every 5 s, so each refresh
    rotates the refresh token; were a spent one presented again, the session would end and
    the page would fall back to the login form."""
    short = {"access_token_minutes": 0.05, "refresh_grace_seconds": 0}
    app = create_app(settings.model_copy(update=short))
    admin = Account(app.test_client(), "ops@example.com")
    db.execute("UPDATE users SET role = 'admin' WHERE user_id = %s", (admin.user_id,))
    seen: set[str] = set()

    def rotated_three_times(rows) -> bool:
        seen.update(r["jti"] for r in rows if r["ended_at"] is None)
        assert all(r["ended_at"] is None for r in rows), rows
        return len(seen) >= 4

    try:
        with serve(app) as base, browser() as chromium:
            page = chromium.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            log_in(page, base, admin)
            expect(page.locator("#overview")).to_be_visible()
            wait_until(
                database_url,
                "SELECT refresh_jti::text AS jti, ended_at FROM sessions "
                "ORDER BY created_at DESC LIMIT 1",  # the browser's login, the latest
                rotated_three_times,
                timeout=90,
            )
            expect(page.locator("#overview")).to_be_visible()
            expect(page.locator("#login")).to_be_hidden()
    finally:
        app.extensions["orders.db"].close()
