"""Request and response models for authentication; they also generate the OpenAPI schema."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field

Role = Literal["customer", "provider", "admin"]

# An address as accounts store it: validated, trimmed, lower-cased (emails are unique that way).
# The pattern tells API clients (and schemathesis) the common shape email-validator accepts:
# a dot-atom local part and a domain with a public-looking top-level label. The validator stays
# the authority (it also refuses special-use domains such as .test and .invalid).
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
EMAIL_PATTERN = (
    rf"^{_ATOM}(?:\.{_ATOM})*@(?:{_LABEL}\.)+"
    r"(?!(?:arpa|invalid|local|localhost|onion|test)$)[A-Za-z]{2,63}$"
)
Email = Annotated[
    EmailStr,
    Field(max_length=254, json_schema_extra={"pattern": EMAIL_PATTERN}),
    AfterValidator(lambda v: v.strip().lower()),
]
Password = Annotated[str, Field(min_length=8, max_length=128)]
AnyPassword = Annotated[str, Field(max_length=1024)]  # a wrong one is a 401, whatever its length


class Strict(BaseModel):
    """Unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class Credentials(Strict):
    """Signup: a new account's email and password (8-128 characters)."""

    email: Email
    password: Password


class LoginCredentials(Strict):
    """Login: any password string is checked, so every wrong one is the same 401."""

    email: Email
    password: AnyPassword


class PasswordChange(Strict):
    current_password: AnyPassword
    new_password: Password


class PasswordConfirmation(Strict):
    """Deleting an account asks for its password again."""

    password: AnyPassword


class User(BaseModel):
    user_id: int
    email: str
    role: Role
    created_at: datetime


class Tokens(BaseModel):
    access_token: str
    refresh_token: str = Field(
        description="use once: POST /auth/refresh answers with a new one (keep it); reusing an "
        "old one ends the session"
    )
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - a scheme name, not a secret
    expires_in: int = Field(description="seconds until the access token expires")


class SessionsEnded(BaseModel):
    sessions_ended: int = Field(description="sessions of the account that were ended")


class AccountDeleted(BaseModel):
    user_id: int
    deleted_at: datetime
    orders_cancelled: int
