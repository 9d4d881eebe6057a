"""Dashboard response models (they also generate the OpenAPI schema)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class MailCount(BaseModel):
    kind: str
    status: str
    count: int
    oldest: datetime


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
