"""Order request/response models: they validate the API's input and generate its OpenAPI schema."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

Status = Literal["scheduled", "processing", "completed", "failed", "cancelled"]
Unit = Literal["seconds", "minutes", "hours", "days", "weeks"]
RECURRENCE_FIELDS = ("repeat_interval", "repeat_unit", "cron", "timezone", "max_executions")
MAX_PAST = timedelta(minutes=5)  # a little in the past runs at once; more is almost surely a bug


class OrderFields(BaseModel):
    """What a customer says about an order; shared by create (all) and update (some)."""

    model_config = ConfigDict(extra="forbid")

    order_name: str = Field(min_length=1, max_length=200)
    schedule_time: AwareDatetime | None = Field(
        None, description="First run, with a UTC offset. Default: now (cron: the next slot)."
    )
    is_recurring: bool = False
    repeat_interval: int | None = Field(None, ge=1, le=1_000_000)
    repeat_unit: Unit | None = None
    cron: str | None = Field(None, max_length=100, examples=["0 9 * * MON"])
    timezone: str | None = Field(None, max_length=64, examples=["Europe/Paris"])
    max_executions: int | None = Field(None, ge=1, le=1_000_000, description="null: unlimited")
    payload: dict[str, Any] = Field(default_factory=dict)
    provider_id: int | None = Field(
        None, ge=1, description="Provider each run is requested from (GET /providers)"
    )

    @field_validator("order_name")
    @classmethod
    def _name_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("order_name must not be blank")
        return value

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str | None) -> str | None:
        if value is not None and (len(value.split()) != 5 or not croniter.is_valid(value)):
            raise ValueError("cron must be a valid 5-field cron expression, e.g. '0 9 * * MON'")
        return value

    @field_validator("timezone")
    @classmethod
    def _valid_timezone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value

    @field_validator("schedule_time")
    @classmethod
    def _not_far_in_past(cls, value: datetime | None) -> datetime | None:
        if value is not None and value < datetime.now(UTC) - MAX_PAST:
            raise ValueError("schedule_time is more than 5 minutes in the past")
        return value

    @model_validator(mode="after")
    def _recurrence_is_consistent(self) -> OrderFields:
        check_recurrence(self.model_dump())
        return self


def check_recurrence(fields: dict[str, Any]) -> None:
    """Recurrence fields belong to recurring orders, which need an interval+unit or a cron."""
    present = [f for f in RECURRENCE_FIELDS if fields.get(f) is not None]
    if not fields["is_recurring"]:
        if present:
            raise ValueError(
                f"one-time orders take no recurrence fields (got {', '.join(present)})"
            )
        return
    by_interval = fields.get("repeat_interval") is not None or fields.get("repeat_unit") is not None
    if by_interval == (fields.get("cron") is not None):
        raise ValueError("recurring orders need either repeat_interval+repeat_unit or cron")
    if by_interval and None in (fields.get("repeat_interval"), fields.get("repeat_unit")):
        raise ValueError("repeat_interval and repeat_unit go together")
    if fields.get("timezone") is not None and not fields.get("cron"):
        raise ValueError("timezone applies to cron schedules only")


class NewOrder(OrderFields):
    """POST /orders and PUT /orders/<id> (a PUT replaces every field)."""


class OrderPatch(BaseModel):
    """PATCH /orders/<id>: only the fields given change; null clears a recurrence field."""

    model_config = ConfigDict(extra="forbid")

    order_name: str | None = Field(None, min_length=1, max_length=200)
    schedule_time: AwareDatetime | None = None
    is_recurring: bool | None = None
    repeat_interval: int | None = Field(None, ge=1, le=1_000_000)
    repeat_unit: Unit | None = None
    cron: str | None = Field(None, max_length=100)
    timezone: str | None = Field(None, max_length=64)
    max_executions: int | None = Field(None, ge=1, le=1_000_000)
    payload: dict[str, Any] | None = None
    provider_id: int | None = Field(None, ge=1, description="null: no provider")


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
    created_at: datetime
    updated_at: datetime


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
