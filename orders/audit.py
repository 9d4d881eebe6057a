"""The order status log: one JSON line per status change, written only after the commit.

The audit table (order_events, filled by a trigger) is the source of truth; this file is a
copy for people and tools that read logs. Lines are taken from the events the transaction
itself wrote, so file and table never disagree about what changed. WatchedFileHandler
reopens the file when logrotate moves it away.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from logging.handlers import WatchedFileHandler
from pathlib import Path
from typing import Any

from orders.db import Q

log = logging.getLogger(__name__)
status_log = logging.getLogger("orders.status")
status_log.propagate = False  # these lines go to the file only


class StatusFileHandler(WatchedFileHandler):
    """A failed write (disk full, file gone read-only) is reported in the service's own error
    log, at most once a minute, instead of logging's traceback on every line."""

    REPORT_EVERY_SECONDS = 60.0
    _last_report = float("-inf")

    def handleError(self, record: logging.LogRecord) -> None:
        now = time.monotonic()
        if now - self._last_report >= self.REPORT_EVERY_SECONDS:
            self._last_report = now
            error = sys.exc_info()[1]
            log.error(
                "cannot write the status log %s (%s); order_events still records everything",
                self.baseFilename,
                error,
            )


def configure_status_log(path: Path) -> None:
    """Send status lines to `path`; if it cannot be opened, keep serving and say so."""
    for handler in list(status_log.handlers):
        status_log.removeHandler(handler)
        handler.close()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = StatusFileHandler(path, encoding="utf-8", delay=False)
    except OSError as exc:
        log.error(
            "status log %s is not writable (%s); order_events still records everything", path, exc
        )
        return
    handler.setFormatter(logging.Formatter("%(message)s"))
    status_log.addHandler(handler)
    status_log.setLevel(logging.INFO)


def transaction_events(conn, order_ids: list[int]) -> list[dict[str, Any]]:
    """The status events this transaction wrote for `order_ids` (call before it commits)."""
    return conn.execute(Q["order_events_of_transaction"], {"order_ids": order_ids}).fetchall()


def log_status_changes(events: list[dict[str, Any]]) -> None:
    """Append one JSON line per event; call only once the transaction has committed."""
    for event in events:
        status_log.info(json.dumps(line_of(event), separators=(",", ":")))


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
