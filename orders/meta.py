"""Service endpoints that are not a resource: the OpenAPI document."""

from __future__ import annotations

from flask import Blueprint, current_app

from orders.openapi import build_document

bp = Blueprint("meta", __name__)


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3 description of every endpoint, built from the validating models."""
    return build_document(current_app)
