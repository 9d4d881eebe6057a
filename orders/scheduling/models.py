"""Order request/response models: they validate the API's input and generate its OpenAPI schema."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from orders.scheduling.definition import (
    Cron,
    ExpiresAfter,
    Interval,
    MaxExecutions,
    MissedRuns,
    OrderName,
    Priority,
    ProviderId,
    ScheduleTime,
    TimeZone,
    Unit,
)

Status = Literal["scheduled", "processing", "completed", "failed", "cancelled", "expired"]


def _seconds(value: Any) -> Any:
    """An interval read from the database, as whole seconds."""
    return int(value.total_seconds()) if isinstance(value, timedelta) else value


def _no_default(schema: dict[str, Any]) -> None:
    """A PATCH field may be left out but not set to null: its schema shows no null default."""
    schema.pop("default", None)


def _omittable(description: str | None = None) -> Any:
    return Field(None, description=description, json_schema_extra=_no_default)


class NewOrder(BaseModel):
    """POST /orders and PUT /orders/<id> (a PUT replaces every field). The rules between
    fields are checked on the whole definition (orders.scheduling.definition)."""

    model_config = ConfigDict(extra="forbid")

    order_name: OrderName
    schedule_time: ScheduleTime | None = Field(
        None, description="First run, with a UTC offset. Default: now (cron: the next slot)."
    )
    is_recurring: bool = False
    repeat_interval: Interval | None = None
    repeat_unit: Unit | None = None
    cron: Cron | None = None
    timezone: TimeZone | None = None
    max_executions: MaxExecutions | None = None
    payload: dict[str, Any] = Field(default_factory=dict)
    provider_id: ProviderId | None = Field(
        None, description="Provider each run is requested from (GET /providers)"
    )
    priority: Priority = "normal"
    missed_runs: MissedRuns = "latest"
    expires_after: ExpiresAfter | None = None


class OrderPatch(BaseModel):
    """PATCH /orders/<id>: only the fields given change. null clears a recurrence field or
    the provider; order_name, schedule_time, is_recurring and payload cannot be null."""

    model_config = ConfigDict(extra="forbid")

    order_name: OrderName = _omittable()
    schedule_time: ScheduleTime = _omittable("New first run (and anchor of the schedule)")
    is_recurring: bool = _omittable()
    repeat_interval: Interval | None = None
    repeat_unit: Unit | None = None
    cron: Cron | None = None
    timezone: TimeZone | None = None
    max_executions: MaxExecutions | None = None
    payload: dict[str, Any] = _omittable()
    provider_id: ProviderId | None = Field(None, description="null: no provider")
    priority: Priority = _omittable()
    missed_runs: MissedRuns = _omittable()
    expires_after: ExpiresAfter | None = Field(None, description="null: runs however late")


class Order(BaseModel):
    order_id: int
    user_id: int
    order_name: str
    payload: dict[str, Any]
    schedule_time: datetime
    status: Status
    job_id: int | None
    is_recurring: bool
    repeat_interval: int | None
    repeat_unit: Unit | None
    cron: str | None
    timezone: str | None
    max_executions: int | None
    executions_count: int
    next_run_at: datetime | None
    last_run_at: datetime | None
    last_error: str | None
    provider_id: int | None
    priority: Priority
    missed_runs: MissedRuns
    expires_after: Annotated[int | None, BeforeValidator(_seconds)]
    created_at: datetime
    updated_at: datetime
    paused: bool = Field(
        description="Paused (the order or its account): its runs wait until resumed; the "
        "schedule is kept"
    )


class OrderPage(BaseModel):
    orders: list[Order]
    next_cursor: str | None = Field(
        description="pass as ?cursor= for the next page; null at the end"
    )


class OrderFilters(BaseModel):
    """Query string of GET /orders."""

    model_config = ConfigDict(extra="forbid")

    status: Status | None = None
    is_recurring: bool | None = None
    limit: int = Field(50, ge=1, le=200)
    cursor: str | None = Field(None, max_length=200)


class OrderEvent(BaseModel):
    event_id: int
    event_type: str
    from_status: Status | None
    to_status: Status | None
    executions_count: int
    job_id: int | None
    actor: str
    occurred_at: datetime
    details: dict[str, Any]


class OrderHistory(BaseModel):
    order_id: int
    events: list[OrderEvent]
    next_cursor: str | None = Field(
        description="pass as ?cursor= for the next (later) events; null at the end"
    )
