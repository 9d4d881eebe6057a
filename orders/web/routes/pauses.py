"""The dashboard's pauses panel: what is paused, and pause / resume of everything, a queue, an
account or an order (admin accounts; audited as `admin:<user id>`)."""

from __future__ import annotations

from flask import Blueprint

from orders.scheduling import pauses
from orders.web.http import current_user_id, get_db, parse_body
from orders.web.openapi import documented
from orders.web.roles import role_required

bp = Blueprint("pauses", __name__, url_prefix="/dashboard/api/pauses")


@bp.get("")
@role_required("admin")
@documented("What is paused now, and the latest pauses and resumes", response=pauses.Pauses)
def list_pauses():
    return pauses.list_pauses(get_db()).model_dump(mode="json")


@bp.post("/pause")
@role_required("admin")
@documented(
    "Pause everything, a queue (not maintenance), an account or an order",
    body=pauses.PauseRequest,
    response=pauses.PauseResult,
)
def pause():
    request = parse_body(pauses.PauseRequest)
    return pauses.pause(get_db(), request, f"admin:{current_user_id()}").model_dump(mode="json")


@bp.post("/resume")
@role_required("admin")
@documented(
    "Resume what was paused; resumed orders are due at their next run (or now)",
    body=pauses.PauseRequest,
    response=pauses.PauseResult,
)
def resume():
    request = parse_body(pauses.PauseRequest)
    return pauses.resume(get_db(), request, f"admin:{current_user_id()}").model_dump(mode="json")
