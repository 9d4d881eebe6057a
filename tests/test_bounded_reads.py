"""Cost does not grow with history: per-order lists are keyset-paginated, figures come from
rollups that match the tables, never go backwards when history is pruned, and never make
writers wait for each other; hot queries walk indexes, never whole history tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
from psycopg.rows import dict_row

from orders.core.pagination import encode as cursor_of
from orders.database import Q
from orders.operations.retention import Retention, prune
from tests.helpers import assert_error, in_, plan_scans
from tests.test_health_metrics import samples
from tests.test_providers import make_requests, order_for


def create(client, account) -> int:
    body = {"order_name": "soap", "schedule_time": in_(3600)}
    response = client.post("/orders", json=body, headers=account.headers)
    assert response.status_code == 201, response.json
    return response.json["order_id"]


def walk(client, url: str, account, key: str) -> list[list[dict]]:
    """Every page of a paginated list, following next_cursor."""
    pages, cursor = [], None
    while True:
        page = client.get(url + (f"&cursor={cursor}" if cursor else ""), headers=account.headers)
        assert page.status_code == 200, page.json
        pages.append(page.json[key])
        cursor = page.json["next_cursor"]
        if cursor is None:
            return pages


def test_history_is_paginated_oldest_first(client, db, alice, bob):
    """250 audit events in pages of 100: each once, in order; bad cursors are 422s."""
    order_id = create(client, alice)
    for i in range(249):  # an operator renames it in SQL, 249 times: one event each
        db.execute("UPDATE orders SET order_name = %s WHERE order_id = %s", (f"n{i}", order_id))

    pages = walk(client, f"/orders/{order_id}/history?limit=100", alice, "events")

    assert [len(p) for p in pages] == [100, 100, 50]
    ids = [e["event_id"] for p in pages for e in p]
    all_ids = db.execute(
        "SELECT event_id FROM order_events WHERE order_id = %s ORDER BY event_id", (order_id,)
    )
    assert ids == [r["event_id"] for r in all_ids]
    url = f"/orders/{order_id}/history"
    assert_error(client.get(f"{url}?cursor=nonsense", headers=alice.headers), 422, "invalid_cursor")
    assert_error(client.get(f"{url}?limit=1001", headers=alice.headers), 422, "validation_error")
    assert_error(client.get(url, headers=bob.headers), 404)
    forged = cursor_of(after_at=datetime.now(UTC), after_id=2**70)  # past bigint
    assert_error(client.get(f"{url}?cursor={forged}", headers=alice.headers), 422, "invalid_cursor")


def test_requests_are_paginated_by_run(client, db, alice, acme):
    order = order_for(client, alice, acme)
    made = make_requests(db, order["order_id"], 5)

    pages = walk(client, f"/orders/{order['order_id']}/requests?limit=2", alice, "requests")

    assert [[r["request_id"] for r in p] for p in pages] == [made[:2], made[2:4], made[4:]]


def test_timeline_pages_newest_first_and_outlives_the_jobs(client, db, admin, alice):
    """Errors are found by order: deleting the order's job (pruning, or the run that finishes
    it) keeps them; pages of 2 give every entry once, newest first."""
    order_id = create(client, alice)
    job_id = db.execute("SELECT job_id FROM orders WHERE order_id = %s", (order_id,)).fetchone()
    for attempt in (1, 2):
        db.execute(
            "INSERT INTO job_errors (job_id, task_name, attempt, error, worker) "
            "VALUES (%s, 'execute_order', %s, 'ProviderDown', 'w1')",
            (job_id["job_id"], attempt),
        )
    db.execute(
        "UPDATE orders SET status = 'failed', next_run_at = NULL WHERE order_id = %s", (order_id,)
    )
    whole = client.get(f"/dashboard/api/orders/{order_id}", headers=admin.headers).json
    db.execute("DELETE FROM procrastinate_jobs WHERE id = %s", (job_id["job_id"],))

    pages = walk(client, f"/dashboard/api/orders/{order_id}?limit=2", admin, "timeline")
    overview = client.get("/dashboard/api/overview", headers=admin.headers).json

    entries = [(t["source"], t["event"]) for p in pages for t in p]
    assert entries == [(t["source"], t["event"]) for t in whole["timeline"] if t["source"] != "job"]
    assert entries.count(("job_error", "attempt 1")) == 1 and ("audit", "created") in entries
    times = [t["at"] for p in pages for t in p]
    assert times == sorted(times, reverse=True)
    forged = cursor_of(before_at=datetime.now(UTC), before_source="x\x00", before_id=1)
    url = f"/dashboard/api/orders/{order_id}?cursor={forged}"
    assert_error(client.get(url, headers=admin.headers), 422, "invalid_cursor")
    [failed] = overview["failed"]
    assert failed["attempts"] is None and [h["attempt"] for h in failed["history"]] == [1, 2]


def run(db, order_id: int, number: int, seconds: float, late: float, outcome="succeeded"):
    db.execute(
        """INSERT INTO order_executions (order_id, run_number, scheduled_for, started_at,
               finished_at, worker, attempts, outcome, error)
           VALUES (%s, %s, now() - make_interval(secs => %s), now(),
                   now() + make_interval(secs => %s), 'w1', 1, %s, %s)""",
        (order_id, number, late, seconds, outcome, "boom" if outcome == "failed" else None),
    )


def rollup(db, series: str) -> dict[str, int]:
    rows = db.execute("SELECT label, n FROM rollup_current WHERE series = %s", (series,))
    return {r["label"]: r["n"] for r in rows if r["n"]}


def test_rollups_match_the_tables(client, db, alice):
    """Orders per status and mail per status stay equal to counting the tables, through
    inserts, updates of many rows in one statement, deletes and folds."""
    ids = [create(client, alice) for _ in range(6)]
    client.delete(f"/orders/{ids[0]}", headers=alice.headers)
    db.execute("SELECT rollup_fold()")
    db.execute(
        "UPDATE orders SET status = 'failed', next_run_at = NULL WHERE order_id = ANY(%s)",
        (ids[1:4],),
    )
    db.execute("DELETE FROM orders WHERE order_id = %s", (ids[4],))
    db.execute(
        Q["outbox_insert"],
        {
            "kind": "customer_notice",
            "recipient": "a@b.c",
            "subject": "s",
            "body": "b",
            "now": datetime.now(UTC),
        },
    )
    db.execute("UPDATE outbox SET status = 'sent', attempts = 1, sent_at = now()")

    counted = db.execute("SELECT status::text, count(*) AS n FROM orders GROUP BY 1").fetchall()
    assert rollup(db, "orders") == {r["status"]: r["n"] for r in counted}
    assert rollup(db, "outbox") == {"customer_notice/sent": 1}
    assert rollup(db, "emails_sent") == {"": 1}
    db.execute("SELECT rollup_fold()")
    assert rollup(db, "orders") == {r["status"]: r["n"] for r in counted}


def test_counters_never_go_backwards_when_history_is_pruned(client, db, alice):
    order_id = create(client, alice)
    for number, (seconds, late) in enumerate([(0.02, 0.004), (0.3, 0.2), (7.0, 40.0)], 1):
        run(db, order_id, number, seconds, late)
    db.execute(
        "INSERT INTO job_errors (job_id, task_name, attempt, error, worker) "
        "VALUES (1, 'execute_order', 1, 'boom', 'w1')"
    )
    before = samples(client.get("/metrics").get_data(as_text=True))
    db.execute(
        "UPDATE order_executions SET scheduled_for = scheduled_for - interval '400 days', "
        "started_at = started_at - interval '400 days', "
        "finished_at = finished_at - interval '400 days'"
    )
    db.execute("UPDATE job_errors SET occurred_at = occurred_at - interval '400 days'")

    deleted = prune(
        db,
        Retention({"order_executions": timedelta(days=90), "job_errors": timedelta(days=90)}),
        datetime.now(UTC),
    )
    after = samples(client.get("/metrics").get_data(as_text=True))

    assert deleted["order_executions"] == 3 and deleted["job_errors"] == 1
    for name in (
        "orders_execution_duration_seconds_count",
        "orders_execution_lateness_seconds_sum",
        "orders_job_failed_attempts_total",
    ):
        assert after[(name, ())] == before[(name, ())] > 0, name
    succeeded = ("orders_executions_total", (("outcome", "succeeded"),))
    assert after[succeeded] == before[succeeded] == 3


def test_writers_never_wait_for_a_counter_row(client, db, alice, database_url):
    """Two transactions that both move every rollup (an order, a run, an error, a mail) stay
    open side by side: no shared counter row to wait for, also while a fold runs."""
    order_id = create(client, alice)

    def write(conn, number: int) -> None:
        conn.execute("SET LOCAL lock_timeout = '200ms'")
        conn.execute(
            "INSERT INTO orders (user_id, order_name, schedule_time, next_run_at) "
            "VALUES (%s, 'x', now(), now())",
            (alice.user_id,),
        )
        run(conn, order_id, number, 0.1, 0.1)
        conn.execute(
            "INSERT INTO job_errors (job_id, task_name, attempt, error, worker) "
            "VALUES (1, 'execute_order', 1, 'boom', 'w1')"
        )
        conn.execute(
            Q["outbox_insert"],
            {
                "kind": "customer_notice",
                "recipient": "a@b.c",
                "subject": "s",
                "body": "b",
                "now": datetime.now(UTC),
            },
        )
        conn.execute("SELECT rollup_fold()")

    with (
        psycopg.connect(database_url, row_factory=dict_row) as one,
        psycopg.connect(database_url, row_factory=dict_row) as two,
    ):
        write(one, 1)
        write(two, 2)  # would raise LockNotAvailable if it waited for `one`
        one.commit()
        two.commit()

    assert rollup(db, "runs") == {"succeeded": 2} and rollup(db, "job_failed_attempts") == {"": 2}


def test_metrics_require_a_token_in_production(settings):
    from orders.web.app import create_app

    production = settings.model_copy(
        update={"env": "production", "jwt_secret_key": "x" * 40, "metrics_token": None}
    )
    app = create_app(production)
    try:
        error = assert_error(app.test_client().get("/metrics"), 401, "unauthorized")
        assert "ORDERS_METRICS_TOKEN" in error["message"]
    finally:
        app.extensions["orders.db"].close()


HISTORY_TABLES = (
    "order_events",
    "order_executions",
    "job_errors",
    "outbox",
    "procrastinate_jobs",
    "procrastinate_events",
    "orders",
    "provider_requests",
)


def fill_history(db, user_id: int, provider_id: int, rows: int) -> int:
    """`rows` finished orders with an event, a run, a finished job and its events, an error, a
    provider request and a sent mail each; returns one of them."""
    db.execute(
        "INSERT INTO orders (user_id, order_name, schedule_time, status, executions_count) "
        "SELECT %s, 'old', now() - interval '1 day', 'completed', 1 FROM generate_series(1, %s)",
        (user_id, rows),
    )
    db.execute(
        "INSERT INTO order_executions (order_id, run_number, scheduled_for, started_at, "
        "finished_at, worker, attempts, outcome) SELECT order_id, 1, now() - interval '1 day', "
        "now() - interval '1 day', now() - interval '1 day', 'w', 1, 'succeeded' FROM orders"
    )
    db.execute(
        "INSERT INTO procrastinate_jobs (queue_name, task_name, args, status) "
        "SELECT 'orders', 'execute_order', jsonb_build_object('order_id', order_id), 'succeeded' "
        "FROM orders"
    )
    db.execute(
        "INSERT INTO procrastinate_events (job_id, type, at) "
        "SELECT id, t::procrastinate_job_event_type, now() - interval '1 day' "
        "FROM procrastinate_jobs, unnest('{deferred,succeeded}'::text[]) t"
    )
    db.execute(
        "INSERT INTO job_errors (job_id, task_name, attempt, error, worker) "
        "SELECT id, 'execute_order', 1, 'boom', 'w' FROM procrastinate_jobs"
    )
    db.execute(
        "INSERT INTO provider_requests (order_id, run_number, provider_id, user_id, "
        "expected_response_at, created_at) SELECT order_id, 1, %s, user_id, now() + "
        "interval '1 day', now() FROM orders",
        (provider_id,),
    )
    db.execute(
        "INSERT INTO outbox (kind, recipient, subject, body, status, attempts, next_attempt_at, "
        "created_at, sent_at) SELECT 'customer_notice', 'a@b.c', 's', 'b', 'sent', 1, now(), "
        "now(), now() FROM generate_series(1, %s)",
        (rows,),
    )
    for table in HISTORY_TABLES:
        db.execute(f"ANALYZE {table}")
    return db.execute("SELECT max(order_id) AS id FROM orders").fetchone()["id"]


def test_hot_queries_never_scan_history(client, db, alice, acme):
    """With 30,000 rows in every history table, no query of /metrics, the dashboard, stats
    or a per-order list reads a history table sequentially."""
    order_id = fill_history(db, alice.user_id, acme.provider_id, 30_000)
    now, far = datetime.now(UTC), datetime.max.replace(tzinfo=UTC)
    queries = {
        "rollup_series": {"series": ["orders", "runs", "run_lateness"]},
        "queue_depth_list": {},
        "order_lateness_now": {},
        "worker_summary": {},
        "runs_per_minute": {"since": now - timedelta(hours=3), "now": now},
        "runs_since": {"since": now - timedelta(hours=3)},
        "order_list_failed": {"limit": 50},
        "job_error_list_of_orders": {"order_ids": [order_id], "job_ids": [None], "per_order": 50},
        "order_list_recurring_active": {"limit": 50},
        "order_list_stuck_view": {"limit": 50},
        "pause_list": {"limit": 200},
        "operator_action_list_recent": {"limit": 20},
        "worker_list_live": {},
        "outbox_oldest_pending": {},
        "outbox_problems_list": {"limit": 50},
        "order_events_page": {
            "order_id": order_id,
            "after_at": now - timedelta(days=9),
            "after_id": 0,
            "limit": 101,
        },
        "provider_request_list_for_order": {
            "order_id": order_id,
            "user_id": alice.user_id,
            "after_run": 0,
            "limit": 101,
        },
        "order_timeline_page": {
            "order_id": order_id,
            "before_at": far,
            "before_source": "~",
            "before_id": 2**62,
            "limit": 101,
            "jobs": 50,
        },
    }
    scans = {
        name: plan_scans(db, Q[name], params) & set(HISTORY_TABLES)
        for name, params in queries.items()
    }

    assert {name: tables for name, tables in scans.items() if tables} == {}
