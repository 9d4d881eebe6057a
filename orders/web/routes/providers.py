"""Provider endpoints: the provider list for customers, and a provider's inbox and answers."""

from __future__ import annotations

from flask import Blueprint
from flask_jwt_extended import jwt_required

from orders.providers import service
from orders.providers.models import Answer, Answered, Inbox, InboxFilters, ProviderList
from orders.web.http import current_user_id, get_db, get_settings, parse_body, parse_query
from orders.web.openapi import documented
from orders.web.roles import role_required

bp = Blueprint("providers", __name__)


@bp.get("/providers")
@jwt_required()
@documented("Providers an order can name (provider_id)", response=ProviderList)
def list_providers():
    return service.list_providers(get_db()).model_dump(mode="json")


@bp.get("/provider/requests")
@role_required("provider")
@documented("The calling provider's requests, oldest first", query=InboxFilters, response=Inbox)
def provider_requests():
    return service.inbox(get_db(), current_user_id(), parse_query(InboxFilters)).model_dump(
        mode="json"
    )


@bp.post("/provider/requests/respond")
@role_required("provider")
@documented(
    "Fulfil or decline one or many requests, all or nothing; customers are told by mail",
    body=Answer,
    response=Answered,
)
def respond_to_requests():
    immediate = get_settings().customer_notify == "immediate"
    answered = service.answer_requests(get_db(), current_user_id(), parse_body(Answer), immediate)
    return answered.model_dump(mode="json")
