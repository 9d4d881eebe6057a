"""The status log after a writer is SIGKILLed mid-page, with a large backlog: every change
exactly once, also when the file was rotated (or rotated and deleted) before the next pass."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

from orders.operations.status_log import Paging, write_pending

LINES = 5000  # per page
KILLED_AT = 3  # the page during which the writer dies


def make_backlog(db, user_id: int, transactions: list[int]) -> list[int]:
    """Orders inserted in SQL, one transaction per entry (the first one big: more than a page
    of events in a single transaction); the ids of their `created` events."""
    for n in transactions:
        db.execute(
            "INSERT INTO orders (user_id, order_name, schedule_time, next_run_at) "
            "SELECT %s, 'o' || g, now() + interval '1 day', now() + interval '1 day' "
            "FROM generate_series(1, %s) g",
            (user_id, n),
        )
    rows = db.execute(
        "SELECT event_id FROM order_events WHERE event_type = 'created' ORDER BY event_id"
    )
    return [r["event_id"] for r in rows]


def kill_writer(database_url: str, path: Path, when: str) -> None:
    """Run a real writer process that SIGKILLs itself during page KILLED_AT."""
    command = [sys.executable, "-m", "tests.status_log_crash", database_url, str(path)]
    options = ["--page", str(KILLED_AT), "--when", when, "--lines", str(LINES)]
    done = subprocess.run([*command, *options], timeout=300, check=False)
    assert done.returncode == -9, f"the writer was meant to die by SIGKILL: {done.returncode}"


def event_ids(*files: Path) -> list[int]:
    """Event ids of every line of these files, in file order (a torn line fails json)."""
    return [json.loads(line)["event_id"] for f in files for line in f.read_text().splitlines()]


@pytest.mark.parametrize(
    ("when", "rotation", "backlog"),
    [
        ("after-fsync", None, [20_000] + [4_000] * 20),
        ("after-fsync", "rotated", [20_000] + [4_000] * 20),
        ("mid-write", None, [6_000] + [3_000] * 8),
        ("after-fsync", "rotated-and-deleted", [6_000] + [3_000] * 8),
    ],
)
def test_killed_writer_leaves_every_change_once(
    client, alice, db, database_url, settings, when, rotation, backlog
):
    """Killed between fsync and cursor commit (or mid-write), then the next pass: one line per
    change, in order; after a rotation the rotated file is cut back, never duplicated."""
    expected = make_backlog(db, alice.user_id, backlog)
    path, rotated = settings.log_file, settings.log_file.with_suffix(".1")

    kill_writer(database_url, path, when)

    cursor = db.execute("SELECT lines, pending_through FROM status_log_cursor").fetchone()
    done, torn_until = cursor["lines"], cursor["pending_through"]  # pages recorded; the torn one
    assert done > 0 and torn_until is not None
    if when == "after-fsync":  # the whole torn page is on disk, the database does not know it
        assert event_ids(path) == expected[: expected.index(torn_until) + 1]
    else:
        assert not path.read_text().endswith("\n")  # a torn last line
    if rotation:
        path.rename(rotated)
    if rotation == "rotated-and-deleted":
        rotated.unlink()

    started = time.monotonic()
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        written = write_pending(conn, path, Paging(lines=LINES, max_pages=1000))
    elapsed = time.monotonic() - started

    if rotation == "rotated":
        assert event_ids(rotated) == expected[:done]  # the torn page was cut off it
        assert event_ids(rotated, path) == expected
    elif rotation == "rotated-and-deleted":
        assert event_ids(path) == expected[done:]
    else:
        assert event_ids(path) == expected
    assert written == len(expected) - done
    print(f"{written} lines caught up in {elapsed:.1f} s ({written / elapsed:.0f} lines/s)")
    assert elapsed < 120  # thousands of lines per second, with room for a loaded machine
