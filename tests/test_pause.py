"""Pause and resume from SQL, the CLI, the dashboard API and a customer's own order: the flags,
the audit (operator_actions, order_events), the deferred runs on resume, and every refusal."""

from __future__ import annotations

import psycopg
import pytest

from tests.helpers import assert_error, in_, jobs_of

PAUSE = "SELECT orders_pause(%s, %s, %s, %s) AS changed"
RESUME = "SELECT orders_resume(%s, %s, %s) AS changed"
ACTIONS = "SELECT operator, action, scope, target, reason FROM operator_actions ORDER BY action_id"


def create(client, account, **fields) -> int:
    body = {"order_name": "soap", "schedule_time": in_(3600)} | fields
    response = client.post("/orders", json=body, headers=account.headers)
    assert response.status_code == 201, response.json
    return response.json["order_id"]


def refusal(db, sql: str, params) -> psycopg.Error:
    with pytest.raises(psycopg.Error) as caught:
        db.execute(sql, params)
    return caught.value


def test_sql_pause_and_resume_of_an_order_keep_its_schedule_and_audit_it(client, db, alice):
    """An order paused in SQL stays scheduled with its next run; resume defers one new job."""
    order_id = create(client, alice)
    before = db.execute(
        "SELECT next_run_at FROM orders WHERE order_id = %s", (order_id,)
    ).fetchone()

    paused = db.execute(
        PAUSE, ("order", str(order_id), "operator:ada", "customer asked")
    ).fetchone()
    job_gone = db.execute(
        "DELETE FROM procrastinate_jobs WHERE args->>'order_id' = %s RETURNING id", (str(order_id),)
    ).fetchall()  # as the executor retires a paused order's due job
    resumed = db.execute(RESUME, ("order", str(order_id), "operator:ada")).fetchone()

    order = db.execute(
        "SELECT status, next_run_at, paused_at, job_id FROM orders WHERE order_id = %s", (order_id,)
    ).fetchone()
    events = db.execute(
        "SELECT event_type, actor, details FROM order_events WHERE order_id = %s "
        "AND event_type = 'updated' ORDER BY event_id",
        (order_id,),
    ).fetchall()
    assert paused["changed"] == resumed["changed"] == [str(order_id)] and job_gone
    assert (order["status"], order["next_run_at"], order["paused_at"]) == (
        "scheduled",
        before["next_run_at"],
        None,
    )
    assert [j["id"] for j in jobs_of(db, order_id)] == [order["job_id"]]
    assert jobs_of(db, order_id)[0]["scheduled_at"] == before["next_run_at"]
    assert [(e["actor"], e["details"]["reason"]) for e in events] == [
        ("operator:ada", "customer asked"),
        ("operator:ada", "resumed"),
    ]
    assert events[0]["details"]["changed"]["paused_by"] == "operator:ada"
    assert db.execute(ACTIONS).fetchall() == [
        {"operator": "operator:ada", "action": "pause", "scope": "order",
         "target": str(order_id), "reason": "customer asked"},
        {"operator": "operator:ada", "action": "resume", "scope": "order",
         "target": str(order_id), "reason": None},
    ]  # fmt: skip


def test_resume_of_an_order_with_a_waiting_job_defers_no_second_one(client, db, alice):
    """Paused and resumed before its run was due: its job is still there, nothing is added."""
    order_id = create(client, alice)

    db.execute(PAUSE, ("order", str(order_id), "operator:ada", None))
    db.execute(RESUME, ("order", str(order_id), "operator:ada"))

    assert len(jobs_of(db, order_id)) == 1


def test_sql_queue_and_all_pauses_never_take_maintenance(db):
    """'all' pauses orders, mail and webhooks; maintenance is refused by the function and the
    table's CHECK; resume all deletes every queue pause."""
    db.execute(PAUSE, ("queue", "mail", "operator:ada", None))

    everything = db.execute(PAUSE, ("all", None, "operator:ada", "upgrade")).fetchone()
    maintenance = refusal(db, PAUSE, ("queue", "maintenance", "operator:ada", None))
    by_hand = refusal(db, "INSERT INTO queue_pauses (queue_name, paused_by) VALUES "
                          "('maintenance', 'me')", None)  # fmt: skip
    resumed = db.execute(RESUME, ("all", None, "operator:ada")).fetchone()

    assert everything["changed"] == ["orders", "webhooks"]  # mail was paused already
    assert isinstance(maintenance, psycopg.errors.CheckViolation)
    assert maintenance.diag.message_primary == "the maintenance queue cannot be paused"
    assert isinstance(by_hand, psycopg.errors.CheckViolation)
    assert resumed["changed"] == ["mail", "orders", "webhooks"]
    assert db.execute("SELECT count(*) AS n FROM queue_pauses").fetchone()["n"] == 0
    assert [(a["action"], a["scope"], a["target"]) for a in db.execute(ACTIONS)] == [
        ("pause", "queue", "mail"),
        ("pause", "all", "orders,webhooks"),
        ("resume", "all", "mail,orders,webhooks"),
    ]


