"""Pauses through real worker processes: a paused order, a paused account and paused queues
run nothing while due (maintenance keeps running), and everything runs after resume."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.helpers import in_, jobs_of
from tests.workers import wait_until

PAUSE = "SELECT orders_pause(%s, %s, 'operator:ada')"
RESUME = "SELECT orders_resume(%s, %s, 'operator:ada')"
JOBS = "SELECT id FROM procrastinate_jobs WHERE args->>'order_id' = %(id)s"
ORDER = "SELECT status, executions_count, next_run_at FROM orders WHERE order_id = %(id)s"
# Finished runs of the stuck-order recovery (every second under tests.workers.FAST) since :after.
RECOVERIES = """
SELECT count(*) AS n FROM procrastinate_events e JOIN procrastinate_jobs j ON j.id = e.job_id
WHERE j.task_name = 'recover_stuck_orders' AND e.type = 'succeeded' AND e.at > %(after)s
"""
QUICK = {"ORDERS_WORKER_POLL_SECONDS": "0.2"}  # the executor looks for work 5 times a second


def create(client, account, seconds: float = 0.5) -> dict:
    body = {"order_name": "soap", "schedule_time": in_(seconds)}
    response = client.post("/orders", json=body, headers=account.headers)
    assert response.status_code == 201, response.json
    return response.json


def completed(rows) -> bool:
    return bool(rows) and rows[0]["status"] == "completed"


def recoveries_since(database_url: str, after: datetime, count: int = 3) -> None:
    """Wait until the worker ran the stuck-order recovery `count` times after `after`: it was
    alive (and its executor polling) all that time."""
    wait_until(database_url, RECOVERIES, lambda r: r[0]["n"] >= count, params={"after": after})


def test_a_paused_order_does_not_run_while_due_and_runs_after_resume(
    client, db, alice, workers, database_url
):
    """Its due job is retired unrun, it stays scheduled with its slot, stuck-order recovery
    (grace 2 s) leaves it alone; on resume it runs once."""
    order = create(client, alice)
    db.execute(PAUSE, ("order", str(order["order_id"])))
    workers.start("w1", **QUICK)

    wait_until(database_url, JOBS, lambda rows: not rows, params={"id": str(order["order_id"])})
    due = datetime.fromisoformat(order["next_run_at"])
    recoveries_since(database_url, due + timedelta(seconds=2))
    paused = db.execute(ORDER, {"id": order["order_id"]}).fetchone()
    jobs_while_paused = jobs_of(db, order["order_id"])
    db.execute(RESUME, ("order", str(order["order_id"])))
    wait_until(database_url, ORDER, completed, params={"id": order["order_id"]})

    assert (paused["status"], paused["executions_count"]) == ("scheduled", 0)
    assert paused["next_run_at"] == due and jobs_while_paused == []
    runs = db.execute(
        "SELECT run_number, scheduled_for FROM order_executions WHERE order_id = %s",
        (order["order_id"],),
    ).fetchall()
    assert [(r["run_number"], r["scheduled_for"]) for r in runs] == [(1, due)]


def test_a_paused_account_runs_nothing_while_another_account_runs(
    client, db, alice, bob, workers, database_url
):
    """Alice's account is paused: Bob's order runs, hers is retired unrun; resumed, it runs."""
    db.execute(PAUSE, ("account", alice.email))
    hers, his = create(client, alice), create(client, bob)
    workers.start("w1", **QUICK)

    wait_until(database_url, ORDER, completed, params={"id": his["order_id"]})
    wait_until(database_url, JOBS, lambda rows: not rows, params={"id": str(hers["order_id"])})
    held = db.execute(ORDER, {"id": hers["order_id"]}).fetchone()
    db.execute(RESUME, ("account", alice.email))
    wait_until(database_url, ORDER, completed, params={"id": hers["order_id"]})

    assert (held["status"], held["executions_count"]) == ("scheduled", 0)


def test_paused_orders_and_mail_queues_wait_while_maintenance_runs(
    client, db, alice, workers, database_url
):
    """With the orders and mail queues paused, a due order and a mail job wait (their jobs stay
    queued) while the maintenance tasks keep running; resume all and both run."""
    db.execute(PAUSE, ("queue", "orders"))
    db.execute(PAUSE, ("queue", "mail"))
    order = create(client, alice, seconds=0)
    mail_job = db.execute(
        "SELECT (procrastinate_defer_jobs_v1(ARRAY[ROW('mail', 'send_outbox', 0, NULL, NULL, "
        "'{}'::jsonb, NULL)::procrastinate_job_to_defer_v1]))[1] AS id"
    ).fetchone()["id"]
    workers.start("w1", **QUICK)

    recoveries_since(database_url, datetime.now(UTC))
    order_waiting = db.execute(ORDER, {"id": order["order_id"]}).fetchone()
    jobs_waiting = db.execute(
        "SELECT status FROM procrastinate_jobs WHERE id = ANY(%s) ORDER BY id",
        ([order["job_id"], mail_job],),
    ).fetchall()
    db.execute(RESUME, ("all", None))
    wait_until(database_url, ORDER, completed, params={"id": order["order_id"]})
    wait_until(
        database_url,
        "SELECT status FROM procrastinate_jobs WHERE id = %(id)s",
        lambda rows: rows and rows[0]["status"] == "succeeded",
        params={"id": mail_job},
    )

    assert (order_waiting["status"], order_waiting["executions_count"]) == ("scheduled", 0)
    assert [j["status"] for j in jobs_waiting] == ["todo", "todo"]
