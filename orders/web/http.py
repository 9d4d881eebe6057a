"""Request helpers shared by the blueprints: body parsing into pydantic models, current user."""

from __future__ import annotations

from typing import Any, TypeVar

from flask import current_app, request
from flask_jwt_extended import get_jwt_identity
from pydantic import BaseModel, ValidationError

from orders.core.errors import ApiError
from orders.database import Database
from orders.settings import Settings

M = TypeVar("M", bound=BaseModel)


def parse_body(model: type[M], context: dict[str, Any] | None = None) -> M:
    """Validate the raw JSON body against `model` (`context`: for its validators); malformed
    JSON is a 400, bad fields a 422."""
    try:
        parsed = model.model_validate_json(request.get_data() or b"null", context=context)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise ApiError(400, "invalid_json", "request body is not valid JSON") from None
        raise
    if _contains_nul(parsed.model_dump()):  # PostgreSQL text and jsonb cannot hold U+0000
        raise ApiError(422, "validation_error", "text must not contain NUL (U+0000) characters")
    return parsed


def _contains_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_contains_nul(k) or _contains_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_contains_nul(v) for v in value)
    return False


def parse_query(model: type[M]) -> M:
    """Validate the query string against `model`; unknown or bad parameters are a 422. An empty
    parameter (`?status=&limit=`, as documentation writes them) means "not given"."""
    return model.model_validate({k: v for k, v in request.args.items() if v != "" or not k})


def get_db() -> Database:
    return current_app.extensions["orders.db"]


def get_read_db() -> Database:
    """For read-only lists and dashboards: the replica (DATABASE_READ_URL) if any, which may
    lag the primary; never for reads that must see the caller's own latest write."""
    return current_app.extensions["orders.read_db"]


def current_user_id() -> int:
    return int(get_jwt_identity())


def idempotency_key() -> str | None:
    """The Idempotency-Key header: absent, or 1-255 printable characters."""
    key = request.headers.get("Idempotency-Key")
    if key is not None and not (0 < len(key) <= 255 and key.isprintable()):
        raise ApiError(
            422, "validation_error", "Idempotency-Key must be 1-255 printable characters"
        )
    return key


def get_settings() -> Settings:
    return current_app.extensions["orders.settings"]
