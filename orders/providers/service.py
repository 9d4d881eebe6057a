"""Provider use cases: list providers, a provider's inbox, answering, a customer's requests.

Answering is all-or-nothing in one transaction: the requests are locked, checked, answered and,
in `immediate` mode, the customers' mails are queued in the outbox before it commits.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.errors import UniqueViolation
from werkzeug.security import generate_password_hash

from orders.core import pagination as pages
from orders.core.errors import ApiError, Conflict, NotFound
from orders.core.pagination import PageQuery
from orders.database import Database, Q, queue
from orders.providers.models import (
    ANSWERS,
    Answer,
    Answered,
    CreatedProvider,
    Inbox,
    InboxFilters,
    InboxRequest,
    NewProvider,
    OrderRequest,
    OrderRequests,
    Provider,
    ProviderList,
)


def check_provider(conn, provider_id: int | None) -> None:
    """An order may name only an existing provider (422 otherwise, like any invalid field)."""
    if provider_id is None:
        return
    if conn.execute(Q["provider_get"], {"provider_id": provider_id}).fetchone() is None:
        detail = {"field": "provider_id", "message": "no such provider", "type": "unknown_provider"}
        raise ApiError(422, "validation_error", f"provider {provider_id} does not exist", [detail])


def list_providers(db: Database) -> ProviderList:
    with db.read() as conn:
        return ProviderList(providers=[Provider(**r) for r in conn.execute(Q["provider_list"])])


def order_requests(
    db: Database, user_id: int, order_id: int, page: PageQuery | None = None
) -> OrderRequests:
    """A page of the requests an order's runs made (keyset on run number), each with how long
    the customer should expect to wait."""
    page, now = page or PageQuery(), datetime.now(UTC)
    after = pages.decode(page.cursor, {"after_run": int}) if page.cursor else {"after_run": 0}
    params = {"user_id": user_id, "order_id": order_id, "limit": page.limit + 1} | after
    with db.read() as conn:
        if conn.execute(Q["order_get"], params).fetchone() is None:
            raise NotFound("order")
        rows = conn.execute(Q["provider_request_list_for_order"], params).fetchall()
    more, rows = len(rows) > page.limit, rows[: page.limit]
    cursor = pages.encode(after_run=rows[-1]["run_number"]) if more else None
    requests = [OrderRequest.from_row(r, now) for r in rows]
    return OrderRequests(order_id=order_id, requests=requests, next_cursor=cursor)


def inbox(db: Database, user_id: int, filters: InboxFilters) -> Inbox:
    """A page of the requests made of the provider whose login is `user_id`."""
    params = filters.model_dump() | {"user_id": user_id, "limit": filters.limit + 1}
    with db.read() as conn:
        rows = conn.execute(Q["provider_request_list_for_provider"], params).fetchall()
    page = [InboxRequest(**r) for r in rows[: filters.limit]]
    more = len(rows) > filters.limit
    return Inbox(requests=page, next_after_id=page[-1].request_id if more else None)


def answer_requests(db: Database, user_id: int, answer: Answer, immediate: bool) -> Answered:
    """Fulfil or decline requests of this provider: all of them, or none if any cannot be.
    `immediate`: queue the customers' mails now (else the customer digest does it)."""
    now = datetime.now(UTC)
    params = {"user_id": user_id, "request_ids": answer.request_ids}
    with db.transaction(actor=f"user:{user_id}") as conn:
        locked = conn.execute(Q["provider_request_lock_for_answer"], params).fetchall()
        _check_answerable(answer.request_ids, locked)
        rows = conn.execute(
            Q["provider_request_answer"],
            params | {"status": ANSWERS[answer.action], "message": answer.message, "now": now},
        ).fetchall()
        mails = queue_customer_notices(conn, answer.request_ids, now) if immediate else 0
    answered = sorted((InboxRequest(**r) for r in rows), key=lambda r: r.request_id)
    return Answered(requests=answered, customer_mails_queued=mails)


def _check_answerable(request_ids: list[int], locked: list[dict[str, Any]]) -> None:
    """Unknown and other providers' ids are a 404 (no enumeration); answered ones a 409."""
    missing = sorted(set(request_ids) - {r["request_id"] for r in locked})
    if missing:
        raise ApiError(404, "not_found", f"requests not found: {missing}", _details(missing))
    done = [r for r in locked if r["status"] != "pending"]
    if done:
        ids = [r["request_id"] for r in done]
        raise ApiError(409, "already_answered", f"requests already answered: {ids}", _details(ids))


def _details(ids: list[int]) -> list[dict[str, Any]]:
    return [{"field": "request_ids", "message": f"request {i}", "type": "request_id"} for i in ids]


def queue_customer_notices(conn, request_ids: list[int] | None, now: datetime) -> int:
    """Queue one mail per customer about answered requests not yet told; send it promptly."""
    row = conn.execute(
        Q["customer_notice_queue"], {"request_ids": request_ids, "now": now}
    ).fetchone()
    if row["mails"]:
        queue.job(queue.SEND_OUTBOX, queue.MAIL_QUEUE, conn).defer()
    return row["mails"]


def add_provider(url: str, new: NewProvider) -> CreatedProvider:
    """Create a provider and, with a password, its provider-role login: one transaction."""
    with psycopg.connect(url, row_factory=psycopg.rows.dict_row) as conn, conn.transaction():
        user_id = _add_login(conn, new) if new.password else None
        params = new.model_dump(exclude={"password"}) | {"user_id": user_id}
        return CreatedProvider(**conn.execute(Q["provider_insert"], params).fetchone())


def _add_login(conn, new: NewProvider) -> int:
    params = {
        "email": new.email,
        "password_hash": generate_password_hash(new.password),
        "role": "provider",
    }
    try:
        return conn.execute(Q["user_insert"], params).fetchone()["user_id"]
    except UniqueViolation:
        raise Conflict("an account with this email already exists", "email_taken") from None
