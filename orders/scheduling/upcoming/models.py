"""What GET /orders/upcoming and the dashboard's upcoming chart take and answer."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class UpcomingQuery(BaseModel):
    """Query string of GET /orders/upcoming (a bad `hours` is a 400)."""

    model_config = ConfigDict(extra="forbid")

    hours: float = Field(
        24, gt=0, description="How far ahead, in hours: > 0 and at most ORDERS_UPCOMING_HOURS"
    )
    limit: int = Field(100, ge=1, le=1000, description="entries per page")
    cursor: str | None = Field(
        None, max_length=300, description="next_cursor of the previous page; absent: first page"
    )


class UpcomingRun(BaseModel):
    order_id: int
    order_name: str
    minute: datetime = Field(description="The minute (UTC) the runs fall in")
    run_at: datetime = Field(description="The order's first run in that minute")
    runs: int = Field(description="How many runs of the order fall in that minute")


class UpcomingPage(BaseModel):
    runs: list[UpcomingRun] = Field(description="By minute, then order id")
    until: datetime = Field(description="End of the window asked for (now + hours)")
    next_cursor: str | None = Field(
        description="pass as ?cursor= for the next page; null at the end"
    )


class UpcomingChartQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hours: float = Field(
        3, gt=0, description="How far ahead, in hours: at most ORDERS_UPCOMING_HOURS"
    )


class MinuteLoad(BaseModel):
    minute: datetime
    runs: int = Field(description="Runs due in that minute, across every account")
    orders: int = Field(description="Orders that run in that minute")


class UpcomingChart(BaseModel):
    minutes: list[MinuteLoad] = Field(description="Minutes with runs, earliest first")
    horizon_hours: int = Field(description="ORDERS_UPCOMING_HOURS: how far the table reaches")
    total_runs: int
