"""Provider and provider-request models: they validate input and generate the OpenAPI schema."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from orders.accounts.models import Email, Password

RequestStatus = Literal["pending", "fulfilled", "declined"]
ANSWERS: dict[str, RequestStatus] = {"fulfil": "fulfilled", "decline": "declined"}
DAY = timedelta(days=1)


class Provider(BaseModel):
    provider_id: int
    name: str
    expected_response_hours: int


class ProviderList(BaseModel):
    providers: list[Provider]


class NewProvider(BaseModel):
    """`orders providers add`: the provider, and its login if a password is given."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    email: Email
    expected_response_hours: int = Field(ge=1, le=24 * 365)
    password: Password | None = None

    @field_validator("name")
    @classmethod
    def _name_is_one_line(cls, value: str) -> str:
        if not value.strip() or not value.isprintable():
            raise ValueError("name must be non-blank printable text on one line")
        return value.strip()


class CreatedProvider(BaseModel):
    provider_id: int
    user_id: int | None
    name: str
    email: str
    expected_response_hours: int
    created_at: datetime


class OrderRequest(BaseModel):
    """A provider request as the customer who owns the order sees it."""

    request_id: int
    order_id: int
    run_number: int
    provider_id: int
    provider_name: str
    status: RequestStatus
    expected_response_at: datetime
    wait_days: int | None = Field(description="days left until the answer is due; null if answered")
    wait: str = Field(examples=["wait 2 days", "answer overdue", "fulfilled"])
    notified_at: datetime | None = Field(description="when the provider's digest listed it")
    response_message: str | None
    responded_at: datetime | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: dict[str, Any], now: datetime) -> OrderRequest:
        days = wait_days(row["status"], row["expected_response_at"], now)
        return cls(**row, wait_days=days, wait=wait_phrase(row["status"], days))


def wait_days(status: str, expected_at: datetime, now: datetime) -> int | None:
    """Whole days (rounded up) until the answer is expected; 0 when overdue; None if answered."""
    if status != "pending":
        return None
    return max(0, math.ceil((expected_at - now) / DAY))


def wait_phrase(status: str, days: int | None) -> str:
    if days is None:
        return status
    if days == 0:
        return "answer overdue"
    return f"wait {days} day{'s' if days > 1 else ''}"


class OrderRequests(BaseModel):
    order_id: int
    requests: list[OrderRequest]
    next_cursor: str | None = Field(
        description="pass as ?cursor= for the next (later) runs' requests; null at the end"
    )


class InboxRequest(BaseModel):
    """A request as its provider sees it."""

    request_id: int
    order_id: int
    order_name: str
    payload: dict[str, Any]
    run_number: int
    status: RequestStatus
    expected_response_at: datetime
    notified_at: datetime | None
    response_message: str | None
    responded_at: datetime | None
    created_at: datetime


class Inbox(BaseModel):
    requests: list[InboxRequest]
    next_after_id: int | None = Field(description="pass as ?after_id= for the next page")


class InboxFilters(BaseModel):
    """Query string of GET /provider/requests."""

    model_config = ConfigDict(extra="forbid")

    status: RequestStatus | None = None
    after_id: int = Field(0, ge=0, description="only requests with a greater id (paging)")
    limit: int = Field(100, ge=1, le=500)


class Answer(BaseModel):
    """POST /provider/requests/respond: answer one or many requests, all or nothing."""

    model_config = ConfigDict(extra="forbid")

    request_ids: list[int] = Field(min_length=1, max_length=500)
    action: Literal["fulfil", "decline"]
    message: str | None = Field(None, max_length=2000, description="required to decline")

    @field_validator("request_ids")
    @classmethod
    def _distinct(cls, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise ValueError("request_ids must not repeat")
        return sorted(value)

    @model_validator(mode="after")
    def _decline_says_why(self) -> Answer:
        if self.action == "decline" and not (self.message or "").strip():
            raise ValueError("declining needs a message for the customer")
        return self


class Answered(BaseModel):
    requests: list[InboxRequest]
    customer_mails_queued: int = Field(description="0 when customers are told in a batch later")