@pytest.mark.parametrize(
    ("sql", "params", "error", "detail"),
    [
        (PAUSE, ("everything", None, "op", None), psycopg.errors.InvalidParameterValue,
         "unknown_scope"),
        (PAUSE, ("queue", "mial", "op", None), psycopg.errors.NoDataFound, "unknown_queue"),
        (PAUSE, ("account", "nobody@example.com", "op", None), psycopg.errors.NoDataFound,
         "not_found"),
        (PAUSE, ("order", "999999", "op", None), psycopg.errors.NoDataFound, "not_found"),
        (PAUSE, ("order", "x1", "op", None), psycopg.errors.InvalidParameterValue,
         "invalid_order_id"),
        (PAUSE, ("queue", None, "op", None), psycopg.errors.InvalidParameterValue,
         "target_required"),
        (PAUSE, ("all", None, " ", None), psycopg.errors.InvalidParameterValue,
         "operator_required"),
        (RESUME, ("queue", "mail", "op"), psycopg.errors.ObjectNotInPrerequisiteState,
         "not_paused"),
        (RESUME, ("all", None, "op"), psycopg.errors.ObjectNotInPrerequisiteState, "not_paused"),
    ],
)  # fmt: skip
def test_sql_refuses_bad_requests_clearly(db, sql, params, error, detail):
    """Each refusal has its SQLSTATE, a stable code in DETAIL and a message, and audits nothing."""
    refused = refusal(db, sql, params)

    assert isinstance(refused, error) and refused.diag.message_detail == detail
    assert refused.diag.message_primary
    assert db.execute(ACTIONS).fetchall() == []


def test_sql_refuses_pausing_twice_resuming_unpaused_and_finished_orders(client, db, alice):
    """Already paused, not paused, and a cancelled order are 55000 with their own codes."""
    order_id, cancelled = create(client, alice), create(client, alice)
    client.delete(f"/orders/{cancelled}", headers=alice.headers)
    db.execute(PAUSE, ("account", alice.email.upper(), "op", None))

    twice = refusal(db, PAUSE, ("account", alice.email, "op", None))
    unpaused = refusal(db, RESUME, ("order", str(order_id), "op"))
    finished = refusal(db, PAUSE, ("order", str(cancelled), "op", None))

    assert [e.diag.message_detail for e in (twice, unpaused, finished)] == [
        "already_paused",
        "not_paused",
        "order_not_scheduled",
    ]
    assert all(isinstance(e, psycopg.errors.ObjectNotInPrerequisiteState)
               for e in (twice, unpaused, finished))  # fmt: skip


def test_stuck_recovery_query_leaves_paused_orders_alone(client, db, alice, bob):
    """Due orders without a job: only the unpaused one, of an unpaused account, is stuck."""
    mine, paused, bobs = create(client, alice), create(client, alice), create(client, bob)
    db.execute("UPDATE orders SET next_run_at = now() - interval '1 hour'")
    db.execute("DELETE FROM procrastinate_jobs")
    db.execute(PAUSE, ("order", str(paused), "op", None))
    db.execute(PAUSE, ("account", bob.email, "op", None))
    from orders.database import Q

    stuck = db.execute(Q["order_list_stuck"], {"overdue_before": in_(0), "limit": 10}).fetchall()
    view = db.execute("SELECT order_id FROM orders_stuck").fetchall()

    assert [r["order_id"] for r in stuck] == [r["order_id"] for r in view] == [mine]
    assert bobs not in [r["order_id"] for r in view]


def test_account_resume_defers_the_accounts_orders_but_not_its_paused_ones(client, db, alice):
    """Resuming an account defers a run for each scheduled order without a job, due now when
    its slot passed; an order paused on its own stays paused."""
    late, future, own = create(client, alice), create(client, alice), create(client, alice)
    db.execute(PAUSE, ("account", alice.email, "op", None))
    db.execute(PAUSE, ("order", str(own), "op", None))
    db.execute("DELETE FROM procrastinate_jobs")  # retired by the executor while paused
    db.execute("UPDATE orders SET next_run_at = now() - interval '1 hour' WHERE order_id = %s",
               (late,))  # fmt: skip

    db.execute(RESUME, ("account", alice.email, "op"))

    jobs = {o: jobs_of(db, o) for o in (late, future, own)}
    slot = db.execute("SELECT next_run_at FROM orders WHERE order_id = %s", (future,)).fetchone()
    assert len(jobs[late]) == len(jobs[future]) == 1 and jobs[own] == []
    assert jobs[future][0]["scheduled_at"] == slot["next_run_at"]
    assert jobs[late][0]["scheduled_at"] > db.execute("SELECT now() - interval '1 minute' AS t")\
        .fetchone()["t"]  # fmt: skip


