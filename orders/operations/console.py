"""What operators look at and do, shared by the dashboard and the `orders` CLI.

Every read is bounded at any history size: counts come from rollups (orders.operations.rollups),
lists
have a LIMIT and walk an index, the timeline is keyset-paginated. Actions reuse the order
services with no owner (an operator may act on any order) and an `actor` for the audit trail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from orders.core import pagination as pages
from orders.core.errors import ApiError
from orders.core.pagination import PageQuery
from orders.database import Database, Q
from orders.operations import rollups
from orders.operations.metrics import BUCKETS
from orders.operations.models import (
    Downstream,
    FailedOrder,
    JobAttempt,
    Lateness,
    MailDashboard,
    OrderDetail,
    Overview,
    TableSize,
)
from orders.operations.retention import Retention, prune
from orders.scheduling import changes
from orders.scheduling import service as orders
from orders.scheduling.models import Order

PROBLEMS_SHOWN = 50
LIST_LIMIT = 50
ATTEMPTS_SHOWN = 50
MAIL_STATUSES = ("pending", "sent", "failed")
TIMELINE_JOBS = 50  # the timeline shows the Procrastinate events of the order's latest jobs
HISTORY_TABLES = [
    "order_events",
    "order_executions",
    "job_errors",
    "procrastinate_jobs",
    "procrastinate_events",
    "outbox",
    "provider_requests",
    "provider_digests",
    "orders",
]
TIMELINE_SOURCES = {"audit", "execution", "job", "job_error"}
TIMELINE_START = {
    "before_at": datetime.max.replace(tzinfo=UTC),
    "before_source": "~",  # sorts after every source name
    "before_id": 2**63 - 1,
}


def mail_dashboard(db: Database, primary: Database | None = None) -> MailDashboard:
    """Mail per kind and status (rollup), the oldest waiting, and the latest problems. `db`
    may be a replica; the rollups are folded on `primary` (default: `db`)."""
    rollups.fold(primary or db)
    with db.read() as conn:
        outbox = rollups.current(conn, ["outbox"])["outbox"]
        oldest = dict(conn.execute(Q["outbox_oldest_pending"]).fetchall())
        problems = conn.execute(Q["outbox_problems_list"], {"limit": PROBLEMS_SHOWN}).fetchall()
    return MailDashboard(counts=_mail_counts(outbox, oldest), problems=problems)


def _mail_counts(outbox: dict[str, dict], oldest: dict[str, datetime]) -> list[dict]:
    """Rollup labels `kind/status` as rows, pending before sent before failed; zeros left out."""
    rows = []
    for label, row in outbox.items():
        kind, status = label.split("/")
        if row["n"]:
            since = oldest.get(kind) if status == "pending" else None
            rows.append({"kind": kind, "status": status, "count": row["n"], "oldest": since})
    return sorted(rows, key=lambda r: (r["kind"], MAIL_STATUSES.index(r["status"])))


def downstream(db: Database, now: datetime) -> Downstream:
    """Webhook deliveries waiting, in flight and failed; circuits (open first); problems."""
    from orders.webhooks.circuits import list_circuits
    from orders.webhooks.service import problems, summary

    return Downstream(
        webhooks=summary(db, now),
        circuits=list_circuits(db, LIST_LIMIT),
        problems=problems(db, None, None, PROBLEMS_SHOWN),
    )


def overview(
    db: Database, now: datetime, hours: float, primary: Database | None = None
) -> Overview:
    """Everything the dashboard's main page shows, read on one connection of `db` (maybe a
    replica); the rollups are folded on `primary` (default: `db`) first."""
    since, limit = now - timedelta(hours=hours), {"limit": LIST_LIMIT}
    rollups.fold(primary or db)
    with db.read() as conn:
        statuses = rollups.current(conn, ["orders"])["orders"]
        window = rollups.grouped(conn.execute(Q["runs_since"], {"since": since}))
        return Overview(
            generated_at=now,
            window_hours=hours,
            orders=rollups.status_counts(statuses),
            queues=conn.execute(Q["queue_depth_list"]).fetchall(),
            lateness=_lateness(conn.execute(Q["order_lateness_now"]).fetchone(), window),
            workers=conn.execute(Q["worker_list_live"]).fetchall(),
            throughput=conn.execute(Q["runs_per_minute"], {"since": since, "now": now}).fetchall(),
            failed=_failed_orders(conn),
            recurring=conn.execute(Q["order_list_recurring_active"], limit).fetchall(),
            stuck=conn.execute(Q["order_list_stuck_view"], limit).fetchall(),
        )


def _lateness(now: dict, window: dict[str, dict[str, dict]]) -> Lateness:
    """Overdue/stuck now, and the window's runs with lateness percentiles from the histogram."""
    late = rollups.Histogram.of(window["run_lateness"], BUCKETS)
    runs = window["runs"]
    return Lateness(
        **now,
        runs=sum(r["n"] for r in runs.values()),
        failed=runs["failed"]["n"] if "failed" in runs else 0,
        p50=late.quantile(0.5),
        p95=late.quantile(0.95),
        max=late.peak,
    )


