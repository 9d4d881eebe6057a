"""What operators look at and do, shared by the dashboard and the `orders` CLI.

Read-only queries go straight to the views operators also use in psql; actions reuse the order
services with no owner (an operator may act on any order) and an `actor` for the audit trail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from orders.dashboard.models import (
    Downstream,
    FailedOrder,
    JobAttempt,
    Lateness,
    MailDashboard,
    OrderDetail,
    Overview,
)
from orders.db import Database, Q
from orders.errors import ApiError
from orders.orders import service as orders
from orders.orders.models import Order

PROBLEMS_SHOWN = 50
LIST_LIMIT = 50


def mail_dashboard(db: Database) -> MailDashboard:
    """Mail per kind and status, and the latest failed or retrying mail with its error."""
    with db.read() as conn:
        counts = conn.execute(Q["outbox_summary"]).fetchall()
        problems = conn.execute(Q["outbox_problems_list"], {"limit": PROBLEMS_SHOWN}).fetchall()
    return MailDashboard(counts=counts, problems=problems)


def downstream(db: Database, now: datetime) -> Downstream:
    """Webhook deliveries waiting, in flight and failed; circuits (open first); problems."""
    from orders.circuits import list_circuits
    from orders.webhooks.service import problems, summary

    return Downstream(
        webhooks=summary(db, now),
        circuits=list_circuits(db, LIST_LIMIT),
        problems=problems(db, None, None, PROBLEMS_SHOWN),
    )


def overview(db: Database, now: datetime, hours: float) -> Overview:
    """Everything the dashboard's main page shows, read on one connection."""
    since, limit = now - timedelta(hours=hours), {"limit": LIST_LIMIT}
    with db.read() as conn:
        lateness = (
            conn.execute(Q["order_lateness_now"]).fetchone()
            | conn.execute(Q["execution_lateness_since"], {"since": since}).fetchone()
        )
        return Overview(
            generated_at=now,
            window_hours=hours,
            orders=conn.execute(Q["order_count_by_status"]).fetchall(),
            queues=conn.execute(Q["queue_depth_list"]).fetchall(),
            lateness=Lateness(**lateness),
            workers=conn.execute(Q["worker_list_live"]).fetchall(),
            throughput=conn.execute(
                Q["execution_throughput_per_minute"], {"since": since, "now": now}
            ).fetchall(),
            failed=_failed_orders(conn),
            recurring=conn.execute(Q["order_list_recurring_active"], limit).fetchall(),
            stuck=conn.execute(Q["order_list_stuck_view"], limit).fetchall(),
        )


def _failed_orders(conn) -> list[FailedOrder]:
    """Failed orders, each with the error of every attempt of the job that failed."""
    failed = [FailedOrder(**r) for r in conn.execute(Q["order_list_failed"], {"limit": LIST_LIMIT})]
    job_ids = [f.job_id for f in failed if f.job_id is not None]
    attempts = conn.execute(Q["job_error_list_of_jobs"], {"job_ids": job_ids}).fetchall()
    for order in failed:
        order.history = [JobAttempt(**a) for a in attempts if a["job_id"] == order.job_id]
    return failed


def order_detail(db: Database, order_id: int) -> OrderDetail:
    """Any order (operators see all) with its full timeline."""
    order = orders.get_order(db, None, order_id)  # 404 before reading the timeline
    with db.read() as conn:
        timeline = conn.execute(Q["order_timeline_list"], {"order_id": order_id}).fetchall()
    return OrderDetail(order=order, timeline=timeline)


def retry(db: Database, order_id: int, actor: str) -> Order:
    return orders.retry_order(db, None, order_id, actor=actor)


def cancel(db: Database, order_id: int, actor: str) -> Order:
    return orders.cancel_order(db, None, order_id, actor=actor)


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


def prune(
    db: Database, now: datetime, retention_hours: int, login_window: timedelta
) -> dict[str, int]:
    """What the hourly maintenance tasks delete, now: finished jobs, expired sessions, stale
    failed-login counters."""
    with db.transaction() as conn:
        cutoff = now - timedelta(hours=retention_hours)
        jobs = conn.execute(Q["job_prune_finished"], {"cutoff": cutoff}).rowcount
        sessions = conn.execute(Q["auth_session_prune"], {"now": now}).rowcount
        logins = conn.execute(
            Q["login_failure_prune"], {"now": now, "window": login_window}
        ).rowcount
    return {"finished jobs": jobs, "expired sessions": sessions, "login counters": logins}
