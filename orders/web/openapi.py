"""/openapi.json, generated from the same pydantic models that validate requests.

Routes declare what they take and return with `@documented(...)`; the document is built from
the app's URL map, so an undocumented route shows up as a failing test, not a silent gap.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flask import Flask
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

ERROR_STATUSES = {
    "400": "Malformed request",
    "401": "Missing, invalid or revoked token",
    "403": "The account's role may not use this endpoint",
    "404": "Not found",
    "409": "Conflict (order_executing and other short-lived ones carry Retry-After)",
    "413": "Body too large",
    "422": "Validation error",
    "429": "Too many failed logins, or the account's request rate limit (see Retry-After)",
    "500": "Unexpected error",
    "503": "Database unavailable or too slow to answer (see the Retry-After header)",
}


class ErrorDetail(BaseModel):
    field: str | None
    message: str
    type: str


class ErrorBody(BaseModel):
    status: int
    code: str
    message: str
    details: list[ErrorDetail] | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


def documented(
    summary: str,
    *,
    body: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    status: int = 200,
    query: type[BaseModel] | None = None,
    auth: bool = True,
    headers: dict[str, str] | None = None,
    also: dict[int, str] | None = None,
) -> Callable:
    """Attach OpenAPI metadata to a view function (`headers`: optional request headers;
    `also`: other success statuses answering with the same response model)."""

    def mark(view: Callable) -> Callable:
        view.openapi = {
            "summary": summary,
            "body": body,
            "response": response,
            "status": status,
            "query": query,
            "auth": auth,
            "headers": headers or {},
            "also": also or {},
        }
        return view

    return mark


def build_document(app: Flask) -> dict[str, Any]:
    operations = _operations(app)
    models = {m for op in operations for m in (op["body"], op["response"]) if m} | {ErrorResponse}
    _, schemas = models_json_schema(
        [(m, "validation") for m in models], ref_template="#/components/schemas/{model}"
    )
    paths: dict[str, dict] = {}
    for op in operations:
        paths.setdefault(op["path"], {})[op["method"]] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "orders",
            "version": "1.0.0",
            "description": "Schedule one-time and recurring orders.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas.get("$defs", {}),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }


def _operations(app: Flask) -> list[dict[str, Any]]:
    found = []
    for rule in app.url_map.iter_rules():
        meta = getattr(app.view_functions[rule.endpoint], "openapi", None)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            if meta is not None:
                path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
                params = re.findall(r"<(?:\w+:)?(\w+)>", rule.rule)
                found.append(
                    {
                        **meta,
                        "path": path,
                        "method": method.lower(),
                        "params": params,
                        "endpoint": rule.endpoint,
                    }
                )
    return found


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _operation(op: dict[str, Any]) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": "Success"}
    if op["response"] is not None:
        ok["content"] = {"application/json": {"schema": _ref(op["response"])}}
    error = {"description": "", "content": {"application/json": {"schema": _ref(ErrorResponse)}}}
    operation: dict[str, Any] = {
        "summary": op["summary"],
        "operationId": f"{op['endpoint']}_{op['method']}",
        "parameters": [
            {"name": p, "in": "path", "required": True, "schema": {"type": "integer"}}
            for p in op["params"]
        ]
        + _query_parameters(op["query"])
        + _header_parameters(op["headers"]),
        "responses": {str(op["status"]): ok}
        | {str(code): {**ok, "description": text} for code, text in op["also"].items()}
        | {code: {**error, "description": text} for code, text in ERROR_STATUSES.items()},
    }
    if op["body"] is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(op["body"])}},
        }
    if op["auth"]:
        operation["security"] = [{"bearer": []}]
    return operation


def _header_parameters(headers: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "in": "header",
            "required": False,
            "description": text,
            "schema": {"type": "string", "minLength": 1, "maxLength": 255},
        }
        for name, text in headers.items()
    ]


def _query_parameters(model: type[BaseModel] | None) -> list[dict[str, Any]]:
    if model is None:
        return []
    schema = model.model_json_schema()
    required = schema.get("required", [])
    return [
        {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": prop,
        }
        # An empty optional parameter means "not given" (`?status=&limit=` as pasted from docs).
        | ({} if name in required else {"allowEmptyValue": True})
        for name, prop in schema["properties"].items()
    ]
