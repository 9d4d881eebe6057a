"""An upgrade on a live system: `orders db migrate` applies a release's migrations (an
expand-only column and an index built CONCURRENTLY on order_events) while the API takes
orders and workers run them. Audited writes never wait for the index build."""

from __future__ import annotations

import json
import shutil
import threading
import time
import urllib.request

import pytest

from orders.database.migrate import SQL_DIR, migrate
from tests.browser import serve
from tests.helpers import in_
from tests.workers import wait_until

# An index whose build takes seconds on a few thousand events (1 ms per row): long enough to
# see whether writes to order_events wait for it.
SLOW_KEY = """CREATE FUNCTION slow_key(bigint) RETURNS bigint LANGUAGE plpgsql IMMUTABLE AS
              $$ BEGIN PERFORM pg_sleep(0.001); RETURN $1; END $$"""
RELEASE = {
    "9990_orders_note.sql": "-- expand: a nullable column, unknown to the running code\n"
    "ALTER TABLE orders ADD COLUMN note text;",
    "9991_events_slow.concurrent.sql": "CREATE INDEX CONCURRENTLY IF NOT EXISTS "
    "order_events_slow_idx ON order_events ((slow_key(event_id)));",
}


class Traffic(threading.Thread):
    """A client creating orders due now over HTTP; records (started, finished, status)."""

    def __init__(self, base: str, token: str):
        super().__init__(daemon=True)
        self.base, self.token = base, token
        self.stop, self.calls = threading.Event(), []

    def run(self) -> None:
        while not self.stop.is_set():
            body = json.dumps({"order_name": "tea", "schedule_time": in_(0)}).encode()
            request = urllib.request.Request(
                f"{self.base}/orders",
                data=body,
                method="POST",
                headers={
                    "Authorization": f"Bearer {self.token}",
                    "Content-Type": "application/json",
                },
            )
            started = time.monotonic()
            with urllib.request.urlopen(request, timeout=60) as response:
                self.calls.append((started, time.monotonic(), response.status))


@pytest.mark.slow
def test_migrate_while_api_and_workers_run(app, alice, workers, database_url, db, tmp_path):
    """Writes and runs go on during the index build; every order accepted then runs once."""
    db.execute(SLOW_KEY)
    db.execute(
        "INSERT INTO orders (user_id, order_name, schedule_time, status) "
        "SELECT %s, 'old', now(), 'completed' FROM generate_series(1, 3000)",
        (alice.user_id,),
    )
    folder = tmp_path / "sql"
    shutil.copytree(SQL_DIR, folder)
    for name, text in RELEASE.items():
        (folder / name).write_text(text)
    for name in ("w1", "w2"):
        workers.start(name, concurrency=4)

    with serve(app) as base:
        traffic = [Traffic(base, alice.access) for _ in range(2)]
        for t in traffic:
            t.start()
        time.sleep(1)  # the traffic is flowing before the upgrade starts
        started = time.monotonic()
        applied = migrate(database_url, folder)
        finished = time.monotonic()
        for t in traffic:
            t.stop.set()
        for t in traffic:
            t.join(timeout=60)

    calls = [c for t in traffic for c in t.calls]
    during = [c for c in calls if c[0] < finished and c[1] > started]
    slowest = max(end - begin for begin, end, _ in during)
    assert applied == list(RELEASE)
    assert finished - started > 2.5  # the build took a while...
    assert len(during) >= 10 and {status for *_, status in during} == {201}
    assert slowest < (finished - started) / 2, (slowest, finished - started)  # ...nobody waited
    index = "SELECT indisvalid FROM pg_index WHERE indexrelid = 'order_events_slow_idx'::regclass"
    assert db.execute(index).fetchone()["indisvalid"]
    wait_until(
        database_url,
        "SELECT count(*) FILTER (WHERE status <> 'completed') AS left, "
        "count(*) FILTER (WHERE e.runs <> 1) AS wrong FROM orders o "
        "LEFT JOIN (SELECT order_id, count(*) AS runs FROM order_executions GROUP BY 1) e "
        "USING (order_id) WHERE o.order_name = 'tea'",
        lambda rows: rows[0]["left"] == 0,
        timeout=120,
    )
    ran = db.execute(
        "SELECT count(*) AS n FROM order_executions e JOIN orders o USING (order_id) "
        "WHERE o.order_name = 'tea' GROUP BY e.order_id HAVING count(*) <> 1"
    ).fetchall()
    assert ran == []  # each accepted order ran exactly once
