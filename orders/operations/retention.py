"""History kept on purpose: each history table has a retention, applied in bounded batches.

Every batch is one short transaction that examines the next rows of a table in primary-key
(= age) order, deletes those past retention that may go, and records where it stopped
(retention_progress). A run does at most `max_batches` batches per table and the next run
continues from there, so a run's cost is bounded and rows that must stay (pending mail, errors
of an order still failed, audit events the status log has not written) never block the rows
behind them. Rollup counters are kept by triggers when rows are written, so pruning never
moves a counter backwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from psycopg import Connection

from orders.database import Q, Timeouts, begin
from orders.settings import Settings

# Order matters: requests before the digests and mail they point to.
TABLES = (
    "provider_requests",
    "provider_digests",
    "outbox",
    "order_events",
    "order_executions",
    "job_errors",
    "procrastinate_jobs",
)
ACTOR = "maintenance:prune_history"
ROLLUP_MINUTES_KEPT = timedelta(days=7)  # twice the dashboard's longest window, and then some
TIMEOUTS = Timeouts(statement=60, lock=5, idle_in_transaction=60)


# History an operator has no reason to keep longer or shorter than this (the audit trail and
# run history are settings: legal retention and disk). Finished jobs only feed the timeline.
FIXED_RETENTION_DAYS = {
    "job_errors": 90,
    "outbox": 30,
    "provider_requests": 400,
    "provider_digests": 400,
}
FINISHED_JOB_RETENTION = timedelta(hours=168)


@dataclass(frozen=True)
class Retention:
    """How long each history table keeps its rows (None: forever), and the size of the work."""

    keep: dict[str, timedelta | None]
    batch: int = 2000
    max_batches: int = 50

    @classmethod
    def from_settings(cls, settings: Settings) -> Retention:
        days = {
            "order_events": settings.audit_retention_days,
            "order_executions": settings.execution_retention_days,
        } | FIXED_RETENTION_DAYS
        keep = {t: timedelta(days=d) if d else None for t, d in days.items()}
        keep["procrastinate_jobs"] = FINISHED_JOB_RETENTION
        return cls(keep)


def prune(conn: Connection, retention: Retention, now: datetime) -> dict[str, int]:
    """One pruning run (a connection outside any transaction, dict rows): rows deleted per table."""
    deleted = {}
    for table in TABLES:
        keep = retention.keep.get(table)
        if keep is not None:
            deleted[table] = prune_table(conn, table, now - keep, retention)
    with conn.transaction():
        begin(conn, TIMEOUTS, ACTOR)
        cutoff = now - ROLLUP_MINUTES_KEPT
        deleted["rollup_minutes"] = conn.execute(
            Q["prune_rollup_minutes"], {"cutoff": cutoff}
        ).rowcount
    return deleted


def prune_table(conn: Connection, table: str, cutoff: datetime, retention: Retention) -> int:
    """Up to `max_batches` batches of one table, from where the last run stopped."""
    total = 0
    for _ in range(retention.max_batches):
        with conn.transaction():
            begin(conn, TIMEOUTS, ACTOR)
            after = conn.execute(Q["retention_position"], {"table": table}).fetchone()["position"]
            params = {"after": after, "batch": retention.batch, "cutoff": cutoff}
            row = conn.execute(Q[f"prune_{table}"], params).fetchone()
            position = 0 if row["reached_end"] else row["last_id"]
            advance = {"table": table, "position": position, "deleted": row["deleted"]}
            conn.execute(Q["retention_advance"], advance)
        total += row["deleted"]
        if row["reached_end"]:
            break
    return total