def _failed_orders(conn) -> list[FailedOrder]:
    """Failed orders, each with the error of every attempt of the job that failed."""
    failed = [FailedOrder(**r) for r in conn.execute(Q["order_list_failed"], {"limit": LIST_LIMIT})]
    params = {
        "order_ids": [f.order_id for f in failed],
        "job_ids": [f.job_id for f in failed],
        "per_order": ATTEMPTS_SHOWN,
    }
    attempts = conn.execute(Q["job_error_list_of_orders"], params).fetchall()
    for order in failed:
        order.history = [JobAttempt(**a) for a in attempts if a["order_id"] == order.order_id]
    return failed


def order_detail(db: Database, order_id: int, page: PageQuery | None = None) -> OrderDetail:
    """Any order (operators see all) with a page of its timeline, newest first."""
    page = page or PageQuery()
    before = TIMELINE_START
    if page.cursor:
        fields = {"before_at": datetime, "before_source": str, "before_id": int}
        before = pages.decode(page.cursor, fields)
        if before["before_source"] not in TIMELINE_SOURCES:
            raise ApiError(422, "invalid_cursor", "cursor is not one this API returned")
    order = orders.get_order(db, None, order_id)  # 404 before reading the timeline
    params = {"order_id": order_id, "limit": page.limit + 1, "jobs": TIMELINE_JOBS} | before
    with db.read() as conn:
        rows = conn.execute(Q["order_timeline_page"], params).fetchall()
    more, rows = len(rows) > page.limit, rows[: page.limit]
    cursor = None
    if more:
        last = rows[-1]
        cursor = pages.encode(
            before_at=last["at"], before_source=last["source"], before_id=last["entry_id"]
        )
    return OrderDetail(order=order, timeline=rows, next_cursor=cursor)


def table_sizes(db: Database) -> list[TableSize]:
    """Rows (estimated from the statistics, not counted) and bytes of each history table."""
    with db.read() as conn:
        rows = conn.execute(Q["table_size_estimates"], {"tables": HISTORY_TABLES}).fetchall()
    return [TableSize(**r) for r in rows]


def retry(db: Database, order_id: int, actor: str) -> Order:
    return changes.retry_order(db, None, order_id, actor=actor)


def cancel(db: Database, order_id: int, actor: str) -> Order:
    return changes.cancel_order(db, None, order_id, actor=actor)


def list_orders(db: Database, filters: dict) -> list[dict]:
    """Orders of every account (status, email, is_recurring, before_id, limit)."""
    with db.read() as conn:
        return conn.execute(Q["order_list_any"], filters).fetchall()


def failed_order_ids(db: Database) -> list[int]:
    with db.read() as conn:
        return [r["order_id"] for r in conn.execute(Q["order_ids_failed"])]


def requeue_failed(
    db: Database, ids: Iterable[int], actor: str, done: Callable[[int], None]
) -> int:
    """Retry each failed order in its own transaction; one that changed meanwhile is skipped."""
    requeued = 0
    for order_id in ids:
        try:
            retry(db, order_id, actor)
            requeued += 1
        except ApiError:
            pass  # retried, cancelled or deleted by someone else since the list was read
        done(1)
    return requeued


def prune_now(
    db: Database, now: datetime, retention: Retention, login_window: timedelta
) -> dict[str, int]:
    """What the maintenance tasks delete, now: history past retention (bounded batches),
    expired sessions, stale failed-login counters."""
    with db.pool.connection() as conn:  # prune() runs one short transaction per batch
        deleted = prune(conn, retention, now)
    with db.transaction() as conn:
        deleted["expired sessions"] = conn.execute(Q["auth_session_prune"], {"now": now}).rowcount
        deleted["login counters"] = conn.execute(
            Q["login_failure_prune"], {"now": now, "window": login_window}
        ).rowcount
    return deleted
