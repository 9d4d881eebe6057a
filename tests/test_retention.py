"""Retention: each history table loses what is past its retention, in bounded batches that
continue where the last run stopped, and keeps what must stay: audit events the status log
has not written, errors of orders still failed, pending mail and what still refers to it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
from psycopg.rows import dict_row

from orders.database import Q
from orders.operations.retention import Retention, prune
from orders.settings import Settings
from tests.helpers import flush_status_log, in_
from tests.test_providers import make_requests, order_for

DAYS_90 = timedelta(days=90)
EVERY_TABLE = {
    t: DAYS_90
    for t in (
        "order_events",
        "order_executions",
        "job_errors",
        "outbox",
        "provider_requests",
        "provider_digests",
    )
}


def create(client, account) -> int:
    body = {"order_name": "soap", "schedule_time": in_(3600)}
    return client.post("/orders", json=body, headers=account.headers).json["order_id"]


def age(db, table: str, column: str, where: str = "true") -> None:
    """Make rows a year old (tests arrange time in SQL: the code under test takes `now`)."""
    db.execute(f"UPDATE {table} SET {column} = {column} - interval '1 year' WHERE {where}")  # noqa: S608


def count(db, table: str) -> int:
    return db.execute(f"SELECT count(*) AS n FROM {table}").fetchone()["n"]  # noqa: S608


NO_JOB = 999_999  # an error of a job that is not an order's (say, a mail job since pruned)


def error(db, job_id: int, order_id: int | None) -> None:
    db.execute(
        "INSERT INTO job_errors (job_id, task_name, attempt, error, worker, order_id) "
        "VALUES (%s, 'execute_order', 1, 'boom', 'w1', %s)",
        (job_id, order_id),
    )


def test_audit_events_go_only_once_the_status_log_has_them(
    client, db, alice, database_url, settings
):
    """Old events the status log wrote are pruned; old ones it has not written yet stay."""
    create(client, alice)
    flush_status_log(database_url, settings.log_file)
    with psycopg.connect(database_url) as late:  # written after the log's last pass
        late.execute(
            "INSERT INTO orders (user_id, order_name, schedule_time, next_run_at) "
            "VALUES (%s, 'late', now(), now())",
            (alice.user_id,),
        )
    age(db, "order_events", "occurred_at")

    deleted = prune(db, Retention({"order_events": DAYS_90}), datetime.now(UTC))

    left = db.execute("SELECT o.order_name FROM order_events e JOIN orders o USING (order_id)")
    assert deleted["order_events"] == 1 and [r["order_name"] for r in left] == ["late"]
    flush_status_log(database_url, settings.log_file)
    assert prune(db, Retention({"order_events": DAYS_90}), datetime.now(UTC))["order_events"] == 1


def test_errors_of_an_order_still_failed_stay(client, db, alice):
    failed, done = create(client, alice), create(client, alice)
    for order_id in (failed, done):
        error(db, 1, order_id)
    error(db, NO_JOB, None)  # a mail job's error
    db.execute(
        "UPDATE orders SET status = 'failed', next_run_at = NULL WHERE order_id = %s", (failed,)
    )
    age(db, "job_errors", "occurred_at")

    deleted = prune(db, Retention({"job_errors": DAYS_90}), datetime.now(UTC))

    left = db.execute("SELECT order_id FROM job_errors").fetchall()
    assert deleted["job_errors"] == 2 and left == [{"order_id": failed}]


def test_mail_requests_and_digests_go_together_when_done(client, db, alice, acme, database_url):
    """Answered, digested and told requests go, then their digest, then its mail; pending
    requests, the digest that lists them, and pending mail stay."""
    order = order_for(client, alice, acme)
    answered, pending = make_requests(db, order["order_id"], 2)
    db.execute(Q["provider_digest_queue"], {"now": datetime.now(UTC)})
    client.post(
        "/provider/requests/respond",
        json={"request_ids": [answered], "action": "fulfil"},
        headers=acme.headers,
    )
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
    db.execute(
        "UPDATE outbox SET status = 'sent', attempts = 1, sent_at = now() "
        "WHERE outbox_id <> (SELECT max(outbox_id) FROM outbox)"
    )
    for table, column in [
        ("provider_requests", "created_at"),
        ("provider_requests", "responded_at"),
        ("provider_digests", "created_at"),
        ("outbox", "created_at"),
    ]:
        age(db, table, column, f"{column} IS NOT NULL")

    first = prune(db, Retention(EVERY_TABLE), datetime.now(UTC))
    db.execute(
        "UPDATE provider_requests SET status = 'declined', "
        "responded_at = now() - interval '1 year', "
        "customer_outbox_id = (SELECT min(outbox_id) FROM outbox) WHERE request_id = %s",
        (pending,),
    )
    second = prune(db, Retention(EVERY_TABLE), datetime.now(UTC))

    assert (first["provider_requests"], first["provider_digests"], first["outbox"]) == (1, 0, 1)
    assert (second["provider_requests"], second["provider_digests"], second["outbox"]) == (1, 1, 1)
    left = db.execute("SELECT status::text FROM outbox").fetchall()
    assert count(db, "provider_requests") == count(db, "provider_digests") == 0
    assert left == [{"status": "pending"}]


def test_runs_go_after_their_retention(client, db, alice):
    order_id = create(client, alice)
    for number in (1, 2):
        db.execute(
            "INSERT INTO order_executions (order_id, run_number, scheduled_for, started_at, "
            "finished_at, worker, attempts, outcome) VALUES (%s, %s, now(), now(), now(), 'w', "
            "1, 'succeeded')",
            (order_id, number),
        )
    db.execute(
        "UPDATE order_executions SET scheduled_for = scheduled_for - interval '1 year', "
        "started_at = started_at - interval '1 year', finished_at = finished_at - interval "
        "'1 year' WHERE run_number = 1"
    )

    deleted = prune(db, Retention({"order_executions": DAYS_90}), datetime.now(UTC))

    assert deleted["order_executions"] == 1
    assert db.execute("SELECT run_number FROM order_executions").fetchall() == [{"run_number": 2}]


def test_each_run_is_bounded_and_continues_where_it_stopped(client, db, alice):
    """Errors that must stay (an order still failed) at the head of the table do not stop
    later runs: batches of 4, 2 per run, walk on from the recorded position."""
    failed = create(client, alice)
    db.execute(
        "UPDATE orders SET status = 'failed', next_run_at = NULL WHERE order_id = %s", (failed,)
    )
    for _ in range(6):
        error(db, 1, failed)
    for _ in range(25):
        error(db, NO_JOB, None)
    age(db, "job_errors", "occurred_at")
    retention = Retention({"job_errors": DAYS_90}, batch=4, max_batches=2)

    runs = [prune(db, retention, datetime.now(UTC))["job_errors"] for _ in range(5)]

    assert runs == [2, 8, 8, 7, 0]  # at most 8 rows examined per run; the 6 kept are skipped
    assert count(db, "job_errors") == 6
    progress = db.execute(
        "SELECT position, pruned FROM retention_progress WHERE table_name = 'job_errors'"
    ).fetchone()
    assert progress["pruned"] == 25


def test_the_task_prunes_with_the_settings(db, client, alice, database_url):
    """prune_history's own path (its connection, the settings' retention) deletes old runs."""
    from tasks.jobs import maintenance

    test_settings = Settings(DATABASE_URL=database_url, ORDERS_EXECUTION_RETENTION_DAYS=30)
    error(db, NO_JOB, None)
    age(db, "job_errors", "occurred_at", "true")

    retention = Retention.from_settings(test_settings)
    deleted = maintenance._prune(test_settings, retention, datetime.now(UTC))

    assert deleted["job_errors"] == 1 and "order_events" in deleted
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        assert conn.execute("SELECT count(*) AS n FROM job_errors").fetchone()["n"] == 0


def test_zero_days_keeps_forever(monkeypatch):
    monkeypatch.setenv("ORDERS_AUDIT_RETENTION_DAYS", "0")
    retention = Retention.from_settings(Settings())
    assert retention.keep["order_events"] is None
    assert retention.keep["order_executions"] == timedelta(days=90)
    assert Retention.from_settings(Settings(ORDERS_AUDIT_RETENTION_DAYS=400)).keep[
        "order_events"
    ] >= timedelta(days=365)
