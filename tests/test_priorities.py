"""Priorities, account tiers and fair share (issue 15, items 1 and 2): through the API, the SQL
operators use, the claim itself, and real workers running a saturated burst."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg.rows import dict_row

from orders.database import Q
from tasks.executor import claim
from tests.helpers import assert_error, in_, jobs_of, plan_scans
from tests.workers import wait_until

ONE_BY_ONE = {"ORDERS_EXECUTOR_SLOTS": "1"}  # batches one after the other: their order is the test


def create(client, account, **fields) -> dict:
    body = {"order_name": "o", "schedule_time": in_(3600)} | fields
    response = client.post("/orders", json=body, headers=account.headers)
    assert response.status_code == 201, response.json
    return response.json


def job_level(db, order: dict) -> int:
    return db.execute(
        "SELECT priority FROM procrastinate_jobs WHERE id = %s", (order["job_id"],)
    ).fetchone()["priority"]


def burst(client, account, count: int, at: datetime, name: str) -> int:
    """`count` one-time orders of `account`, all due at `at`, in one batch request."""
    body = {"orders": [{"order_name": name, "schedule_time": at.isoformat()}] * count}
    response = client.post("/orders/batch", json=body, headers=account.headers)
    assert response.status_code == 201, response.json
    return len(response.json["orders"])


def runs_of(database_url: str, total: int) -> list[dict]:
    """Every run once `total` have happened, with the account's email and its batch's start."""
    return wait_until(
        database_url,
        "SELECT e.order_id, e.started_at, u.email FROM order_executions e "
        "JOIN orders o USING (order_id) JOIN users u USING (user_id) ORDER BY e.started_at",
        lambda rows: len(rows) >= total,
        timeout=120,
    )


def test_priority_is_stored_shown_and_sets_the_run_level(client, db, alice):
    urgent = create(client, alice, priority="urgent")
    default = create(client, alice)

    assert (urgent["priority"], default["priority"]) == ("urgent", "normal")
    assert (job_level(db, urgent), job_level(db, default)) == (3, 1)
    fetched = client.get(f"/orders/{urgent['order_id']}", headers=alice.headers).json
    assert fetched["priority"] == "urgent"


def test_a_new_priority_applies_to_the_waiting_run(client, db, alice):
    order = create(client, alice, priority="low")

    patched = client.patch(
        f"/orders/{order['order_id']}", json={"priority": "high"}, headers=alice.headers
    )

    assert patched.status_code == 200, patched.json
    assert job_level(db, patched.json) == 2
    db.execute("UPDATE orders SET priority = 'urgent' WHERE order_id = %s", (order["order_id"],))
    assert job_level(db, patched.json) == 3  # an operator's UPDATE too


def test_a_tier_raises_every_waiting_run_of_the_account(client, db, alice, bob):
    mine, theirs = create(client, alice, priority="low"), create(client, bob, priority="urgent")

    db.execute("UPDATE users SET tier = 'vip' WHERE user_id = %s", (alice.user_id,))

    assert (job_level(db, mine), job_level(db, theirs)) == (4, 3)  # vip low beats standard urgent
    later = create(client, alice)
    assert job_level(db, later) == 5
    db.execute("UPDATE account_tiers SET priority_boost = 6 WHERE tier = 'vip'")
    assert (job_level(db, mine), job_level(db, later)) == (6, 7)


@pytest.mark.parametrize(
    ("field", "value"),
    [("priority", "asap"), ("priority", 3), ("missed_runs", "some"), ("expires_after", 0)],
)
def test_bad_scheduling_fields_are_refused(client, alice, field, value):
    response = client.post("/orders", json={"order_name": "x", field: value}, headers=alice.headers)
    assert_error(response, 422)


def test_a_tier_that_does_not_exist_is_refused_by_the_database(db, alice):
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        db.execute("UPDATE users SET tier = 'gold' WHERE user_id = %s", (alice.user_id,))


def saturated(client, workers, batch: int, *accounts: tuple) -> list[dict]:
    """Each (account, count) gets `count` orders due at one instant; once it has passed, one
    worker runs batches of `batch`, one after the other; every run, in start order."""
    at = datetime.now(UTC) + timedelta(seconds=3)
    total = sum(burst(client, account, count, at, account.email) for account, count in accounts)
    url = workers.env["DATABASE_URL"]
    wait_until(url, "SELECT now() > %(at)s AS due", lambda r: r[0]["due"], params={"at": at})
    workers.start("w", ORDERS_EXECUTOR_BATCH=str(batch), **ONE_BY_ONE)
    return runs_of(url, total)


def test_every_vip_order_starts_before_any_standard_one(client, db, alice, bob, workers):
    """A saturated burst: 60 standard and 30 vip orders due at the same instant, batches of 10."""
    db.execute("UPDATE users SET tier = 'vip' WHERE user_id = %s", (bob.user_id,))

    runs = saturated(client, workers, 10, (alice, 60), (bob, 30))

    vip_starts = [r["started_at"] for r in runs if r["email"] == bob.email]
    standard_starts = [r["started_at"] for r in runs if r["email"] == alice.email]
    assert len(vip_starts) == 30 and len(standard_starts) == 60
    assert max(vip_starts) <= min(standard_starts)
    assert len(set(vip_starts)) == 3  # three full batches of vip orders first


def test_a_small_account_is_not_starved_by_a_big_one(client, db, alice, bob, workers):
    """alice has 300 orders due, bob 10 at the same instant (and after hers by id); batches of
    20: bob's orders run in the first two batches, not after all of alice's."""
    runs = saturated(client, workers, 20, (alice, 300), (bob, 10))

    batches = sorted({r["started_at"] for r in runs})
    small_batches = {batches.index(r["started_at"]) for r in runs if r["email"] == bob.email}
    assert len(batches) >= 16
    assert max(small_batches) <= 1


def test_shares_follow_account_weights(client, db, alice, bob, database_url):
    """alice weighs 3, bob 1, each with 100 orders due: a batch of 40 keeps 2 for the earliest
    due, and shares 38 as 28 and 9."""
    db.execute("UPDATE users SET share_weight = 3 WHERE user_id = %s", (alice.user_id,))
    at = datetime.now(UTC) + timedelta(seconds=1)
    burst(client, alice, 100, at, "a")
    burst(client, bob, 100, at, "b")

    rows = asyncio.run(_claim_once(database_url, at + timedelta(seconds=1), 40))

    by_account = {
        u: sum(1 for r in rows if r["user_id"] == u) for u in (alice.user_id, bob.user_id)
    }
    assert by_account == {alice.user_id: 28 + 3, bob.user_id: 9}


def test_claims_never_wait_and_never_share_a_job(client, db, alice, bob, database_url):
    """Two claims at once take disjoint jobs (SKIP LOCKED), both fairly shared."""
    at = datetime.now(UTC) + timedelta(seconds=1)
    burst(client, alice, 50, at, "a")
    burst(client, bob, 50, at, "b")

    first, second = asyncio.run(_two_claims(database_url, at + timedelta(seconds=1), 30))

    assert not {r["job_id"] for r in first} & {r["job_id"] for r in second}
    assert len(first) == len(second) == 30
    for rows in (first, second):
        assert {r["user_id"] for r in rows} == {alice.user_id, bob.user_id}


def test_the_fair_claim_skips_an_account_whose_hint_is_stale(client, db, alice, bob, database_url):
    """account_queue is a hint: an account with nothing left due costs a look, then moves on."""
    at = datetime.now(UTC) + timedelta(seconds=1)
    burst(client, bob, 5, at, "b")
    gone = create(client, alice, schedule_time=at.isoformat())
    db.execute("DELETE FROM procrastinate_jobs WHERE id = %s", (gone["job_id"],))

    rows = asyncio.run(_claim_once(database_url, at + timedelta(seconds=1), 10, advance=True))

    assert {r["user_id"] for r in rows} == {bob.user_id}
    hint = db.execute(
        "SELECT due_at, served_at FROM account_queue WHERE user_id = %s", (alice.user_id,)
    ).fetchone()
    assert hint["due_at"] is None and hint["served_at"] is not None
    assert jobs_of(db, gone["order_id"]) == []


async def _claim_once(url: str, now: datetime, batch: int, advance: bool = False) -> list[dict]:
    async with await psycopg.AsyncConnection.connect(url, row_factory=dict_row) as conn:
        rows, served = await claim.claim(conn, list(range(9, -1, -1)), now, batch)
        if advance:
            await claim.advance(conn, served, rows, now)
            await conn.commit()
        return rows


async def _two_claims(url: str, now: datetime, batch: int) -> tuple[list[dict], list[dict]]:
    levels = list(range(9, -1, -1))
    async with (
        await psycopg.AsyncConnection.connect(url, row_factory=dict_row) as one,
        await psycopg.AsyncConnection.connect(url, row_factory=dict_row) as two,
    ):
        first, _ = await claim.claim(one, levels, now, batch)
        second, _ = await claim.claim(two, levels, now, batch)
        return first, second


def test_operators_set_a_tier_from_the_cli_and_it_is_audited(client, db, cli, alice):
    waiting = create(client, alice)

    out = cli("set-tier", alice.email, "vip", "--weight", "5")

    assert "tier vip, weight 5, 1 waiting runs" in out
    assert job_level(db, waiting) == 5
    action = db.execute(
        "SELECT operator, action, scope, target, reason FROM operator_actions"
    ).fetchone()
    assert action == {
        "operator": "operator:tester",
        "action": "set_tier",
        "scope": "account",
        "target": alice.email,
        "reason": "tier vip, weight 5",
    }
    listing = cli("tiers")
    assert "vip" in listing and "standard" in listing


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("set-tier", "nobody@example.com", "vip"), "no account"),
        (("set-tier", "{alice}", "gold"), "no tier gold; the tiers are: standard, vip"),
        (("set-tier", "{alice}", "vip", "--weight", "0"), "0 is not in the range"),
    ],
)
def test_bad_tier_requests_get_a_clear_cli_error(cli, alice, args, message):
    out = cli(*(a.format(alice=alice.email) for a in args), code=2 if "--weight" in args else 1)
    assert message in out


def test_the_claim_stays_index_probes_on_a_big_skewed_backlog(db, alice):
    """20,000 due orders of one account at one level (statistics skewed as in a burst): every
    statement of the claim probes indexes, none reads the jobs or orders tables through."""
    db.execute(
        "WITH o AS (INSERT INTO orders (user_id, order_name, schedule_time, next_run_at) "
        "SELECT %(u)s, 'o', now(), now() FROM generate_series(1, 20000) RETURNING order_id) "
        "INSERT INTO procrastinate_jobs (queue_name, task_name, priority, args, scheduled_at) "
        "SELECT 'orders', 'execute_order', 1, jsonb_build_object('order_id', order_id, "
        "'user_id', %(u)s), now() FROM o",
        {"u": alice.user_id},
    )
    db.execute("ANALYZE procrastinate_jobs")
    db.execute("ANALYZE orders")
    db.execute("SET plan_cache_mode = force_custom_plan")  # as the workers' sessions
    now, levels = datetime.now(UTC), list(range(9, -1, -1))
    statements = {
        "execution_levels_due": {"levels": levels, "now": now},
        "account_queue_list_due": {"level": 1, "now": now, "limit": 469},
        "execution_claim_level": {"level": 1, "now": now, "batch": 500}
        | {"user_ids": [alice.user_id], "shares": [469]},
        "account_queue_advance": {"level": 1, "now": now}
        | {"user_ids": [alice.user_id], "drained": [True]},
        "job_next_due": {"levels": levels, "queues": ["mail"]}
        | {"orders_after": now, "queues_after": now},
    }

    scans = {name: plan_scans(db, Q[name], params) for name, params in statements.items()}

    big = {"procrastinate_jobs", "orders"}
    assert {name: tables & big for name, tables in scans.items() if tables & big} == {}
