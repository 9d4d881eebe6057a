"""The dashboard's pause controls in a real headless Chromium: the order page's Pause button,
the pauses panel's form and its Resume buttons, each audited as the admin."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser import browser, serve
from tests.conftest import Account
from tests.helpers import in_
from tests.test_dashboard_browser import TIMEOUT_MS, log_in

ACTIONS = "SELECT operator, action, scope, target FROM operator_actions ORDER BY action_id"


def test_admin_pauses_and_resumes_from_the_dashboard(app, client, db, alice):
    """Pause an order on its page, pause the mail queue from the panel, resume both there."""
    admin = Account(client, "ops@example.com")
    db.execute("UPDATE users SET role = 'admin' WHERE user_id = %s", (admin.user_id,))
    body = {"order_name": "weekly tea", "schedule_time": in_(3600)}
    order_id = client.post("/orders", json=body, headers=alice.headers).json["order_id"]

    with serve(app) as base, browser() as chromium:
        page = chromium.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(TIMEOUT_MS)
        log_in(page, base, admin)
        expect(page.locator("#paused")).to_contain_text("Nothing is paused.")
        page.goto(f"{base}/dashboard/orders/{order_id}")
        page.locator("#order-actions").get_by_role("button", name="Pause").click()
        expect(page.locator("#flash")).to_contain_text(f"Paused order: {order_id}")
        expect(page.locator("#order-title")).to_contain_text("paused")

        page.goto(f"{base}/dashboard")
        form = page.locator("#pause-form")
        form.get_by_label("What to pause").select_option("queue")
        form.get_by_label("Target").fill("mail")
        form.get_by_label("Reason").fill("smtp relay down")
        form.get_by_role("button", name="Pause").click()
        expect(page.locator("#flash")).to_contain_text("Paused queue: mail")
        expect(page.locator("#paused tbody tr")).to_have_count(2)
        form.get_by_label("Target").fill("maintenance")
        form.get_by_role("button", name="Pause").click()
        expect(page.locator("#flash")).to_contain_text("the maintenance queue cannot be paused")
        for target in ("mail", f"#{order_id}"):
            row = page.locator("#paused tr", has_text=target)
            row.get_by_role("button", name="Resume").click()
            expect(row).to_have_count(0)
        expect(page.locator("#paused")).to_contain_text("Nothing is paused.")

    who = f"admin:{admin.user_id}"
    assert db.execute(ACTIONS).fetchall() == [
        {"operator": who, "action": "pause", "scope": "order", "target": str(order_id)},
        {"operator": who, "action": "pause", "scope": "queue", "target": "mail"},
        {"operator": who, "action": "resume", "scope": "queue", "target": "mail"},
        {"operator": who, "action": "resume", "scope": "order", "target": str(order_id)},
    ]
