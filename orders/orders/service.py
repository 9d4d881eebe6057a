"""Order use cases. Each write is one transaction: order row, audit rows and job together."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from psycopg.errors import LockNotAvailable, UniqueViolation
from psycopg.types.json import Jsonb

from orders import pages
from orders.db import Database, Q
from orders.errors import ApiError, Busy, Conflict, NotFound
from orders.orders import jobs
from orders.orders.models import (
    NewOrder,
    Order,
    OrderFilters,
    OrderHistory,
    OrderPage,
    check_recurrence,
)
from orders.orders.schedule import recurrence_of
from orders.pages import PageQuery
from orders.providers.service import check_provider


def schedule_order(
    db: Database, user_id: int, new: NewOrder, idempotency_key: str | None
) -> tuple[Order, bool]:
    """Create an order and defer its first run; (order, created). A replayed key creates nothing."""
    request_hash = hashlib.sha256(new.model_dump_json().encode()).hexdigest()
    try:
        return _create(db, user_id, new, idempotency_key, request_hash)
    except UniqueViolation:  # a concurrent request with the same key won the race
        return _create(db, user_id, new, idempotency_key, request_hash)


def _create(
    db: Database, user_id: int, new: NewOrder, key: str | None, request_hash: str
) -> tuple[Order, bool]:
    with db.transaction(actor=f"user:{user_id}") as conn:
        if key and (replayed := _replay(conn, user_id, key, request_hash)):
            return replayed, False
        fields = new.model_dump()
        check_provider(conn, fields["provider_id"])
        fields["schedule_time"] = fields["schedule_time"] or datetime.now(UTC)
        next_run_at = _first_run(fields, fields["schedule_time"])
        order_id = conn.execute(Q["order_reserve_id"]).fetchone()["order_id"]
        job_id = jobs.defer_execution(conn, order_id, next_run_at)
        conn.execute(
            Q["order_insert"],
            {
                **fields,
                "payload": Jsonb(fields["payload"]),
                "order_id": order_id,
                "user_id": user_id,
                "next_run_at": next_run_at,
                "job_id": job_id,
                "idempotency_key": key,
                "request_hash": request_hash if key else None,
            },
        )
        order = _load(conn, user_id, order_id)
    return order, True


def _replay(conn, user_id: int, key: str, request_hash: str) -> Order | None:
    row = conn.execute(
        Q["order_get_by_idempotency_key"], {"user_id": user_id, "idempotency_key": key}
    ).fetchone()
    if row is None:
        return None
    if row["request_hash"] != request_hash:
        raise ApiError(
            422,
            "idempotency_key_reused",
            "this Idempotency-Key was already used with a different request body",
        )
    return _load(conn, user_id, row["order_id"])


def _first_run(fields: dict[str, Any], anchor: datetime) -> datetime:
    recurrence = recurrence_of(fields)
    return recurrence.first_at_or_after(anchor) if recurrence else anchor


def _load(conn, user_id: int | None, order_id: int, lock: bool = False) -> Order:
    """The order, if it is `user_id`'s (None: an operator, who may act on any order)."""
    try:
        row = conn.execute(
            Q["order_get_for_update" if lock else "order_get"],
            {"user_id": user_id, "order_id": order_id},
        ).fetchone()
    except LockNotAvailable:  # a worker is running it (or another change holds it): no waiting
        raise Busy("the order is executing right now", "order_executing") from None
    if row is None:
        raise NotFound("order")
    return Order(**row)


def get_order(db: Database, user_id: int | None, order_id: int) -> Order:
    with db.read() as conn:
        return _load(conn, user_id, order_id)


def list_orders(db: Database, user_id: int, filters: OrderFilters) -> OrderPage:
    params = {
        "user_id": user_id,
        "status": filters.status,
        "is_recurring": filters.is_recurring,
        "before_id": _decode_cursor(filters.cursor),
        "limit": filters.limit + 1,
    }
    with db.read() as conn:
        rows = conn.execute(Q["order_list"], params).fetchall()
    orders = [Order(**row) for row in rows[: filters.limit]]
    more = len(rows) > filters.limit
    return OrderPage(
        orders=orders, next_cursor=_encode_cursor(orders[-1].order_id) if more else None
    )


def _encode_cursor(order_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"before": order_id}).encode()).decode()


def _decode_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        before = json.loads(base64.urlsafe_b64decode(cursor.encode()))["before"]
    except (ValueError, TypeError, KeyError, binascii.Error):
        before = None
    if not isinstance(before, int) or isinstance(before, bool) or before < 1:
        raise ApiError(422, "invalid_cursor", "cursor is not one this API returned")
    return before


