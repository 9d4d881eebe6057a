"""Request and response models for authentication; they also generate the OpenAPI schema."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field

Role = Literal["customer", "provider", "admin"]

# An address as accounts store it: validated, trimmed, lower-cased (emails are unique that way).
Email = Annotated[EmailStr, Field(max_length=254), AfterValidator(lambda v: v.strip().lower())]
Password = Annotated[str, Field(min_length=8, max_length=128)]


class Strict(BaseModel):
    """Unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class Credentials(Strict):
    email: Email
    password: Password


class User(BaseModel):
    user_id: int
    email: str
    role: Role
    created_at: datetime


class Tokens(BaseModel):
    access_token: str
    refresh_token: str | None = None
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - a scheme name, not a secret
    expires_in: int = Field(description="seconds until the access token expires")
