"""The order status log: one JSON line per status change, in ORDERS_LOG_FILE, exactly once.

order_events (written by a trigger) is the source of truth; this file is its copy for people
and tools that read logs. Workers write it, one at a time (an advisory lock held for a pass).

Which events: a *span* is a range of transaction ids [horizon, span_to) below the snapshot's
xmin horizon: every transaction in it has finished, so its events are final, whatever order
they committed in (event ids do not follow commit order). Spans are cut to hold at most
`lines` events (or one transaction alone), and written in *pages* of at most `lines` events,
in event-id order: memory and the size of a write are bounded for any backlog.

Exactly once, also when killed: before writing a page the writer commits (durably) which
events the page holds and the file's identity (device, inode) and size where it starts; then
it writes, fsyncs and commits that the page is done. If it dies in between, the next writer
finds the page pending, cuts the file it was written to back to that size (whatever part of
the page got there goes), and writes the page again. If that file was rotated since (renamed
in the same directory), the renamed file is cut; if it is gone (deleted, compressed), nothing
can be cut and the page goes to the current file. A file rotated with copytruncate (same
inode, now smaller) is left alone: use rename rotation.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import psycopg

from orders.database import Q

log = logging.getLogger(__name__)
LOCK_KEY = 0x0_0DE5_0002  # arbitrary, constant: "orders status log"
NO_BOUND = 2**63 - 1


@dataclass(frozen=True)
class Paging:
    """At most `lines` events per page (memory, size of a write), `max_pages` pages per pass."""

    lines: int = 5000
    max_pages: int = 20


def write_pending(conn: psycopg.Connection, path: Path, paging: Paging = Paging()) -> int:
    """One pass (autocommit connection, dict rows): lines written, 0 if another writer holds the
    lock. Raises OSError when the file cannot be written; the page then stays pending."""
    if not conn.execute(Q["status_log_lock"], {"key": LOCK_KEY}).fetchone()["locked"]:
        return 0
    try:
        written = 0
        for _ in range(paging.max_pages):
            lines = _one_page(conn, path, paging.lines)
            if lines is None:
                break
            written += lines
        return written
    finally:
        conn.execute(Q["status_log_unlock"], {"key": LOCK_KEY})


def _one_page(conn: psycopg.Connection, path: Path, lines: int) -> int | None:
    """Write the next page; its line count, or None when the log has caught up."""
    with conn.transaction():
        cursor = conn.execute(Q["status_log_cursor_get"]).fetchone()
        if cursor["pending_through"] is not None:
            _cut_crashed_page(path, cursor)
        span_to = cursor["span_to"] or _new_span(conn, cursor, lines)
        if span_to is None:
            conn.execute(Q["status_log_idle"])
            return None
        page = _events(conn, cursor, span_to, lines)
        if not page:
            conn.execute(Q["status_log_span_done"], {"horizon": span_to})
            return 0
        file = _open(path)
        _record_pending(conn, cursor, span_to, page[-1]["event_id"], file)
    with file:  # the pending page is committed: now write it
        size = _append(file, page)
    with conn.transaction():
        conn.execute(Q["status_log_page_done"], {"size": size, "lines": len(page)})
        if len(page) < lines and cursor["pending_through"] is None:
            conn.execute(Q["status_log_span_done"], {"horizon": span_to})
    return len(page)


def _new_span(conn: psycopg.Connection, cursor: dict, lines: int) -> str | None:
    """The next span from the horizon: at most `lines` events, or one transaction alone."""
    start, horizon = cursor["horizon"], cursor["next_horizon"]
    if start == horizon:
        return None
    params = {"from": start, "to": horizon, "lines": lines}
    end = conn.execute(Q["status_log_span_end"], params).fetchone()["span_to"]
    if end == start:  # one transaction with more than `lines` events
        end = conn.execute(Q["status_log_next_txid"], {"from": start}).fetchone()["span_to"]
    return end


def _events(conn: psycopg.Connection, cursor: dict, span_to: str, lines: int) -> list[dict]:
    """The page after after_event_id (a pending page: exactly the events it held)."""
    through = cursor["pending_through"] or NO_BOUND
    single = int(span_to) == int(cursor["horizon"]) + 1
    params = {
        "from": cursor["horizon"],
        "to": span_to,
        "after": cursor["after_event_id"],
        "through": through,
        "lines": lines,
    }
    query = "status_log_page_of_txid" if single else "status_log_page_of_span"
    return conn.execute(Q[query], params).fetchall()


def _open(path: Path) -> BinaryIO:
    path.parent.mkdir(parents=True, exist_ok=True)
    created = not path.exists()
    file = open(path, "ab")  # noqa: SIM115 - closed by the caller once the page is written
    if created:  # the new file's name must survive a crash too
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    return file


def _record_pending(conn, cursor: dict, span_to: str, through: int, file: BinaryIO) -> None:
    info = os.fstat(file.fileno())
    conn.execute(Q["status_log_durable"])
    conn.execute(
        Q["status_log_page_pending"],
        {
            "span_to": span_to,
            "after": cursor["after_event_id"],
            "through": through,
            "dev": info.st_dev,
            "ino": info.st_ino,
            "size": info.st_size,
        },
    )


def _append(file: BinaryIO, events: list[dict[str, Any]]) -> int:
    """Write the lines, flush and fsync; the file's size after them."""
    data = "".join(json.dumps(line_of(e), separators=(",", ":")) + "\n" for e in events)
    file.write(data.encode())
    file.flush()
    os.fsync(file.fileno())  # on disk before the page is recorded as done
    return os.fstat(file.fileno()).st_size


def _cut_crashed_page(path: Path, cursor: dict) -> None:
    """A writer died while writing a page: cut what it wrote from the file it wrote to."""
    found = _find_file(path, int(cursor["file_dev"]), int(cursor["file_ino"]))
    if found is None:
        log.warning("status log: the file of an unfinished page is gone; rewriting the page")
        return
    if os.stat(found).st_size >= cursor["file_size"]:
        os.truncate(found, cursor["file_size"])
        log.warning(
            "status log: cut %s to %d bytes (an unfinished page)", found, cursor["file_size"]
        )


def _find_file(path: Path, dev: int, ino: int) -> Path | None:
    """The regular file with this identity: `path` itself, or a rotated name beside it."""
    candidates = [path]
    if path.parent.is_dir():
        candidates += [Path(e.path) for e in os.scandir(path.parent)]
    for candidate in candidates:
        try:
            info = os.stat(candidate, follow_symlinks=False)
        except FileNotFoundError:
            continue
        if stat.S_ISREG(info.st_mode) and (info.st_dev, info.st_ino) == (dev, ino):
            return candidate
    return None


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

    def __init__(self, url: str, path: Path, every: float = 1.0, paging: Paging = Paging()):
        self.url, self.path, self.every, self.paging = url, path, every, paging
        self.conn: psycopg.Connection | None = None
        self._last_report = float("-inf")

    def run_once(self) -> int:
        try:
            if self.conn is None or self.conn.closed:
                self.conn = psycopg.connect(
                    self.url, autocommit=True, row_factory=psycopg.rows.dict_row
                )
            return write_pending(self.conn, self.path, self.paging)
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