def order_history(
    db: Database, user_id: int | None, order_id: int, page: PageQuery | None = None
) -> OrderHistory:
    """A page of the order's audit trail, oldest first (keyset on occurred_at, event_id)."""
    page = page or PageQuery()
    after = {"after_at": datetime.min.replace(tzinfo=UTC), "after_id": 0}
    if page.cursor:
        after = pages.decode(page.cursor, {"after_at": datetime, "after_id": int})
    params = {"order_id": order_id, "limit": page.limit + 1} | after
    with db.read() as conn:
        _load(conn, user_id, order_id)
        events = conn.execute(Q["order_events_page"], params).fetchall()
    more, events = len(events) > page.limit, events[: page.limit]
    cursor = None
    if more:
        cursor = pages.encode(after_at=events[-1]["occurred_at"], after_id=events[-1]["event_id"])
    return OrderHistory(order_id=order_id, events=events, next_cursor=cursor)


def update_order(
    db: Database, user_id: int, order_id: int, changes: dict[str, Any], replace: bool
) -> Order:
    """Change name, schedule or recurrence: the pending job is swapped in the same transaction."""
    with db.transaction(actor=f"user:{user_id}") as conn:
        current = _load(conn, user_id, order_id, lock=True)
        _ensure_changeable(current)
        fields = _merge(current, changes, replace)
        check_provider(conn, fields["provider_id"])
        anchor = changes.get("schedule_time") or current.next_run_at
        fields["next_run_at"] = _first_run(fields, anchor)
        fields["schedule_time"] = changes.get("schedule_time") or current.schedule_time
        jobs.cancel_pending(conn, current.job_id)
        fields["job_id"] = jobs.defer_execution(conn, order_id, fields["next_run_at"])
        conn.execute(
            Q["order_update_definition"],
            {**fields, "payload": Jsonb(fields["payload"]), "order_id": order_id},
        )
        order = _load(conn, user_id, order_id)
    return order


def _ensure_changeable(order: Order) -> None:
    if order.status == "processing":
        raise Busy("the order is executing right now", "order_executing")
    if order.status != "scheduled":
        raise Conflict(f"the order is {order.status} and can no longer change", "order_finished")


def _merge(current: Order, changes: dict[str, Any], replace: bool) -> dict[str, Any]:
    """The order's definition after the change; PATCH clears fields the change makes moot."""
    fields = current.model_dump() if not replace else {}
    if not replace:
        if changes.get("is_recurring") is False or "cron" in changes:
            fields |= {"repeat_interval": None, "repeat_unit": None}
        if changes.get("is_recurring") is False or {"repeat_interval", "repeat_unit"} & set(
            changes
        ):
            fields |= {"cron": None, "timezone": None}
        if changes.get("is_recurring") is False:
            fields["max_executions"] = None
    fields |= changes
    try:
        check_recurrence(fields)
    except ValueError as exc:
        raise ApiError(422, "validation_error", str(exc)) from None
    _check_max_executions(fields, current.executions_count)
    return fields


def _check_max_executions(fields: dict[str, Any], done: int) -> None:
    if fields.get("max_executions") is not None and fields["max_executions"] <= done:
        raise ApiError(
            422,
            "validation_error",
            f"max_executions must be greater than the {done} executions already done "
            "(cancel the order to stop it)",
        )


def cancel_order(
    db: Database, user_id: int | None, order_id: int, actor: str | None = None
) -> Order:
    """Cancel an order (scheduled, or failed: dismissed) and its pending job; twice is harmless."""
    with db.transaction(actor=actor or f"user:{user_id}") as conn:
        current = _load(conn, user_id, order_id, lock=True)
        if current.status == "cancelled":
            return current
        if current.status != "failed":  # a failed order may be dismissed instead of retried
            _ensure_changeable(current)
        jobs.cancel_pending(conn, current.job_id)
        conn.execute(Q["order_cancel"], {"order_id": order_id})
        return _load(conn, user_id, order_id)


def retry_order(
    db: Database, user_id: int | None, order_id: int, actor: str | None = None
) -> Order:
    """Put a failed order back in the queue, due now, with a fresh job."""
    with db.transaction(actor=actor or f"user:{user_id}") as conn:
        current = _load(conn, user_id, order_id, lock=True)
        if current.status != "failed":
            raise Conflict(
                f"only failed orders can be retried; this one is {current.status}",
                "order_not_failed",
            )
        now = datetime.now(UTC)
        job_id = jobs.defer_execution(conn, order_id, now)
        conn.execute(Q["order_retry_failed"], {"order_id": order_id, "job_id": job_id, "now": now})
        return _load(conn, user_id, order_id)
