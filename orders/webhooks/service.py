"""Webhook use cases: endpoints (create, list, change, delete, rotate the secret, ping) and
their deliveries (list, detail with every attempt, redeliver). Events themselves are written
by triggers (sql/0041) in the transaction of the change that causes them, never here."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from orders.core.errors import ApiError, Conflict, NotFound
from orders.database import Database, Q
from orders.webhooks.models import (
    Attempt,
    Delivery,
    DeliveryDetail,
    DeliveryFilters,
    DeliveryPage,
    NewWebhook,
    Rotation,
    Webhook,
    WebhookList,
    WebhookPatch,
    WebhookWithSecret,
)
from orders.webhooks.safety import destination_of, refusal, resolve_now


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def check_destination(url: str, allow_private: bool) -> str:
    """host:port of `url`, refused (422) if its host resolves to a non-public address."""
    destination = destination_of(url)
    if allow_private:
        return destination
    try:
        addresses = resolve_now(url)
    except (OSError, UnicodeError) as exc:
        raise _url_error("unresolvable_destination", f"url host does not resolve: {exc}") from None
    for ip in addresses:
        if reason := refusal(ip):
            raise _url_error("refused_destination", f"webhooks may not target {reason}")
    return destination


def _url_error(code: str, message: str) -> ApiError:
    return ApiError(422, code, message, [{"field": "url", "message": message, "type": code}])


def create_webhook(
    db: Database, user_id: int, new: NewWebhook, allow_private: bool, max_endpoints: int
) -> WebhookWithSecret:
    params = new.model_dump() | {
        "user_id": user_id,
        "destination": check_destination(new.url, allow_private),
        "secret": new_secret(),
        "max_endpoints": max_endpoints,
    }
    with db.transaction(actor=f"user:{user_id}") as conn:
        row = conn.execute(Q["webhook_endpoint_insert"], params).fetchone()
    if row is None:
        raise Conflict(f"an account may have at most {max_endpoints} webhooks", "too_many_webhooks")
    return WebhookWithSecret(**row, secret_hint=row["secret"][-4:])


def list_webhooks(db: Database, user_id: int) -> WebhookList:
    with db.read() as conn:
        rows = conn.execute(Q["webhook_endpoint_list"], {"user_id": user_id}).fetchall()
    return WebhookList(webhooks=[Webhook.from_row(r) for r in rows])


def _locked(conn, user_id: int | None, endpoint_id: int) -> dict[str, Any]:
    params = {"user_id": user_id, "endpoint_id": endpoint_id}
    row = conn.execute(Q["webhook_endpoint_get_for_update"], params).fetchone()
    if row is None:
        raise NotFound("webhook")
    return row


def get_webhook(db: Database, user_id: int, endpoint_id: int) -> Webhook:
    with db.read() as conn:
        return Webhook.from_row(_locked(conn, user_id, endpoint_id))


def update_webhook(
    db: Database, user_id: int, endpoint_id: int, patch: WebhookPatch, allow_private: bool
) -> Webhook:
    changes = patch.model_dump(exclude_unset=True, exclude_none=True)
    if "url" in changes:
        changes["destination"] = check_destination(changes["url"], allow_private)
    with db.transaction(actor=f"user:{user_id}") as conn:
        current = _locked(conn, user_id, endpoint_id)
        params = current | changes | {"now": datetime.now(UTC)}
        row = conn.execute(Q["webhook_endpoint_update"], params).fetchone()
    return Webhook.from_row(row)


def delete_webhook(db: Database, user_id: int, endpoint_id: int) -> Webhook:
    """Gone for the customer; its record stays, its waiting deliveries are cancelled."""
    with db.transaction(actor=f"user:{user_id}") as conn:
        _locked(conn, user_id, endpoint_id)
        params = {"endpoint_id": endpoint_id, "now": datetime.now(UTC)}
        return Webhook.from_row(conn.execute(Q["webhook_endpoint_delete"], params).fetchone())


def rotate_secret(
    db: Database, user_id: int, endpoint_id: int, rotation: Rotation
) -> WebhookWithSecret:
    now = datetime.now(UTC)
    keep = timedelta(hours=rotation.previous_valid_hours)
    params = {
        "endpoint_id": endpoint_id,
        "secret": new_secret(),
        "previous_until": now + keep if keep else None,
        "now": now,
    }
    with db.transaction(actor=f"user:{user_id}") as conn:
        _locked(conn, user_id, endpoint_id)
        row = conn.execute(Q["webhook_endpoint_rotate"], params).fetchone()
    return WebhookWithSecret(**row, secret_hint=row["secret"][-4:])


def ping(db: Database, user_id: int, endpoint_id: int) -> Delivery:
    """Queue a `ping` event for this endpoint only; it is delivered like any other."""
    with db.transaction(actor=f"user:{user_id}") as conn:
        endpoint = _locked(conn, user_id, endpoint_id)
        params = endpoint | {"user_id": user_id, "now": datetime.now(UTC)}
        delivery_id = conn.execute(Q["webhook_ping_insert"], params).fetchone()["delivery_id"]
    return delivery(db, user_id, delivery_id)


def deliveries(
    db: Database, user_id: int, endpoint_id: int, filters: DeliveryFilters
) -> DeliveryPage:
    params = filters.model_dump() | {"endpoint_id": endpoint_id, "limit": filters.limit + 1}
    with db.read() as conn:
        _locked(conn, user_id, endpoint_id)
        rows = conn.execute(Q["webhook_delivery_list"], params).fetchall()
    page = [Delivery(**r) for r in rows[: filters.limit]]
    more = len(rows) > filters.limit
    return DeliveryPage(deliveries=page, next_before_id=page[-1].delivery_id if more else None)


def delivery(db: Database, user_id: int | None, delivery_id: int) -> DeliveryDetail:
    """One delivery with its body and every attempt (NULL user: an operator, any account's)."""
    params = {"user_id": user_id, "delivery_id": delivery_id}
    with db.read() as conn:
        row = conn.execute(Q["webhook_delivery_get"], params).fetchone()
        if row is None:
            raise NotFound("delivery")
        attempts = conn.execute(Q["webhook_attempt_list"], params).fetchall()
    return DeliveryDetail(**row, history=[Attempt(**a) for a in attempts])


def redeliver(db: Database, user_id: int | None, delivery_id: int) -> DeliveryDetail:
    """One more attempt now, same event and Idempotency-Key; 409 while one is still queued."""
    current = delivery(db, user_id, delivery_id)  # 404 first
    with db.transaction(actor=f"user:{user_id}" if user_id else None) as conn:
        params = {"delivery_id": delivery_id, "now": datetime.now(UTC)}
        if conn.execute(Q["webhook_delivery_redeliver"], params).fetchone() is None:
            raise Conflict(
                f"delivery {delivery_id} is {current.status} (or its endpoint was deleted): "
                "only settled deliveries of a live endpoint can be redelivered",
                "delivery_pending",
            )
    return delivery(db, user_id, delivery_id)


def list_any(db: Database, filters: dict[str, Any]) -> list[dict[str, Any]]:
    """Operators: deliveries of every account (status, email, before_id, limit), newest first."""
    with db.read() as conn:
        return conn.execute(Q["webhook_delivery_list_any"], filters).fetchall()


def problems(db: Database, status: str | None, email: str | None, limit: int) -> list[dict]:
    """Operators: failed and retrying deliveries (view webhook_problems), newest first."""
    params = {"status": status, "email": email, "limit": limit}
    with db.read() as conn:
        return conn.execute(Q["webhook_problems_list"], params).fetchall()


def summary(db: Database, now: datetime) -> dict[str, Any]:
    with db.read() as conn:
        return conn.execute(Q["webhook_summary"], {"now": now}).fetchone()
