"""The one JSON error shape, used for every failure the API can answer with.

{"error": {"status": 404, "code": "not_found", "message": "...", "details": [...]}}
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from flask import Flask, jsonify
from flask_jwt_extended import JWTManager
from procrastinate.exceptions import ConnectorException
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An expected failure with a status, a stable machine-readable code and a human message."""

    def __init__(self, status: int, code: str, message: str, details: Any = None):
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details
        self.headers: dict[str, str] = {}  # e.g. Retry-After on a 429


class NotFound(ApiError):
    def __init__(self, what: str):
        super().__init__(404, "not_found", f"{what} not found")


class Conflict(ApiError):
    def __init__(self, message: str, code: str = "conflict"):
        super().__init__(409, code, message)


class Busy(Conflict):
    """A conflict that resolves itself shortly (a row another transaction holds): retry soon."""

    def __init__(self, message: str, code: str = "busy", retry_after: int = 1):
        super().__init__(f"{message}; retry in {retry_after} s", code)
        self.headers = {"Retry-After": str(retry_after)}


def error_response(status: int, code: str, message: str, details: Any = None):
    body: dict[str, Any] = {"status": status, "code": code, "message": message}
    if details is not None:
        body["details"] = details
    return jsonify(error=body), status


def _validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    return [
        {"field": ".".join(map(str, e["loc"])) or None, "message": e["msg"], "type": e["type"]}
        for e in exc.errors(include_url=False, include_input=False)
    ]


def _on_api_error(exc: ApiError):
    body, status = error_response(exc.status, exc.code, exc.message, exc.details)
    return body, status, exc.headers


def _on_http(exc: HTTPException):
    code = (exc.name or "error").lower().replace(" ", "_")
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
    app.register_error_handler(Exception, _on_unexpected)


def register_jwt_errors(jwt: JWTManager) -> None:
    """flask-jwt-extended answers {"msg": ...} by default; route all of it into our shape."""

    def unauthorized(message: str):
        return error_response(401, "unauthorized", message)

    jwt.unauthorized_loader(lambda reason: unauthorized(reason))
    jwt.invalid_token_loader(lambda reason: unauthorized(f"invalid token: {reason}"))
    jwt.expired_token_loader(lambda _h, _p: unauthorized("token has expired"))
    jwt.revoked_token_loader(lambda _h, _p: unauthorized("token has been revoked"))
    jwt.user_lookup_error_loader(lambda _h, _p: unauthorized("token user no longer exists"))
    jwt.needs_fresh_token_loader(lambda _h, _p: unauthorized("fresh token required"))
    jwt.token_verification_failed_loader(lambda _h, _p: unauthorized("token rejected"))
