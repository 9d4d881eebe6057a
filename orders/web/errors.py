"""The one JSON error shape, used for every failure the API can answer with.

{"error": {"status": 404, "code": "not_found", "message": "...", "details": [...]}}
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from flask import Flask, current_app, jsonify
from flask_jwt_extended import JWTManager
from procrastinate.exceptions import ConnectorException
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from orders.core.errors import ApiError, Busy

log = logging.getLogger(__name__)


def error_response(status: int, code: str, message: str, details: Any = None):
    body: dict[str, Any] = {"status": status, "code": code, "message": message}
    if details is not None:
        body["details"] = details
    return jsonify(error=body), status


# pydantic's wording where it names its own classes or adds a prefix meant for developers.
_MESSAGES = {
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
    "dict_type": "must be a JSON object",
    "extra_forbidden": "unknown field",
}


def _validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    return [
        {
            "field": ".".join(map(str, e["loc"])) or None,
            "message": _MESSAGES.get(e["type"]) or e["msg"].removeprefix("Value error, "),
            "type": e["type"],
        }
        for e in exc.errors(include_url=False, include_input=False)
    ]


def _on_api_error(exc: ApiError):
    body, status = error_response(exc.status, exc.code, exc.message, exc.details)
    return body, status, exc.headers


def _on_http(exc: HTTPException):
    code = (exc.name or "error").lower().replace(" ", "_")
    if isinstance(exc, RequestEntityTooLarge):
        limit = current_app.config["MAX_CONTENT_LENGTH"]
        return error_response(413, code, f"the request body is larger than the {limit}-byte limit")
    return error_response(exc.code or 500, code, exc.description or exc.name)


def _on_validation(exc: ValidationError):
    return error_response(422, "validation_error", "request is invalid", _validation_details(exc))


def _on_db_unavailable(exc: psycopg.OperationalError):
    log.error("database unavailable: %s", exc)
    return error_response(503, "database_unavailable", "the database is unavailable, retry later")


def _on_lock_timeout(exc: psycopg.errors.LockNotAvailable):
    """A row another transaction holds (lock_timeout or NOWAIT): a conflict to retry shortly."""
    return _on_api_error(Busy("the resource is being changed right now"))


def _on_statement_timeout(exc: psycopg.errors.QueryCanceled):
    log.error("statement timed out: %s", exc)
    body, status = error_response(
        503, "database_timeout", "the database took too long to answer, retry later"
    )
    return body, status, {"Retry-After": "1"}


def _on_queue_error(exc: ConnectorException):
    """Procrastinate wraps the driver's errors: a lost connection while deferring is still 503."""
    cause = exc.__cause__
    if isinstance(cause, psycopg.errors.LockNotAvailable):
        return _on_lock_timeout(cause)
    if isinstance(cause, psycopg.errors.QueryCanceled):
        return _on_statement_timeout(cause)
    if isinstance(cause, psycopg.OperationalError):
        return _on_db_unavailable(cause)
    return _on_unexpected(exc)


def _on_integrity(exc: psycopg.errors.IntegrityError):
    """A row the database refused: validation should have caught it first (logged as a gap),
    but the client still gets a 4xx that names the rule, never a 500."""
    log.error("database refused a write that validation let through: %s", exc)
    rule = getattr(exc.diag, "constraint_name", None) or "a data rule"
    if isinstance(exc, psycopg.errors.UniqueViolation):
        return error_response(409, "conflict", f"this would duplicate an existing record ({rule})")
    return error_response(422, "constraint_violation", f"the request breaks the rule {rule}")


def _on_out_of_range(exc: psycopg.errors.DataError | OverflowError):
    log.error("value out of range that validation let through: %s", exc)
    return error_response(422, "out_of_range", "a date or number in the request is out of range")


def _on_unexpected(exc: Exception):
    log.exception("unhandled error")  # the text goes to the log, never to the client
    return error_response(500, "internal_error", "an unexpected error occurred")


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(ApiError, _on_api_error)
    app.register_error_handler(HTTPException, _on_http)
    app.register_error_handler(ValidationError, _on_validation)
    app.register_error_handler(psycopg.OperationalError, _on_db_unavailable)
    app.register_error_handler(psycopg.errors.LockNotAvailable, _on_lock_timeout)
    app.register_error_handler(psycopg.errors.QueryCanceled, _on_statement_timeout)
    app.register_error_handler(ConnectorException, _on_queue_error)
    app.register_error_handler(psycopg.errors.IntegrityError, _on_integrity)
    app.register_error_handler(psycopg.errors.DataError, _on_out_of_range)
    app.register_error_handler(OverflowError, _on_out_of_range)
    app.register_error_handler(Exception, _on_unexpected)


# The only reasons flask-jwt-extended gives that say something useful to a client; every other
# one is a decoder's internals ("Invalid header string: 'utf-8' codec can't decode...").
_WRONG_TOKEN_TYPE = {
    "Only non-refresh tokens are allowed": "this endpoint takes an access token, not a refresh one",
    "Only refresh tokens are allowed": "this endpoint takes a refresh token (from /auth/login)",
}
MISSING_TOKEN = "send the access token as 'Authorization: Bearer <token>' (from POST /auth/login)"  # noqa: S105 - a message
INVALID_TOKEN = "the token is malformed or was not signed by this service"  # noqa: S105 - a message


def register_jwt_errors(jwt: JWTManager) -> None:
    """flask-jwt-extended answers {"msg": ...} by default; route all of it into our shape, in
    words written for the client."""

    def unauthorized(message: str):
        return error_response(401, "unauthorized", message)

    jwt.unauthorized_loader(lambda _reason: unauthorized(MISSING_TOKEN))
    jwt.invalid_token_loader(
        lambda reason: unauthorized(_WRONG_TOKEN_TYPE.get(reason, INVALID_TOKEN))
    )
    jwt.expired_token_loader(
        lambda _h, _p: unauthorized("the token has expired: refresh it or log in again")
    )
    jwt.revoked_token_loader(
        lambda _h, _p: unauthorized("the token's session has ended: log in again")
    )
    jwt.user_lookup_error_loader(
        lambda _h, _p: unauthorized("the token's account no longer exists")
    )
    jwt.needs_fresh_token_loader(lambda _h, _p: unauthorized("log in again to do this"))
    jwt.token_verification_failed_loader(lambda _h, _p: unauthorized(INVALID_TOKEN))
