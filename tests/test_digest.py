"""Provider requests and digests: one request per run, one digest mail per provider and period,
no request ever in two digests or left out, also with concurrent digest runs."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import psycopg
from psycopg.rows import dict_row

from orders.database import Q
from tasks.jobs.mail import queue_provider_digests
from tests.helpers import in_
from tests.mail import run_on_connection
from tests.test_providers import make_requests, order_for
from tests.workers import wait_until

DIGESTS = """
SELECT d.provider_id, d.request_count, o.recipient, o.subject, o.body, o.kind,
       array_agg(r.request_id ORDER BY r.request_id) AS request_ids
FROM provider_digests d
JOIN outbox o ON o.outbox_id = d.outbox_id
JOIN provider_requests r ON r.digest_id = d.digest_id
GROUP BY d.digest_id, o.outbox_id ORDER BY d.digest_id
"""
REQUESTS = "SELECT run_number, status FROM provider_requests WHERE order_id = %(id)s ORDER BY 1"


def digest(database_url: str) -> dict:
    return run_on_connection(database_url, queue_provider_digests, datetime.now(UTC))


def test_each_run_of_a_recurring_order_requests_once(
    client, db, alice, acme, workers, app, database_url
):
    """max 3 runs -> 3 requests, one per run, even with a duplicate job for the first run."""
    from tasks.jobs.orders import execute_order

    order = order_for(
        client,
        alice,
        acme,
        schedule_time=in_(1),
        is_recurring=True,
        repeat_interval=1,
        repeat_unit="seconds",
        max_executions=3,
    )
    with app.extensions["orders.db"].transaction() as conn:
        execute_order.configure(connection=conn, schedule_at=datetime.now(UTC)).defer(
            order_id=order["order_id"]
        )
    workers.start("w1")

    wait_until(
        database_url,
        "SELECT status FROM orders WHERE order_id = %(id)s",
        lambda rows: rows[0]["status"] == "completed",
        params={"id": order["order_id"]},
    )

    requests = db.execute(REQUESTS, {"id": order["order_id"]}).fetchall()
    assert [(r["run_number"], r["status"]) for r in requests] == [
        (1, "pending"),
        (2, "pending"),
        (3, "pending"),
    ]


def test_a_run_never_makes_a_second_request(client, db, alice, acme):
    """The database refuses a second request for the same run (unique order, run_number)."""
    order = order_for(client, alice, acme)
    make_requests(db, order["order_id"], runs=1)

    try:
        make_requests(db, order["order_id"], runs=1)
        refused = False
    except psycopg.errors.UniqueViolation:
        refused = True

    assert refused


def test_one_digest_per_provider_listing_exactly_its_requests(client, db, alice, bob, acme, globex):
    """2 providers x several requests -> exactly 2 mails, each with its provider's requests."""
    acme_ids = make_requests(db, order_for(client, alice, acme)["order_id"], runs=3)
    acme_ids += make_requests(db, order_for(client, bob, acme)["order_id"], runs=1)
    globex_ids = make_requests(db, order_for(client, alice, globex)["order_id"], runs=2)

    queued = digest(db.info.dsn)

    digests = db.execute(DIGESTS).fetchall()
    assert queued == {"mails": 2, "requests": 6}
    assert [(d["recipient"], d["request_count"], d["request_ids"]) for d in digests] == [
        (acme.email, 4, sorted(acme_ids)),
        (globex.email, 2, globex_ids),
    ]
    assert digests[0]["subject"] == "4 new requests for Acme"
    assert all(f"#{i} " in digests[0]["body"] for i in acme_ids)
    assert not any(f"#{i} " in digests[0]["body"] for i in globex_ids)
    unnotified = "SELECT count(*) AS n FROM provider_requests WHERE notified_at IS NULL"
    assert db.execute(unnotified).fetchone()["n"] == 0


def test_next_digest_sends_only_what_is_new(client, db, alice, acme, globex):
    """A second run sends nothing; requests made later go in the next digest only."""
    order = order_for(client, alice, acme)
    first_ids = make_requests(db, order["order_id"], runs=2)
    first = digest(db.info.dsn)
    nothing = digest(db.info.dsn)
    db.execute(
        Q["provider_request_insert"],
        {"order_id": order["order_id"], "run_number": 3, "now": datetime.now(UTC)},
    )

    later = digest(db.info.dsn)

    digests = db.execute(DIGESTS).fetchall()
    assert (first["mails"], nothing["mails"], later["mails"]) == (1, 0, 1)
    assert [d["request_ids"] for d in digests] == [first_ids, [first_ids[-1] + 1]]
    senders = "SELECT count(*) AS n FROM procrastinate_jobs WHERE task_name = 'send_outbox'"
    assert db.execute(senders).fetchone()["n"] == 2  # each digest deferred the sender with it


def test_digest_skips_requests_another_digest_holds(client, db, alice, acme, database_url):
    """While one digest transaction is open, a second one neither waits nor repeats its rows."""
    order = order_for(client, alice, acme)
    held = make_requests(db, order["order_id"], runs=3)
    params = {"now": datetime.now(UTC)}

    with psycopg.connect(database_url, row_factory=dict_row) as first:
        in_first = first.execute(Q["provider_digest_queue"], params).fetchone()
        db.execute(
            Q["provider_request_insert"], {"order_id": order["order_id"], "run_number": 4} | params
        )
        second = digest(database_url)
        first.commit()
    third = digest(database_url)

    digests = db.execute(DIGESTS).fetchall()
    assert in_first["requests"] == 3 and second["requests"] == 1 and third["requests"] == 0
    assert sorted(d["request_ids"] for d in digests) == [held, [held[-1] + 1]]


def test_concurrent_digest_runs_never_double_send(client, db, alice, acme, globex, database_url):
    """Eight threads digest while requests keep arriving: each request is in exactly one digest."""
    orders = [order_for(client, alice, p)["order_id"] for p in (acme, globex)]
    stop, errors, runs = threading.Event(), [], 400

    def digest_forever():
        try:
            while not stop.is_set():
                digest(database_url)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=digest_forever) for _ in range(8)]
    for thread in threads:
        thread.start()
    for run in range(1, runs + 1):
        for order_id in orders:
            db.execute(
                Q["provider_request_insert"],
                {"order_id": order_id, "run_number": run, "now": datetime.now(UTC)},
            )
    stop.set()
    for thread in threads:
        thread.join()
    digest(database_url)

    listed = db.execute(  # how many digest mails mention each request
        "SELECT r.request_id, count(o.outbox_id) AS times FROM provider_requests r "
        "LEFT JOIN outbox o ON o.kind = 'provider_digest' "
        "AND o.body LIKE '%#' || r.request_id || ' %' GROUP BY r.request_id"
    ).fetchall()
    totals = db.execute(
        "SELECT (SELECT sum(request_count) FROM provider_digests) AS listed, "
        "(SELECT count(*) FROM provider_requests) AS made"
    ).fetchone()
    made = db.execute("SELECT count(*) AS n FROM provider_digests").fetchone()["n"]
    assert errors == []
    assert made > 2  # the digests really ran while requests arrived
    assert len(listed) == 2 * runs and {r["times"] for r in listed} == {1}
    assert totals == {"listed": 2 * runs, "made": 2 * runs}
