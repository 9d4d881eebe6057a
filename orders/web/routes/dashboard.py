"""The operator's dashboard: an offline HTML page (static files served here) and its JSON API,
both for admin accounts only. Actions are audited as `admin:<user id>`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from flask import Blueprint, request, send_from_directory
from pydantic import BaseModel, ConfigDict, Field

from orders.core.pagination import PageQuery
from orders.operations import console as service
from orders.operations.models import Downstream, MailDashboard, OrderDetail, Overview
from orders.scheduling.models import Order
from orders.scheduling.upcoming import service as upcoming
from orders.scheduling.upcoming.models import UpcomingChart, UpcomingChartQuery
from orders.web.http import current_user_id, get_db, get_read_db, get_settings, parse_query
from orders.web.openapi import documented
from orders.web.roles import role_required

STATIC = Path(__file__).resolve().parent.parent / "static"  # orders/web/static
bp = Blueprint("dashboard", __name__, url_prefix="/dashboard", static_folder=STATIC)

# The page runs only our own script and style: no inline code, nothing from another origin.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


class OverviewQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hours: float = Field(3.0, gt=0, le=48, description="Window of the chart and run counts.")


@bp.get("")
@bp.get("/orders/<int:order_id>", endpoint="order_page")
@documented("The dashboard page (HTML; it logs in and calls the JSON API below)", auth=False)
def page(order_id: int | None = None):
    response = send_from_directory(bp.static_folder, "index.html", max_age=0)
    response.headers["Content-Security-Policy"] = CSP
    return response


@bp.get("/api/overview")
@role_required("admin")
@documented(
    "Counts, queues, lateness, throughput, failed, recurring, stuck, workers",
    query=OverviewQuery,
    response=Overview,
)
def overview():
    hours = parse_query(OverviewQuery).hours
    overview = service.overview(get_read_db(), datetime.now(UTC), hours, primary=get_db())
    return overview.model_dump(mode="json")


@bp.get("/api/orders/<int:order_id>")
@role_required("admin")
@documented(
    "Any order with a page of its timeline (audit, jobs, runs, errors), newest first",
    query=PageQuery,
    response=OrderDetail,
)
def order_detail(order_id: int):
    detail = service.order_detail(get_db(), order_id, parse_query(PageQuery))
    return detail.model_dump(mode="json")


@bp.post("/api/orders/<int:order_id>/retry")
@role_required("admin")
@documented("Retry a failed order now", response=Order)
def retry(order_id: int):
    return service.retry(get_db(), order_id, f"admin:{current_user_id()}").model_dump(mode="json")


@bp.post("/api/orders/<int:order_id>/cancel")
@role_required("admin")
@documented("Cancel a scheduled order or dismiss a failed one", response=Order)
def cancel(order_id: int):
    return service.cancel(get_db(), order_id, f"admin:{current_user_id()}").model_dump(mode="json")


@bp.get("/mail")
@role_required("admin")
@documented("Outgoing mail: counts per status, failures with errors", response=MailDashboard)
def mail():
    return service.mail_dashboard(get_read_db(), primary=get_db()).model_dump(mode="json")


@bp.get("/api/downstream")
@role_required("admin")
@documented("Webhook deliveries, their problems, and circuit breakers", response=Downstream)
def downstream():
    return service.downstream(get_read_db(), datetime.now(UTC)).model_dump(mode="json")


@bp.get("/api/upcoming")
@role_required("admin")
@documented(
    "Runs due per minute in the next `hours`, across every account",
    query=UpcomingChartQuery,
    response=UpcomingChart,
)
def upcoming_chart():
    horizon = get_settings().upcoming_hours
    query = upcoming.parse_hours(UpcomingChartQuery, request.args, horizon)
    chart = upcoming.per_minute(get_read_db(), query, horizon, upcoming.utc_now())
    return chart.model_dump(mode="json")
