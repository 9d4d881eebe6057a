"""The one clock the use cases read; tests pass their own times where a function takes `now`."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    """Now, as an aware UTC datetime (what every timestamptz parameter takes)."""
    return datetime.now(UTC)
