"""Operator views (dashboard and CLI) as models: they also generate the OpenAPI schema."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from orders.scheduling.models import Order


class MailCount(BaseModel):
    kind: str
    status: str
    count: int
    oldest: datetime | None = Field(description="pending mail: when the oldest was queued")


class MailProblem(BaseModel):
    outbox_id: int
    kind: str
    recipient: str
    subject: str
    status: str
    attempts: int
    last_error: str | None
    next_attempt_at: datetime
    created_at: datetime


class MailDashboard(BaseModel):
    counts: list[MailCount]
    problems: list[MailProblem]


class StatusCount(BaseModel):
    status: str
    n: int


class QueueDepth(BaseModel):
    queue_name: str
    status: str
    n: int
    oldest_due_waiting: float | None


class Lateness(BaseModel):
    """Now: overdue and stuck orders. Since the window start: runs and their lateness (s)."""

    overdue: int
    stuck: int
    max_lateness: float
    runs: int
    failed: int
    p50: float
    p95: float
    max: float


class WorkerRow(BaseModel):
    worker_id: int
    last_heartbeat: datetime
    heartbeat_age: float
    jobs_running: int


class ThroughputPoint(BaseModel):
    minute: datetime
    executions: int
    failed: int


class JobAttempt(BaseModel):
    attempt: int
    error: str
    worker: str
    occurred_at: datetime


class FailedOrder(BaseModel):
    order_id: int
    email: str
    order_name: str
    is_recurring: bool
    executions_count: int
    last_error: str | None
    failed_at: datetime
    job_id: int | None
    attempts: int | None
    history: list[JobAttempt] = []


class RecurringOrder(BaseModel):
    order_id: int
    email: str
    order_name: str
    repeat_interval: int | None
    repeat_unit: str | None
    cron: str | None
    executions_count: int
    max_executions: int | None
    next_run_at: datetime | None
    status: str


class StuckOrder(BaseModel):
    order_id: int
    order_name: str
    status: str
    next_run_at: datetime | None
    late_seconds: float | None
    job_id: int | None
    job_status: str


class Overview(BaseModel):
    generated_at: datetime
    window_hours: float
    orders: list[StatusCount]
    queues: list[QueueDepth]
    lateness: Lateness
    workers: list[WorkerRow]
    throughput: list[ThroughputPoint]
    failed: list[FailedOrder]
    recurring: list[RecurringOrder]
    stuck: list[StuckOrder]


class TimelineEntry(BaseModel):
    at: datetime
    source: str
    entry_id: int = Field(description="the row's id in its source (event, execution, error)")
    event: str
    from_status: str | None
    to_status: str | None
    job_id: int | None
    actor: str | None
    detail: str | None


class OrderDetail(BaseModel):
    order: Order
    timeline: list[TimelineEntry] = Field(description="newest first")
    next_cursor: str | None = Field(
        description="pass as ?cursor= for the next (older) entries; null at the end"
    )


class TableSize(BaseModel):
    table_name: str
    rows_estimate: int = Field(description="from the planner's statistics, not a count")
    bytes: int


class WebhookSummary(BaseModel):
    pending: int
    delivering: int
    failed: int
    oldest_due_seconds: float


class CircuitRow(BaseModel):
    kind: str
    destination: str
    state: str
    consecutive_failures: int
    opened_at: datetime | None
    retry_at: datetime | None
    last_error: str | None
    last_failure_at: datetime | None
    last_success_at: datetime | None
    opens: int
    closes: int


class WebhookProblem(BaseModel):
    delivery_id: int
    email: str
    url: str
    destination: str
    event_type: str
    order_id: int | None
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime
    circuit_state: str
    created_at: datetime


class Downstream(BaseModel):
    """What leaves the system: webhook deliveries, their problems, and circuit breakers."""

    webhooks: WebhookSummary
    circuits: list[CircuitRow]
    problems: list[WebhookProblem]
