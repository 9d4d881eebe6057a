"""Housekeeping queries: finished jobs are pruned, order history stays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from orders.database import Q
from orders.operations.retention import Retention, prune
from tests.helpers import in_


def test_prune_deletes_old_finished_jobs_only(client, db, alice):
    """A job finished long ago goes; a waiting job and the orders' own history stay."""
    old = client.post(
        "/orders", json={"order_name": "old", "schedule_time": in_(60)}, headers=alice.headers
    ).json
    live = client.post(
        "/orders", json={"order_name": "live", "schedule_time": in_(60)}, headers=alice.headers
    ).json
    db.execute("UPDATE procrastinate_jobs SET status = 'succeeded' WHERE id = %s", (old["job_id"],))
    db.execute("UPDATE procrastinate_events SET at = now() - interval '10 days'")

    deleted = prune(db, Retention({"procrastinate_jobs": timedelta(days=7)}), datetime.now(UTC))

    remaining = [r["id"] for r in db.execute("SELECT id FROM procrastinate_jobs")]
    orders = db.execute("SELECT order_id, job_id FROM orders ORDER BY order_id").fetchall()
    assert deleted["procrastinate_jobs"] == 1 and remaining == [live["job_id"]]
    assert orders == [  # an order keeps naming its last job after the job is gone
        {"order_id": old["order_id"], "job_id": old["job_id"]},
        {"order_id": live["order_id"], "job_id": live["job_id"]},
    ]
    assert db.execute("SELECT count(*) AS n FROM order_events").fetchone()["n"] == 2


def test_next_due_query_sees_only_future_waiting_jobs(client, db, alice):
    """The worker's alarm asks when the earliest waiting execution job, and the earliest job of
    its other queues, are due."""
    for name, seconds in (("a", 30), ("b", 90)):
        body = {"order_name": name, "schedule_time": in_(seconds)}
        client.post("/orders", json=body, headers=alice.headers)
    now = datetime.now(UTC)

    after = {"orders_after": now, "queues_after": now}
    due = db.execute(Q["job_next_due"], {"levels": [1], "queues": ["mail"]} | after).fetchone()
    other = db.execute(Q["job_next_due"], {"levels": [5], "queues": []} | after).fetchone()

    assert 25 < (due["orders_due_at"] - now).total_seconds() <= 30
    assert due["queues_due_at"] is None and other["orders_due_at"] is None
