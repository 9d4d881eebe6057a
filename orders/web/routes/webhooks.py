"""Webhook endpoints: a customer's receivers and the record of what was sent to them.

Routes only parse and delegate.
"""

from __future__ import annotations

from flask import Blueprint
from flask_jwt_extended import jwt_required

from orders.web.http import current_user_id, get_db, get_settings, parse_body, parse_query
from orders.web.openapi import documented
from orders.webhooks import service
from orders.webhooks.models import (
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

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")


@bp.post("")
@jwt_required()
@documented(
    "Register an endpoint for events (the secret is shown only now)",
    body=NewWebhook,
    response=WebhookWithSecret,
    status=201,
)
def create_webhook():
    s = get_settings()
    new = parse_body(NewWebhook)
    created = service.create_webhook(
        get_db(), current_user_id(), new, s.webhook_allow_private_targets, s.webhook_max_endpoints
    )
    return created.model_dump(mode="json"), 201


@bp.get("")
@jwt_required()
@documented("The caller's webhook endpoints", response=WebhookList)
def list_webhooks():
    return service.list_webhooks(get_db(), current_user_id()).model_dump(mode="json")


@bp.get("/<int:webhook_id>")
@jwt_required()
@documented("One of the caller's endpoints", response=Webhook)
def get_webhook(webhook_id: int):
    return service.get_webhook(get_db(), current_user_id(), webhook_id).model_dump(mode="json")


@bp.patch("/<int:webhook_id>")
@jwt_required()
@documented(
    "Change url, events, description, or pause it (active)", body=WebhookPatch, response=Webhook
)
def update_webhook(webhook_id: int):
    patch, allow = parse_body(WebhookPatch), get_settings().webhook_allow_private_targets
    updated = service.update_webhook(get_db(), current_user_id(), webhook_id, patch, allow)
    return updated.model_dump(mode="json")


@bp.delete("/<int:webhook_id>")
@jwt_required()
@documented("Delete an endpoint; its waiting deliveries are cancelled", response=Webhook)
def delete_webhook(webhook_id: int):
    return service.delete_webhook(get_db(), current_user_id(), webhook_id).model_dump(mode="json")


@bp.post("/<int:webhook_id>/rotate-secret")
@jwt_required()
@documented(
    "A new signing secret; the previous one keeps signing for previous_valid_hours",
    body=Rotation,
    response=WebhookWithSecret,
)
def rotate_secret(webhook_id: int):
    rotated = service.rotate_secret(get_db(), current_user_id(), webhook_id, parse_body(Rotation))
    return rotated.model_dump(mode="json")


@bp.post("/<int:webhook_id>/ping")
@jwt_required()
@documented("Send a test event (type ping) to this endpoint", response=Delivery, status=202)
def ping(webhook_id: int):
    return service.ping(get_db(), current_user_id(), webhook_id).model_dump(mode="json"), 202


@bp.get("/<int:webhook_id>/deliveries")
@jwt_required()
@documented("The endpoint's deliveries, newest first", query=DeliveryFilters, response=DeliveryPage)
def deliveries(webhook_id: int):
    filters = parse_query(DeliveryFilters)
    page = service.deliveries(get_db(), current_user_id(), webhook_id, filters)
    return page.model_dump(mode="json")


@bp.get("/deliveries/<int:delivery_id>")
@jwt_required()
@documented("One delivery: its body and every attempt", response=DeliveryDetail)
def delivery(delivery_id: int):
    return service.delivery(get_db(), current_user_id(), delivery_id).model_dump(mode="json")


@bp.post("/deliveries/<int:delivery_id>/redeliver")
@jwt_required()
@documented(
    "Attempt a delivery once more, now, with the same Idempotency-Key",
    response=DeliveryDetail,
    status=202,
)
def redeliver(delivery_id: int):
    again = service.redeliver(get_db(), current_user_id(), delivery_id)
    return again.model_dump(mode="json"), 202
