"""The dashboard's page and JSON API: admin only, every section filled from the database."""

from __future__ import annotations

from tests.helpers import assert_error, in_


def create(client, account, **fields) -> int:
    body = {"order_name": "soap", "schedule_time": in_(3600)} | fields
    response = client.post("/orders", json=body, headers=account.headers)
    assert response.status_code == 201, response.json
    return response.json["order_id"]


def fail_with_history(db, order_id: int) -> int:
    """Arrange what a worker leaves after two failed attempts (see test_worker for the real one)."""
    job_id = db.execute("SELECT job_id FROM orders WHERE order_id = %s", (order_id,)).fetchone()
    job_id = job_id["job_id"]
    db.execute(
        "UPDATE procrastinate_jobs SET status = 'failed', attempts = 2 WHERE id = %s", (job_id,)
    )
    for attempt in (1, 2):
        db.execute(
            "INSERT INTO job_errors (job_id, task_name, attempt, error, worker, order_id) "
            "VALUES (%s, 'execute_order', %s, %s, 'w1', %s)",
            (job_id, attempt, f"ProviderDown: attempt {attempt}", order_id),
        )
    db.execute(
        "UPDATE orders SET status = 'failed', last_error = 'ProviderDown: attempt 2', "
        "next_run_at = NULL WHERE order_id = %s",
        (order_id,),
    )
    return job_id


def test_page_and_assets_are_served_without_any_cdn(client):
    page = client.get("/dashboard")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "http" not in html.replace('href="/dashboard', "")  # no external URL at all
    for asset in ("/dashboard/static/app.js", "/dashboard/static/style.css"):
        assert asset in html and client.get(asset).status_code == 200
    assert client.get("/dashboard/orders/12").get_data(as_text=True) == html


def test_api_is_for_admins_only(client, alice):
    assert_error(client.get("/dashboard/api/overview"), 401, "unauthorized")
    assert_error(client.get("/dashboard/api/overview", headers=alice.headers), 403, "forbidden")
    assert_error(client.post("/dashboard/api/orders/1/retry", headers=alice.headers), 403)


def test_overview_shows_every_section(client, db, admin, alice):
    create(client, alice)
    failed = create(client, alice)
    job_id = fail_with_history(db, failed)
    recurring = create(client, alice, is_recurring=True, repeat_interval=2, repeat_unit="hours")

    o = client.get("/dashboard/api/overview?hours=2", headers=admin.headers).json
    assert {c["status"]: c["n"] for c in o["orders"]}["scheduled"] == 2
    assert {(q["status"], q["n"]) for q in o["queues"]} == {("todo", 2)}  # waiting and running
    assert o["lateness"]["overdue"] == 0 and o["lateness"]["runs"] == 0
    assert len(o["throughput"]) in (120, 121) and not any(p["executions"] for p in o["throughput"])
    [f] = o["failed"]
    assert (f["order_id"], f["job_id"], f["attempts"]) == (failed, job_id, 2)
    assert [h["error"] for h in f["history"]] == [
        "ProviderDown: attempt 1",
        "ProviderDown: attempt 2",
    ]
    assert [r["order_id"] for r in o["recurring"]] == [recurring]
    assert o["stuck"] == [] and o["workers"] == []


def test_overview_rejects_a_bad_window(client, admin):
    for query in ("hours=0", "hours=49", "hours=abc", "colour=red"):
        response = client.get(f"/dashboard/api/overview?{query}", headers=admin.headers)
        assert_error(response, 422, "validation_error")


def test_retry_cancel_and_timeline(client, db, admin, alice):
    failed, scheduled = create(client, alice), create(client, alice)
    fail_with_history(db, failed)

    retried = client.post(f"/dashboard/api/orders/{failed}/retry", headers=admin.headers)
    assert retried.status_code == 200 and retried.json["status"] == "scheduled"
    again = client.post(f"/dashboard/api/orders/{failed}/retry", headers=admin.headers)
    assert_error(again, 409, "order_not_failed")
    cancelled = client.post(f"/dashboard/api/orders/{scheduled}/cancel", headers=admin.headers)
    assert cancelled.json["status"] == "cancelled"
    assert_error(client.post("/dashboard/api/orders/999/cancel", headers=admin.headers), 404)

    detail = client.get(f"/dashboard/api/orders/{failed}", headers=admin.headers).json
    assert detail["order"]["order_id"] == failed
    rows = [(t["source"], t["event"], t["actor"]) for t in detail["timeline"]]
    assert ("job_error", "attempt 1", "worker:w1") in rows
    assert ("audit", "status_changed", f"admin:{admin.user_id}") in rows
    assert ("job", "deferred", None) in rows


def test_a_failed_order_can_be_dismissed(client, db, admin, alice):
    failed = create(client, alice)
    fail_with_history(db, failed)
    response = client.post(f"/dashboard/api/orders/{failed}/cancel", headers=admin.headers)
    assert response.json["status"] == "cancelled"
