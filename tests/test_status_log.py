"""The JSON status log, written from order_events by one writer at a time: complete, in order,
never twice, rotation-safe, and a file that cannot be written loses nothing."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

from orders.operations.status_log import LOCK_KEY, Writer, write_pending
from tests.helpers import flush_status_log, in_


def create(client, account, name: str = "soap") -> dict:
    body = {"order_name": name, "schedule_time": in_(3600)}
    response = client.post("/orders", json=body, headers=account.headers)
    assert response.status_code == 201, response.json
    return response.json


def horizon(db) -> str:
    return db.execute("SELECT horizon::text AS h FROM status_log_cursor").fetchone()["h"]


def test_a_late_commit_is_never_skipped(client, alice, database_url, settings, db):
    """A transaction still open holds the horizon: later commits wait for it, none is lost."""
    with psycopg.connect(database_url) as slow:  # its transaction stays open
        slow.execute("SET orders.actor = 'operator:slow'")
        slow.execute(
            "INSERT INTO orders (order_id, user_id, order_name, schedule_time, next_run_at) "
            "VALUES (nextval('orders_order_id_seq'), %s, 'slow', now(), now())",
            (alice.user_id,),
        )
        fast = create(client, alice, "fast")  # commits first

        assert flush_status_log(database_url, settings.log_file) == []  # held back, not skipped
        slow.commit()

    names = [
        (line["order_id"], line["to"]) for line in flush_status_log(database_url, settings.log_file)
    ]
    assert len(names) == 2 and (fast["order_id"], "scheduled") in names


def test_every_change_once_in_order_across_passes(client, alice, database_url, settings):
    first = create(client, alice)
    flush_status_log(database_url, settings.log_file)
    client.delete(f"/orders/{first['order_id']}", headers=alice.headers)
    second = create(client, alice)
    lines = flush_status_log(database_url, settings.log_file)
    lines = flush_status_log(database_url, settings.log_file)  # a pass with nothing new

    assert [(x["order_id"], x["from"], x["to"]) for x in lines] == [
        (first["order_id"], None, "scheduled"),
        (first["order_id"], "scheduled", "cancelled"),
        (second["order_id"], None, "scheduled"),
    ]
    assert [x["event_id"] for x in lines] == sorted(x["event_id"] for x in lines)


def test_rotation_starts_a_new_file(client, alice, database_url, settings):
    create(client, alice)
    flush_status_log(database_url, settings.log_file)
    settings.log_file.rename(settings.log_file.with_suffix(".1"))
    order = create(client, alice)

    assert [x["order_id"] for x in flush_status_log(database_url, settings.log_file)] == [
        order["order_id"]
    ]


def test_two_writers_never_interleave(client, alice, database_url, settings):
    """While one writer holds the lock (for its whole pass), another skips its turn."""
    create(client, alice)
    with (
        psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as one,
        psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as two,
    ):
        one.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        assert write_pending(two, settings.log_file) == 0
        one.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
        assert write_pending(two, settings.log_file) == 1


@pytest.mark.parametrize("where", ["under-a-file", "/dev/full"])
def test_an_unwritable_file_loses_nothing_and_says_so(
    client, alice, database_url, settings, db, tmp_path, caplog, where
):
    """The file cannot be created (a file where its folder should be) or every write fails
    (/dev/full, a full disk): one error line, the horizon stays, a later pass catches up."""
    path = tmp_path / "blocker" / "orders.log" if where == "under-a-file" else Path(where)
    (tmp_path / "blocker").write_text("a file where a folder should be")
    order = create(client, alice)
    before = horizon(db)
    writer = Writer(database_url, path)

    assert writer.run_once() == 0 and writer.run_once() == 0
    assert caplog.text.count("cannot write the status log") == 1
    assert horizon(db) == before

    writer.path = settings.log_file  # the disk is fixed
    assert writer.run_once() == 1
    writer.close()
    assert json.loads(settings.log_file.read_text())["order_id"] == order["order_id"]
