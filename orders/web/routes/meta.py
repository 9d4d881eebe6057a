"""Service endpoints that are not a resource: OpenAPI, health, readiness and metrics."""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from orders.core.errors import ApiError
from orders.operations.health import readiness
from orders.web.http import get_db, get_settings
from orders.web.openapi import build_document, documented

bp = Blueprint("meta", __name__)


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, str]


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3 description of every endpoint, built from the validating models."""
    return build_document(current_app)


@bp.get("/healthz")
@documented("Liveness: the process answers (touches nothing else)", response=Health, auth=False)
def healthz():
    return {"status": "ok"}


@bp.get("/readyz")
@documented("Readiness: database reachable, migrations current", response=Readiness, auth=False)
def readyz():
    ready, checks = readiness(get_db())
    if not ready:
        raise ApiError(503, "not_ready", "the service is not ready", checks)
    return {"status": "ready", "checks": checks}


@bp.get("/metrics")
@documented(
    "Prometheus metrics (text format), read from the database; bearer ORDERS_METRICS_TOKEN",
    auth=False,
)
def metrics():
    _check_metrics_token()
    body = generate_latest(current_app.extensions["orders.metrics"])
    return Response(body, mimetype=CONTENT_TYPE_LATEST)


def _check_metrics_token() -> None:
    """Scrapers send ORDERS_METRICS_TOKEN as a bearer token. Outside dev/test, /metrics
    without a configured token answers 401 (the API still starts: serving orders does not
    depend on monitoring, and Prometheus shows the 401 on its targets page)."""
    settings = get_settings()
    token = settings.metrics_token or None  # an empty value (compose, .env) is no token
    if token is None and settings.env in ("dev", "test"):
        return
    if token is None:
        raise ApiError(
            401, "unauthorized", "set ORDERS_METRICS_TOKEN to scrape /metrics outside dev/test"
        )
    sent = request.headers.get("Authorization", "").removeprefix("Bearer ")
    if not hmac.compare_digest(sent.encode(), token.encode()):
        raise ApiError(401, "unauthorized", "a valid metrics token is required")
