"""Reading upcoming runs: a customer's own, page by page, and every account's per minute."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from pydantic import ValidationError

from orders.core import pagination as pages
from orders.core.errors import ApiError
from orders.database import Database, Q
from orders.scheduling.upcoming.models import (
    MinuteLoad,
    UpcomingChart,
    UpcomingChartQuery,
    UpcomingPage,
    UpcomingQuery,
    UpcomingRun,
)


def parse_hours(model, args: Mapping[str, str], horizon_hours: int):
    """The query string as `model`; an `hours` that is not a number in (0, horizon] is a 400
    (the window cannot be served), other bad parameters a 422 as everywhere."""
    try:
        query = model.model_validate({k: v for k, v in args.items() if v != "" or not k})
    except ValidationError as exc:
        if any(error["loc"] == ("hours",) for error in exc.errors()):
            raise _bad_hours(horizon_hours) from None
        raise
    if query.hours > horizon_hours:
        raise _bad_hours(horizon_hours)
    return query


def _bad_hours(horizon_hours: int) -> ApiError:
    message = f"hours must be a number above 0 and at most {horizon_hours} (ORDERS_UPCOMING_HOURS)"
    detail = {"field": "hours", "message": message, "type": "invalid_hours"}
    return ApiError(400, "invalid_hours", message, [detail])


def customer_page(db: Database, user_id: int, query: UpcomingQuery, now: datetime) -> UpcomingPage:
    """The caller's runs from the current minute to now + hours, a page at a time."""
    start, until = now.replace(second=0, microsecond=0), now + timedelta(hours=query.hours)
    after = {"after_minute": start - timedelta(microseconds=1), "after_id": 0}
    if query.cursor:
        after = pages.decode(query.cursor, {"after_minute": datetime, "after_id": int})
    window = {"from_minute": start, "to_minute": until, "limit": query.limit + 1}
    with db.read() as conn:
        rows = conn.execute(Q["upcoming_page"], {"user_id": user_id} | window | after).fetchall()
    more, rows = len(rows) > query.limit, rows[: query.limit]
    cursor = None
    if more:
        cursor = pages.encode(after_minute=rows[-1]["minute"], after_id=rows[-1]["order_id"])
    runs = [UpcomingRun(run_at=r["first_run_at"], **r) for r in rows]
    return UpcomingPage(runs=runs, until=until, next_cursor=cursor)


def per_minute(db: Database, query: UpcomingChartQuery, horizon: int, now: datetime):
    """Every account's runs per minute from the current minute to now + hours."""
    window = {
        "from_minute": now.replace(second=0, microsecond=0),
        "to_minute": now + timedelta(hours=query.hours),
    }
    with db.read() as conn:
        rows = conn.execute(Q["upcoming_per_minute"], window).fetchall()
    minutes = [MinuteLoad(**r) for r in rows]
    total = sum(m.runs for m in minutes)
    return UpcomingChart(minutes=minutes, horizon_hours=horizon, total_runs=total)


def utc_now() -> datetime:
    return datetime.now(UTC)
