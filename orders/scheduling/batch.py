"""POST /orders/batch: many orders in one transaction, all or nothing, at a small cost per order.

Each order is validated by the same model as POST /orders (`NewOrder`), so an item's errors
carry its index (`orders.3.cron`). The writes are set-based: ids are reserved with one
statement, every job is deferred with one (`batch_defer_jobs`), every row inserted with one.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from psycopg.errors import UniqueViolation
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from orders.accounts.limits import NO_LIMITS, AccountLimits, ensure_order_quota
from orders.core.errors import ApiError
from orders.database import Database, Q
from orders.scheduling import jobs
from orders.scheduling.definition import DefinitionError, check_definition
from orders.scheduling.models import NewOrder, Order
from orders.scheduling.upcoming import store as upcoming

COLUMNS = (  # order_insert_many takes one array per column
    "order_id",
    "order_name",
    "payload",
    "schedule_time",
    "is_recurring",
    "repeat_interval",
    "repeat_unit",
    "cron",
    "timezone",
    "max_executions",
    "next_run_at",
    "job_id",
    "provider_id",
    "priority",
    "missed_runs",
    "expires_after",
)


class NewOrderBatch(BaseModel):
    """POST /orders/batch: created all together or not at all."""

    model_config = ConfigDict(extra="forbid")

    orders: list[NewOrder] = Field(
        min_length=1,
        description="1 to ORDERS_BATCH_MAX_ORDERS orders (default 1,000), each as for POST "
        "/orders; an invalid one is named by its index (`orders.3.cron`) and nothing is created",
    )

    @field_validator("orders", mode="before")
    @classmethod
    def _not_too_many(cls, value: Any, info: ValidationInfo) -> Any:
        """Counted before any item is validated, so an oversized batch costs nothing."""
        limit = (info.context or {}).get("max_orders")
        if limit is not None and isinstance(value, list) and len(value) > limit:
            raise ValueError(f"at most {limit} orders per batch (got {len(value)})")
        return value


class OrderBatch(BaseModel):
    orders: list[Order] = Field(description="The orders, in the order they were sent")


def schedule_orders(
    db: Database,
    user_id: int,
    batch: NewOrderBatch,
    idempotency_key: str | None,
    max_order_bytes: int,
    limits: AccountLimits = NO_LIMITS,
) -> tuple[list[Order], bool]:
    """Create the orders and defer their first runs; (orders, created). A replayed key creates
    nothing and answers with the orders it created the first time."""
    request_hash = _hash(batch, max_order_bytes)
    create = (db, user_id, batch, idempotency_key, request_hash, limits)
    try:
        return _create(*create)
    except UniqueViolation:  # a concurrent request with the same key won the race
        return _create(*create)


def _hash(batch: NewOrderBatch, max_order_bytes: int) -> str:
    """The body's hash; each order is held to the size limit of a single POST /orders."""
    digest = hashlib.sha256()
    for index, new in enumerate(batch.orders):
        text = new.model_dump_json().encode()
        if len(text) > max_order_bytes:
            message = f"an order may take at most {max_order_bytes} bytes"
            detail = _detail(index, None, message, "too_large")
            raise ApiError(422, "validation_error", f"orders.{index}: {message}", [detail])
        digest.update(text + b"\n")
    return digest.hexdigest()


def _detail(index: int, field: str | None, message: str, kind: str) -> dict[str, str]:
    """An error detail naming one order of the batch by its index (and field)."""
    name = f"orders.{index}" + (f".{field}" if field else "")
    return {"field": name, "message": message, "type": kind}


def _create(
    db: Database,
    user_id: int,
    batch: NewOrderBatch,
    key: str | None,
    request_hash: str,
    limits: AccountLimits,
) -> tuple[list[Order], bool]:
    with db.transaction(actor=f"user:{user_id}") as conn:
        if key and (replayed := _replay(conn, user_id, key, request_hash)) is not None:
            return replayed, False
        now = datetime.now(UTC)
        rows = _definitions(batch, now, limits)
        _check_providers(conn, rows)
        ensure_order_quota(conn, user_id, limits, adding=len(rows))
        ids = [r["order_id"] for r in conn.execute(Q["order_reserve_ids"], {"count": len(rows)})]
        if key:  # first, so a concurrent twin waits here rather than after doing all the work
            remember = {"idempotency_key": key, "request_hash": request_hash, "order_ids": ids}
            conn.execute(Q["order_batch_insert"], remember | {"user_id": user_id})
        orders = _insert(conn, user_id, rows, ids)
        upcoming.rewrite(
            conn, [o.model_dump() for o in orders], now, limits.upcoming_hours, new=True
        )
        return orders, True


def _insert(conn, user_id: int, rows: list[dict[str, Any]], ids: list[int]) -> list[Order]:
    """Defer every job (one statement), then insert every order pointing at its job (one)."""
    runs = [(i, r["priority"], r["next_run_at"]) for i, r in zip(ids, rows, strict=True)]
    columns = _columns(rows, ids, jobs.defer_executions(conn, user_id, runs))
    created = conn.execute(Q["order_insert_many"], columns | {"user_id": user_id}).fetchall()
    by_id = {row["order_id"]: Order(**row) for row in created}
    return [by_id[order_id] for order_id in ids]


def _replay(conn, user_id: int, key: str, request_hash: str) -> list[Order] | None:
    row = conn.execute(
        Q["order_batch_get_by_idempotency_key"], {"user_id": user_id, "idempotency_key": key}
    ).fetchone()
    if row is None:
        return None
    if row["request_hash"] != request_hash:
        raise ApiError(
            422,
            "idempotency_key_reused",
            "this Idempotency-Key was already used with a different request body",
        )
    found = conn.execute(
        Q["order_list_by_ids"], {"order_ids": row["order_ids"], "user_id": user_id}
    )
    return [Order(**r) for r in found]


def _definitions(
    batch: NewOrderBatch, now: datetime, limits: AccountLimits
) -> list[dict[str, Any]]:
    """Each order's definition and first run, checked as POST /orders checks one; every
    order that cannot be is named."""
    rows, details = [], []
    for index, new in enumerate(batch.orders):
        fields = new.model_dump()
        fields["schedule_time"] = fields["schedule_time"] or now
        try:
            fields, next_run_at = check_definition(
                fields, fields["schedule_time"], 0, limits.policy
            )
        except DefinitionError as exc:
            details.append(_detail(index, exc.field, exc.message, "value_error"))
            continue
        rows.append(fields | {"next_run_at": next_run_at})
    if details:
        raise ApiError(422, "validation_error", f"{len(details)} orders are invalid", details)
    return rows


def _check_providers(conn, rows: list[dict[str, Any]]) -> None:
    """Every named provider must exist; one query for the whole batch."""
    named = sorted({r["provider_id"] for r in rows if r["provider_id"] is not None})
    if not named:
        return
    missing = {
        r["provider_id"] for r in conn.execute(Q["provider_list_missing"], {"provider_ids": named})
    }
    if missing:
        details = [
            _detail(i, "provider_id", "no such provider", "unknown_provider")
            for i, r in enumerate(rows)
            if r["provider_id"] in missing
        ]
        message = f"providers {sorted(missing)} do not exist"
        raise ApiError(422, "validation_error", message, details)


def _columns(rows: list[dict[str, Any]], ids: list[int], job_ids: list[int]) -> dict[str, list]:
    """The rows as one array per column, for order_insert_many."""
    values = {name: [r.get(name) for r in rows] for name in COLUMNS}
    values["payload"] = [Jsonb(r["payload"]) for r in rows]
    values["order_id"], values["job_id"] = ids, job_ids
    return values
