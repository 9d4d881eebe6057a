"""Order endpoints: create, list, read, update, cancel, history, provider requests.

Routes only parse and delegate.
"""

from __future__ import annotations

from flask import Blueprint, request
from flask_jwt_extended import jwt_required

from orders.accounts.limits import AccountLimits
from orders.core.pagination import PageQuery
from orders.providers import service as provider_service
from orders.providers.models import OrderRequests
from orders.scheduling import batch, changes, pauses, service
from orders.scheduling.batch import NewOrderBatch, OrderBatch
from orders.scheduling.models import (
    NewOrder,
    Order,
    OrderFilters,
    OrderHistory,
    OrderPage,
    OrderPatch,
)
from orders.scheduling.pauses import OrderPauseRequest
from orders.scheduling.upcoming import service as upcoming
from orders.scheduling.upcoming.models import UpcomingPage, UpcomingQuery
from orders.web.http import (
    current_user_id,
    get_db,
    get_read_db,
    get_settings,
    idempotency_key,
    parse_body,
    parse_query,
)
from orders.web.openapi import documented

bp = Blueprint("orders", __name__, url_prefix="/orders")


def limits() -> AccountLimits:
    return AccountLimits.from_settings(get_settings())


@bp.post("")
@bp.post("/create", endpoint="create_order_legacy")
@jwt_required()
@documented(
    "Schedule a one-time or recurring order (Idempotency-Key header honoured)",
    body=NewOrder,
    response=Order,
    status=201,
    headers={"Idempotency-Key": "retrying with the same key returns the same order"},
    also={200: "The Idempotency-Key was used before: the order it created"},
)
def create_order():
    new, key = parse_body(NewOrder), idempotency_key()
    order, created = service.schedule_order(get_db(), current_user_id(), new, key, limits())
    return order.model_dump(mode="json"), 201 if created else 200


@bp.post("/batch")
@jwt_required()
@documented(
    "Schedule up to ORDERS_BATCH_MAX_ORDERS orders (default 1,000) at once, all or nothing",
    body=NewOrderBatch,
    response=OrderBatch,
    status=201,
    headers={"Idempotency-Key": "retrying with the same key returns the same orders"},
    also={200: "The Idempotency-Key was used before: the orders it created"},
)
def create_orders_batch():
    settings, key = get_settings(), idempotency_key()
    request.max_content_length = settings.batch_max_body_bytes  # a batch is larger than an order
    new = parse_body(NewOrderBatch, context={"max_orders": settings.batch_max_orders})
    orders, created = batch.schedule_orders(
        get_db(), current_user_id(), new, key, settings.max_body_bytes, limits()
    )
    return OrderBatch(orders=orders).model_dump(mode="json"), 201 if created else 200


@bp.get("")
@jwt_required()
@documented("List the caller's orders, newest first", query=OrderFilters, response=OrderPage)
def list_orders():
    page = service.list_orders(get_read_db(), current_user_id(), parse_query(OrderFilters))
    return page.model_dump(mode="json")


# Declared before /<int:order_id>; "upcoming" is no order id (the int converter refuses it).
@bp.get("/upcoming")
@jwt_required()
@documented(
    "The caller's runs due in the next `hours` (at most ORDERS_UPCOMING_HOURS), per minute",
    query=UpcomingQuery,
    response=UpcomingPage,
)
def upcoming_runs():
    query = upcoming.parse_hours(UpcomingQuery, request.args, get_settings().upcoming_hours)
    page = upcoming.customer_page(get_db(), current_user_id(), query, upcoming.utc_now())
    return page.model_dump(mode="json")


@bp.get("/<int:order_id>")
@jwt_required()
@documented("One of the caller's orders", response=Order)
def get_order(order_id: int):
    return service.get_order(get_db(), current_user_id(), order_id).model_dump(mode="json")


@bp.put("/<int:order_id>")
@jwt_required()
@documented(
    "Replace an order's definition (its pending job is replaced too)", body=NewOrder, response=Order
)
def replace_order(order_id: int):
    fields = parse_body(NewOrder).model_dump()
    return changes.update_order(
        get_db(), current_user_id(), order_id, fields, replace=True, limits=limits()
    ).model_dump(mode="json")


@bp.patch("/<int:order_id>")
@jwt_required()
@documented(
    "Change some fields, e.g. convert one-time to recurring and back",
    body=OrderPatch,
    response=Order,
)
def patch_order(order_id: int):
    fields = parse_body(OrderPatch).model_dump(exclude_unset=True)
    return changes.update_order(
        get_db(), current_user_id(), order_id, fields, replace=False, limits=limits()
    ).model_dump(mode="json")


@bp.delete("/<int:order_id>")
@jwt_required()
@documented("Cancel an order and its pending job", response=Order)
def cancel_order(order_id: int):
    return changes.cancel_order(get_db(), current_user_id(), order_id).model_dump(mode="json")


@bp.post("/<int:order_id>/pause")
@jwt_required()
@documented(
    "Pause your order: its runs wait (the schedule is kept) until you resume it",
    body=OrderPauseRequest,
    response=Order,
)
def pause_order(order_id: int):
    reason = (parse_body(OrderPauseRequest) if request.get_data() else OrderPauseRequest()).reason
    return pauses.pause_own(get_db(), current_user_id(), order_id, reason).model_dump(mode="json")


@bp.post("/<int:order_id>/resume")
@jwt_required()
@documented("Resume an order you paused; a missed run is due now", response=Order)
def resume_order(order_id: int):
    return pauses.resume_own(get_db(), current_user_id(), order_id).model_dump(mode="json")


@bp.get("/<int:order_id>/history")
@jwt_required()
@documented(
    "The order's audit trail, oldest first, paginated", query=PageQuery, response=OrderHistory
)
def order_history(order_id: int):
    page = parse_query(PageQuery)
    history = service.order_history(get_db(), current_user_id(), order_id, page)
    return history.model_dump(mode="json")


@bp.post("/<int:order_id>/retry")
@jwt_required()
@documented("Re-queue a failed order, due now", response=Order)
def retry_order(order_id: int):
    order = changes.retry_order(get_db(), current_user_id(), order_id, limits=limits())
    return order.model_dump(mode="json")


@bp.get("/<int:order_id>/requests")
@jwt_required()
@documented(
    "The requests the order's runs made of its provider, first run first, paginated",
    query=PageQuery,
    response=OrderRequests,
)
def order_requests(order_id: int):
    page = parse_query(PageQuery)
    requests = provider_service.order_requests(get_db(), current_user_id(), order_id, page)
    return requests.model_dump(mode="json")
