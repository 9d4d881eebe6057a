"""Keyset pagination for per-order lists: a page costs the same whatever the history behind it.

A cursor is the sort key of the last row of a page, as opaque URL-safe text; the next page
starts strictly after it (an index range), never with OFFSET.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from orders.core.errors import ApiError


class PageQuery(BaseModel):
    """Query string of a per-order list."""

    model_config = ConfigDict(extra="forbid")

    limit: int = Field(100, ge=1, le=1000, description="rows per page")
    cursor: str | None = Field(
        None, max_length=300, description="next_cursor of the previous page; absent: first page"
    )


def encode(**key: Any) -> str:
    """The cursor for a page that ends at the row with this sort key."""
    plain = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in key.items()}
    return base64.urlsafe_b64encode(json.dumps(plain).encode()).decode()


def decode(cursor: str, fields: dict[str, type]) -> dict[str, Any]:
    """The sort key a cursor of ours carries; anything else is a 422."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        key = {name: _value(raw[name], kind) for name, kind in fields.items()}
    except (ValueError, TypeError, KeyError, binascii.Error):
        raise ApiError(422, "invalid_cursor", "cursor is not one this API returned") from None
    return key


def _value(value: Any, kind: type) -> Any:
    if kind is datetime:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise ValueError("naive time")
        return parsed
    if kind is int and (
        not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**63
    ):
        raise ValueError("not an id")
    if kind is str and not (isinstance(value, str) and value.isprintable() and len(value) < 20):
        raise ValueError("not a name")
    return value
