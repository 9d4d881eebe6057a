"""The failures a use case reports: a status, a stable machine-readable code, a message.

Features raise these; the web layer (orders/web/errors.py) answers them in the one JSON shape.
"""

from __future__ import annotations

from typing import Any

import psycopg


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


# SQLSTATE of our SQL functions' refusals -> HTTP status (the code is the error's DETAIL).
REFUSALS = {
    psycopg.errors.InvalidParameterValue: 400,
    psycopg.errors.CheckViolation: 400,
    psycopg.errors.NoDataFound: 404,
    psycopg.errors.ObjectNotInPrerequisiteState: 409,
}


def refusal(exc: psycopg.Error) -> Exception:
    """A refusal raised by one of our SQL functions (sql/0062, 0066) as an ApiError: its
    SQLSTATE gives the status, its DETAIL the code. Anything else is returned as it is."""
    status = next((s for kind, s in REFUSALS.items() if isinstance(exc, kind)), None)
    if status is None or exc.diag.message_detail is None:
        return exc
    return ApiError(status, exc.diag.message_detail, exc.diag.message_primary or "refused")
