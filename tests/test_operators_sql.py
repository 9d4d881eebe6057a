"""The operator's SQL surface: every query in docs/operators.md runs as the read-only role, the
views answer what they promise, and the role can read but never write."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest

from tests.helpers import in_

DOC = Path(__file__).parent.parent / "docs" / "operators.md"
EXAMPLES = re.findall(r"```sql\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
VIEWS = [
    "orders_due",
    "orders_stuck",
    "queue_depth",
    "jobs_failed",
    "workers_live",
    "order_timeline",
    "executions_hourly",
    "outbox_problems",
    "webhook_delivery_log",
    "webhook_problems",
    "circuit_status",
    "pauses",
    "upcoming_runs_per_minute",
]


def as_readonly(db, sql: str, params=None) -> list[dict]:
    with db.transaction():
        db.execute("SET LOCAL ROLE orders_readonly")
        return db.execute(sql, params).fetchall()


def place(client, account, **fields) -> dict:
    body = {"order_name": "tea", "schedule_time": in_(3600)} | fields
    response = client.post("/orders", json=body, headers=account.headers)
    assert response.status_code == 201, response.json
    return response.json


def test_the_page_has_examples_for_every_view():
    assert len(EXAMPLES) >= 15
    assert all(any(view in example for example in EXAMPLES) for view in VIEWS)


@pytest.mark.parametrize("sql", EXAMPLES, ids=[f"example-{i}" for i in range(len(EXAMPLES))])
def test_every_documented_query_runs_as_the_readonly_role(client, db, alice, sql):
    order = place(client, alice)
    client.delete(f"/orders/{order['order_id']}", headers=alice.headers)
    place(client, alice, is_recurring=True, repeat_interval=1, repeat_unit="hours")

    rows = as_readonly(db, sql)

    assert isinstance(rows, list)


def test_every_view_is_documented_in_the_schema(db):
    rows = db.execute(
        "SELECT c.relname, obj_description(c.oid, 'pg_class') AS comment FROM pg_class c "
        "WHERE c.relkind = 'v' AND c.relnamespace = 'public'::regnamespace"
    ).fetchall()
    comments = {r["relname"]: r["comment"] for r in rows}
    assert set(VIEWS) <= set(comments)
    assert all(comments[view] for view in VIEWS)


def test_views_answer_for_due_stuck_and_queued_orders(client, db, alice):
    due = place(client, alice, schedule_time=in_(-60))  # due a minute ago, no worker running
    later = place(client, alice)
    stuck = place(client, alice, schedule_time=in_(-120))
    db.execute("DELETE FROM procrastinate_jobs WHERE id = %s", (stuck["job_id"],))

    overdue = as_readonly(db, "SELECT order_id, job_status FROM orders_due WHERE overdue")
    stuck_rows = as_readonly(db, "SELECT order_id, job_status FROM orders_stuck")
    depth = as_readonly(db, "SELECT queue_name, status, jobs FROM queue_depth")

    assert sorted((r["order_id"], r["job_status"]) for r in overdue) == [
        (due["order_id"], "todo"),
        (stuck["order_id"], None),
    ]
    assert later["order_id"] not in {r["order_id"] for r in overdue}
    assert [(r["order_id"], r["job_status"]) for r in stuck_rows] == [
        (stuck["order_id"], "missing")
    ]
    assert {(r["queue_name"], r["status"], r["jobs"]) for r in depth} == {("orders", "todo", 2)}


def test_the_readonly_role_cannot_write_or_read_password_hashes(client, db, alice):
    order = place(client, alice)
    writes = [
        ("UPDATE orders SET status = 'cancelled' WHERE order_id = %s", (order["order_id"],)),
        ("DELETE FROM order_events WHERE order_id = %s", (order["order_id"],)),
        (
            "INSERT INTO job_errors (job_id, task_name, attempt, error, worker) "
            "VALUES (1, 'x', 1, 'e', 'w')",
            None,
        ),
        ("UPDATE procrastinate_jobs SET status = 'cancelled'", None),
        ("SELECT password_hash FROM users", None),
        ("SELECT * FROM users", None),
        ("SELECT secret FROM webhook_endpoints", None),
        ("SELECT * FROM circuit_reset('smtp', now())", None),
    ]
    for sql, params in writes:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            as_readonly(db, sql, params)

    emails = as_readonly(db, "SELECT user_id, email, role FROM users")
    assert [r["email"] for r in emails] == ["alice@example.com"]
    assert db.execute("SELECT status FROM orders").fetchone()["status"] == "scheduled"
