"""The order status log: one JSON line per status change, in ORDERS_LOG_FILE.

order_events (written by a trigger) is the source of truth; this file is its copy for people
and tools that read logs. Workers write it, one at a time (an advisory lock), every
ORDERS_STATUS_LOG_SECONDS: each pass appends the events of the transactions that finished
since the previous pass (judged by the snapshot's xmin horizon, so a transaction that commits
late is never skipped), fsyncs, then records the new horizon in the same transaction. If a
writer dies between the fsync and the commit, the next pass finds those events at the end of
the file and does not write them again. The file is opened per pass, so rotation is safe.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import psycopg

from orders.db import Q

log = logging.getLogger(__name__)
LOCK_KEY = 0x0_0DE5_0002  # arbitrary, constant: "orders status log"
TAIL_BYTES = 4 << 20  # how far back a pass looks for lines a killed writer already wrote
EVENT_ID = b'"event_id":'


def write_pending(conn: psycopg.Connection, path: Path) -> int:
    """One pass (call with an autocommit-off connection): lines written, or 0 if another writer
    holds the lock. Raises OSError when the file cannot be written; the horizon then stays."""
    with conn.transaction():
        if not conn.execute(Q["status_log_lock"], {"key": LOCK_KEY}).fetchone()["locked"]:
            return 0
        cursor = conn.execute(Q["status_log_cursor_get"]).fetchone()
        span = {"from": cursor["horizon"], "to": cursor["next_horizon"]}
        events = conn.execute(Q["status_log_events_between"], span).fetchall()
        already = _tail_ids(path) if events else set()
        written = _append(path, [e for e in events if e["event_id"] not in already])
        conn.execute(Q["status_log_cursor_advance"], {"horizon": span["to"], "lines": written})
    return written


def _append(path: Path, events: list[dict[str, Any]]) -> int:
    if not events:
        return 0
    data = "".join(json.dumps(line_of(e), separators=(",", ":")) + "\n" for e in events)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())  # on disk before the horizon moves past these events
    return len(events)


def _tail_ids(path: Path) -> set[int]:
    """Event ids in the last TAIL_BYTES of the file (a killed writer's lines end up there)."""
    try:
        with open(path, "rb") as file:
            file.seek(max(0, file.seek(0, os.SEEK_END) - TAIL_BYTES))
            tail = file.read(TAIL_BYTES)  # bounded: a device like /dev/full never ends
    except FileNotFoundError:
        return set()
    ids = set()
    for line in tail.splitlines():
        start = line.find(EVENT_ID)
        if start >= 0:
            digits = line[start + len(EVENT_ID) :].split(b",", 1)[0]
            if digits.isdigit():
                ids.add(int(digits))
    return ids


def line_of(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "timestamp": event["occurred_at"].isoformat(),
        "event_id": event["event_id"],
        "order_id": event["order_id"],
        "user_id": event["user_id"],
        "job_id": event["job_id"],
        "from": event["from_status"],
        "to": event["to_status"],
        "executions_count": event["executions_count"],
        "actor": event["actor"],
        **({"reason": event["details"]["reason"]} if "reason" in event["details"] else {}),
    }


class Writer:
    """A worker's status-log writer: its own connection, errors reported once a minute."""

    REPORT_EVERY_SECONDS = 60.0

    def __init__(self, url: str, path: Path, every: float = 1.0):
        self.url, self.path, self.every = url, path, every
        self.conn: psycopg.Connection | None = None
        self._last_report = float("-inf")

    def run_once(self) -> int:
        try:
            if self.conn is None or self.conn.closed:
                self.conn = psycopg.connect(
                    self.url, autocommit=True, row_factory=psycopg.rows.dict_row
                )
            return write_pending(self.conn, self.path)
        except (OSError, psycopg.Error) as exc:
            self._report(exc)
            if isinstance(exc, psycopg.OperationalError) and self.conn is not None:
                self.conn.close()
            return 0

    def _report(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._last_report >= self.REPORT_EVERY_SECONDS:
            self._last_report = now
            log.error(
                "cannot write the status log %s (%s); order_events keeps every change and the "
                "log catches up once it can",
                self.path,
                exc,
            )

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