def test_dashboard_api_pauses_lists_and_resumes_as_the_admin(client, db, admin, alice):
    """Admins pause and resume through the API, audited as admin:<id>; customers may not."""
    order_id = create(client, alice)
    body = {"scope": "order", "target": str(order_id), "reason": "looks wrong"}

    paused = client.post("/dashboard/api/pauses/pause", json=body, headers=admin.headers)
    queue = client.post("/dashboard/api/pauses/pause", json={"scope": "queue", "target": "mail"},
                        headers=admin.headers)  # fmt: skip
    listed = client.get("/dashboard/api/pauses", headers=admin.headers)
    seen = client.get(f"/orders/{order_id}", headers=alice.headers).json
    resumed = client.post("/dashboard/api/pauses/resume", json=body, headers=admin.headers)

    assert paused.status_code == queue.status_code == resumed.status_code == 200
    assert paused.json == {"action": "pause", "scope": "order", "changed": [str(order_id)]}
    assert {(p["scope"], p["target"], p["paused_by"]) for p in listed.json["paused"]} == {
        ("order", str(order_id), f"admin:{admin.user_id}"),
        ("queue", "mail", f"admin:{admin.user_id}"),
    }
    assert listed.json["actions"][0]["scope"] == "queue"
    assert seen["paused"] is True and seen["status"] == "scheduled"
    assert client.get(f"/orders/{order_id}", headers=alice.headers).json["paused"] is False
    assert_error(client.get("/dashboard/api/pauses", headers=alice.headers), 403)
    assert_error(client.post("/dashboard/api/pauses/pause", json=body, headers=alice.headers), 403)


@pytest.mark.parametrize(
    ("action", "body", "status", "code"),
    [
        ("pause", {"scope": "queue", "target": "maintenance"}, 400, "not_pausable"),
        ("pause", {"scope": "queue", "target": "nope"}, 404, "unknown_queue"),
        ("pause", {"scope": "account", "target": "nobody@example.com"}, 404, "not_found"),
        ("pause", {"scope": "order", "target": "424242"}, 404, "not_found"),
        ("pause", {"scope": "order", "target": "abc"}, 400, "invalid_order_id"),
        ("pause", {"scope": "galaxy"}, 422, "validation_error"),
        ("resume", {"scope": "all"}, 409, "not_paused"),
        ("resume", {"scope": "queue", "target": "webhooks"}, 409, "not_paused"),
    ],
)
def test_dashboard_api_refusals_are_json_errors(client, admin, action, body, status, code):
    """Bad input is a 400/404/409/422 in the one error shape, never a 500."""
    response = client.post(f"/dashboard/api/pauses/{action}", json=body, headers=admin.headers)

    assert_error(response, status, code)


def test_a_customer_pauses_and_resumes_their_own_order(client, db, alice, bob, admin):
    """The owner may pause and resume (audited as user:<id>); someone else's order is a 404,
    and an operator's pause is not the customer's to lift."""
    order_id = create(client, alice)
    url = f"/orders/{order_id}"

    paused = client.post(f"{url}/pause", json={"reason": "on holiday"}, headers=alice.headers)
    again = client.post(f"{url}/pause", headers=alice.headers)
    other = client.post(f"{url}/resume", headers=bob.headers)
    resumed = client.post(f"{url}/resume", headers=alice.headers)
    client.post("/dashboard/api/pauses/pause", json={"scope": "order", "target": str(order_id)},
                headers=admin.headers)  # fmt: skip
    blocked = client.post(f"{url}/resume", headers=alice.headers)

    assert paused.status_code == 200 and paused.json["paused"] is True
    assert_error(again, 409, "already_paused")
    assert_error(other, 404)
    assert resumed.status_code == 200 and resumed.json["paused"] is False
    assert_error(blocked, 409, "paused_by_operator")
    actors = [a["operator"] for a in db.execute(ACTIONS)]
    assert actors == [f"user:{alice.user_id}", f"user:{alice.user_id}", f"admin:{admin.user_id}"]


def test_cli_pause_resume_and_list_name_the_operator(client, db, cli, alice):
    """`orders pause/resume/pauses`: one scope at a time, clear errors, operator:<name>."""
    order_id = create(client, alice)

    out_queue = cli("pause", "--queue", "webhooks", "--reason", "receiver down")
    out_account = cli("pause", "--account", alice.email)
    out_order = cli("pause", "--order", str(order_id))
    listing = cli("pauses")
    maintenance = cli("pause", "--queue", "maintenance", code=1)
    two = cli("pause", "--all", "--queue", "mail", code=2)
    unknown = cli("resume", "--order", "999999", code=1)
    not_paused = cli("resume", "--queue", "mail", code=1)
    out_resume = cli("resume", "--account", alice.email)

    assert out_queue.strip() == "paused queue: webhooks"
    assert out_account.strip() == f"paused account: {alice.email}"
    assert out_order.strip() == f"paused order: {order_id}"
    assert "receiver down" in listing and "operator:tester" in listing
    assert "the maintenance queue cannot be paused" in maintenance
    assert "exactly one of" in two
    assert "order 999999 not found" in unknown
    assert "queue mail is not paused" in not_paused
    assert out_resume.strip() == f"resumed account: {alice.email}"
    assert {a["operator"] for a in db.execute(ACTIONS)} == {"operator:tester"}
