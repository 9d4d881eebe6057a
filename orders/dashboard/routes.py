"""Dashboard endpoints, for admin accounts."""

from __future__ import annotations

from flask import Blueprint

from orders.auth.roles import role_required
from orders.dashboard import service
from orders.dashboard.models import MailDashboard
from orders.openapi import documented

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")


@bp.get("/mail")
@role_required("admin")
@documented("Outgoing mail: counts per status, failures with errors", response=MailDashboard)
def mail():
    return service.mail_dashboard().model_dump(mode="json")
