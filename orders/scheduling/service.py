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

from orders.accounts.limits import NO_LIMITS, AccountLimits, ensure_order_quota
from orders.core import pagination as pages
from orders.core.clock import utc_now
from orders.core.errors import ApiError, Busy, NotFound
from orders.core.pagination import PageQuery
from orders.database import Database, Q
from orders.providers.service import check_provider
from orders.scheduling import jobs
from orders.scheduling.definition import DefinitionError, check_definition
from orders.scheduling.models import NewOrder, Order, OrderFilters, OrderHistory, OrderPage
from orders.scheduling.upcoming import store as upcoming


def schedule_order(
    db: Database,
    user_id: int,
    new: NewOrder,
    idempotency_key: str | None,
    limits: AccountLimits = NO_LIMITS,
) -> tuple[Order, bool]:
    """Create an order and defer its first run; (order, created). A replayed key creates nothing."""
    request_hash = hashlib.sha256(new.model_dump_json().encode()).hexdigest()
    fields = new.model_dump()
    fields["schedule_time"] = fields["schedule_time"] or datetime.now(UTC)
    fields, next_run_at = definition_of(fields, fields["schedule_time"], 0, limits)
    create = (user_id, fields, next_run_at, idempotency_key, request_hash, limits)
    try:
        return _create(db, *create)
    except UniqueViolation:  # a concurrent request with the same key won the race
        return _create(db, *create)


def definition_of(
    fields: dict[str, Any], anchor: datetime, done: int, limits: AccountLimits
) -> tuple[dict[str, Any], datetime]:
    """The definition as stored and its first run, or a 422 naming the field to change."""
    try:
        return check_definition(fields, anchor, done, limits.policy)
    except DefinitionError as exc:
        detail = {"field": exc.field, "message": exc.message, "type": "value_error"}
        raise ApiError(422, "validation_error", exc.message, [detail]) from None


def _create(
    db: Database,
    user_id: int,
    fields: dict[str, Any],
    next_run_at: datetime,
    key: str | None,
    request_hash: str,
    limits: AccountLimits,
) -> tuple[Order, bool]:
    with db.transaction(actor=f"user:{user_id}") as conn:
        if key and (replayed := _replay(conn, user_id, key, request_hash)):
            return replayed, False
        check_provider(conn, fields["provider_id"])
        ensure_order_quota(conn, user_id, limits)
        order_id = conn.execute(Q["order_reserve_id"]).fetchone()["order_id"]
        job_id = jobs.defer_execution(conn, order_id, user_id, fields["priority"], next_run_at)
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
        order = load_order(conn, user_id, order_id)
        upcoming.rewrite(conn, [order.model_dump()], utc_now(), limits.upcoming_hours, new=True)
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
    return load_order(conn, user_id, row["order_id"])


def load_order(conn, user_id: int | None, order_id: int, lock: bool = False) -> Order:
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
        return load_order(conn, user_id, order_id)


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
        load_order(conn, user_id, order_id)
        events = conn.execute(Q["order_events_page"], params).fetchall()
    more, events = len(events) > page.limit, events[: page.limit]
    cursor = None
    if more:
        cursor = pages.encode(after_at=events[-1]["occurred_at"], after_id=events[-1]["event_id"])
    return OrderHistory(order_id=order_id, events=events, next_cursor=cursor)
