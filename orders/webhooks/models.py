"""Webhook request and response models: they validate input and generate the OpenAPI schema."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from orders.webhooks.safety import destination_of

EventType = Literal[
    "order.run_succeeded", "order.failed", "order.completed", "order.cancelled", "provider.answered"
]
DeliveryStatus = Literal["pending", "delivering", "delivered", "failed", "cancelled"]


def _check_url(value: str | None) -> str | None:
    if value is not None:
        if not value.isprintable() or any(c.isspace() for c in value):
            raise ValueError("url must not contain spaces or control characters")
        destination_of(value)  # raises ValueError with the reason
    return value


def _unique(values: list[str] | None) -> list[str] | None:
    return None if values is None else list(dict.fromkeys(values))


WebhookUrl = Annotated[
    str,
    Field(min_length=10, max_length=2000, examples=["https://example.com/hooks/orders"]),
    AfterValidator(_check_url),
]
Events = Annotated[list[EventType], Field(min_length=1, max_length=5), AfterValidator(_unique)]


class NewWebhook(BaseModel):
    """Register an endpoint: where to POST, and which events."""

    model_config = ConfigDict(extra="forbid")

    url: WebhookUrl
    events: Events
    description: str = Field("", max_length=200)


class WebhookPatch(BaseModel):
    """Change some fields; `active: false` pauses the endpoint (no new events)."""

    model_config = ConfigDict(extra="forbid")

    url: WebhookUrl | None = None
    events: Events | None = None
    description: str | None = Field(None, max_length=200)
    active: bool | None = None


class Rotation(BaseModel):
    """A new signing secret; the old one keeps signing for `previous_valid_hours` (0: not)."""

    model_config = ConfigDict(extra="forbid")

    previous_valid_hours: float = Field(24.0, ge=0, le=168)


class Webhook(BaseModel):
    endpoint_id: int
    url: str
    events: list[str]
    description: str
    active: bool
    secret_hint: str = Field(description="the last 4 characters of the signing secret")
    previous_secret_expires_at: datetime | None = Field(
        description="until then the previous secret also signs (rotation)"
    )
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Webhook:
        return cls(**row, secret_hint=row["secret"][-4:])


class WebhookWithSecret(Webhook):
    secret: str = Field(description="HMAC-SHA256 key for Orders-Signature; shown only now")


class WebhookList(BaseModel):
    webhooks: list[Webhook]


class DeliveryFilters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: DeliveryStatus | None = None
    before_id: int | None = Field(None, ge=1, description="page on: deliveries older than this")
    limit: int = Field(50, ge=1, le=200)


class Delivery(BaseModel):
    delivery_id: int
    endpoint_id: int
    event_id: str = Field(description="the event's id, sent as Idempotency-Key")
    event_type: str
    order_id: int | None
    sequence: int | None = Field(description="per order 1, 2, 3...: order events by it")
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    last_response: str | None
    delivered_at: datetime | None
    created_at: datetime


class DeliveryPage(BaseModel):
    deliveries: list[Delivery]
    next_before_id: int | None


class Attempt(BaseModel):
    attempt: int
    url: str
    status_code: int | None
    duration_ms: int | None
    response_excerpt: str | None
    error: str | None
    worker: str
    started_at: datetime


class DeliveryDetail(Delivery):
    payload: dict[str, Any] = Field(description="the JSON body posted on every attempt")
    history: list[Attempt]
