"""Changing an order: update (and convert one-time <-> recurring), cancel, retry.

Each change locks the order, checks it may change, and writes the order, its audit row (by
trigger) and its job in one transaction."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from psycopg.types.json import Jsonb

from orders.accounts.limits import NO_LIMITS, AccountLimits, ensure_order_quota
from orders.core.clock import utc_now
from orders.core.errors import Busy, Conflict
from orders.database import Database, Q
from orders.providers.service import check_provider
from orders.scheduling import jobs
from orders.scheduling.definition import SCHEDULE_FIELDS
from orders.scheduling.models import Order
from orders.scheduling.service import definition_of, load_order
from orders.scheduling.upcoming import store as upcoming


def update_order(
    db: Database,
    user_id: int,
    order_id: int,
    changes: dict[str, Any],
    replace: bool,
    limits: AccountLimits = NO_LIMITS,
) -> Order:
    """Change name, schedule or recurrence: the pending job is swapped in the same transaction.
    The merged definition passes the same checks as a new order's."""
    with db.transaction(actor=f"user:{user_id}") as conn:
        current = load_order(conn, user_id, order_id, lock=True)
        _ensure_changeable(current)
        fields = _redefine(current, changes, replace, limits)
        check_provider(conn, fields["provider_id"])
        jobs.cancel_pending(conn, current.job_id)
        fields["job_id"] = jobs.defer_execution(
            conn, order_id, current.user_id, fields["priority"], fields["next_run_at"]
        )
        conn.execute(
            Q["order_update_definition"],
            {**fields, "payload": Jsonb(fields["payload"]), "order_id": order_id},
        )
        order = load_order(conn, user_id, order_id)
        upcoming.rewrite(conn, [order.model_dump()], utc_now(), limits.upcoming_hours)
    return order


def _ensure_changeable(order: Order) -> None:
    if order.status == "processing":
        raise Busy("the order is executing right now", "order_executing")
    if order.status != "scheduled":
        raise Conflict(f"the order is {order.status} and can no longer change", "order_finished")


def _merge(current: Order, changes: dict[str, Any], replace: bool) -> dict[str, Any]:
    """The order's definition after the change; PATCH clears fields the change makes moot
    (a new cron replaces an interval and back; one-time orders have no recurrence)."""
    if replace:
        return dict(changes)
    fields = current.model_dump()
    if changes.get("is_recurring") is False:
        fields |= dict.fromkeys(("repeat_interval", "repeat_unit", "cron", "timezone"))
        fields["max_executions"] = None
    if changes.get("is_recurring") is True:
        fields["expires_after"] = None
    if "cron" in changes:
        fields |= {"repeat_interval": None, "repeat_unit": None}
    if {"repeat_interval", "repeat_unit"} & set(changes):
        fields["cron"] = None
    return fields | changes


def _redefine(
    current: Order, changes: dict[str, Any], replace: bool, limits: AccountLimits
) -> dict[str, Any]:
    """The checked definition after the change, with its next run. A new schedule is anchored
    at its first run; an unchanged one keeps its anchor and is not held to a floor raised
    since it was made."""
    fields = _merge(current, changes, replace)
    anchor = changes.get("schedule_time") or current.next_run_at
    rescheduled = bool(changes.get("schedule_time")) or _schedule_changes(current, fields)
    fields["schedule_time"] = anchor if rescheduled else current.schedule_time
    done, limits = current.executions_count, limits if rescheduled else NO_LIMITS
    fields, next_run_at = definition_of(fields, anchor, done, limits)
    return fields | {"next_run_at": next_run_at}


def _schedule_changes(current: Order, fields: dict[str, Any]) -> bool:
    return any(getattr(current, name) != fields.get(name) for name in SCHEDULE_FIELDS)


def cancel_order(
    db: Database, user_id: int | None, order_id: int, actor: str | None = None
) -> Order:
    """Cancel an order (scheduled, or failed: dismissed) and its pending job; twice is harmless."""
    with db.transaction(actor=actor or f"user:{user_id}") as conn:
        current = load_order(conn, user_id, order_id, lock=True)
        if current.status == "cancelled":
            return current
        if current.status != "failed":  # a failed order may be dismissed instead of retried
            _ensure_changeable(current)
        jobs.cancel_pending(conn, current.job_id)
        conn.execute(Q["order_cancel"], {"order_id": order_id})
        upcoming.forget(conn, [order_id])
        return load_order(conn, user_id, order_id)


def retry_order(
    db: Database,
    user_id: int | None,
    order_id: int,
    actor: str | None = None,
    limits: AccountLimits = NO_LIMITS,
) -> Order:
    """Put a failed order back in the queue, due now, with a fresh job."""
    with db.transaction(actor=actor or f"user:{user_id}") as conn:
        current = load_order(conn, user_id, order_id, lock=True)
        if current.status != "failed":
            raise Conflict(
                f"only failed orders can be retried; this one is {current.status}",
                "order_not_failed",
            )
        if user_id is not None:  # a customer's retry counts against the quota again
            ensure_order_quota(conn, user_id, limits)
        now = datetime.now(UTC)
        job_id = jobs.defer_execution(conn, order_id, current.user_id, current.priority, now)
        conn.execute(Q["order_retry_failed"], {"order_id": order_id, "job_id": job_id, "now": now})
        order = load_order(conn, user_id, order_id)
        upcoming.rewrite(conn, [order.model_dump()], now, limits.upcoming_hours)
        return order
