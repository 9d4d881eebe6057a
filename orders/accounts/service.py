"""Accounts: signup, login, the token's user, password checks and roles."""

from __future__ import annotations

import functools
import uuid
from datetime import UTC, datetime

from psycopg.errors import UniqueViolation
from werkzeug.security import check_password_hash, generate_password_hash

from orders.accounts import sessions, throttle
from orders.accounts.limits import NO_LIMITS, AccountLimits, check_rate
from orders.accounts.models import Credentials, LoginCredentials, Role, Tokens, User
from orders.core.errors import ApiError, Conflict, NotFound
from orders.database import Database, Q


@functools.cache
def _dummy_hash() -> str:
    """Checked when the email is unknown so that both failures take the same time (no
    enumeration); hashed on first use, not at import (it costs a full password hash)."""
    return generate_password_hash("not-a-real-password")


class InvalidCredentials(ApiError):
    def __init__(self):
        super().__init__(401, "invalid_credentials", "invalid email or password")


def create_user(db: Database, creds: Credentials, role: Role = "customer") -> User:
    params = {
        "email": creds.email,
        "password_hash": generate_password_hash(creds.password),
        "role": role,
    }
    try:
        with db.transaction(actor="signup") as conn:
            return User(**conn.execute(Q["user_insert"], params).fetchone())
    except UniqueViolation:
        raise Conflict("an account with this email already exists", "email_taken") from None


def login(
    db: Database,
    limits: throttle.Limits,
    policy: sessions.Policy,
    creds: LoginCredentials,
    address: str,
) -> Tokens:
    """Check the password (throttled per account and address), then start a session."""
    account = creds.email.lower()
    throttle.begin_attempt(db, account, address, datetime.now(UTC), limits)
    with db.read() as conn:
        row = conn.execute(Q["user_get_by_email"], {"email": account}).fetchone()
    if not check_password_hash(row["password_hash"] if row else _dummy_hash(), creds.password):
        raise InvalidCredentials()
    throttle.succeeded(db, account, address, limits)
    return sessions.start(db, User(**row), policy)


def verify_password(
    db: Database, limits: throttle.Limits, user: User, password: str, address: str
) -> None:
    """Ask again for the password of a signed-in account (before changing or deleting it),
    throttled like a login: a stolen token alone cannot guess it."""
    throttle.begin_attempt(db, user.email, address, datetime.now(UTC), limits)
    with db.read() as conn:
        row = conn.execute(Q["user_get_by_email"], {"email": user.email}).fetchone()
    if row is None or not check_password_hash(row["password_hash"], password):
        raise InvalidCredentials()
    throttle.succeeded(db, user.email, address, limits)


def token_user(
    db: Database, jwt_payload: dict, limits: AccountLimits = NO_LIMITS
) -> tuple[User | None, bool]:
    """(the token's user or None if deleted, whether its session has ended); counts the
    request against the account's rate limit (429 past it)."""
    now = datetime.now(UTC)
    params = {
        "user_id": _int_or_none(jwt_payload.get("sub")),
        "session_id": _uuid_or_none(jwt_payload.get("sid")),
        "now": now,
        "window": limits.rate_window,
    }
    query = "token_user_get_counted" if limits.rate_limit else "token_user_get"
    with db.read() as conn:
        row = conn.execute(Q[query], params).fetchone()
    if row is None:
        return None, False
    check_rate(row, limits, now)
    return User(**row), row["revoked"]


def _int_or_none(value) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 < number < 2**63 else None


def _uuid_or_none(value) -> str | None:
    """Tokens issued before sessions existed have no `sid`: they match no session."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return None


def set_role(db: Database, email: str, role: Role) -> User:
    with db.transaction() as conn:
        row = conn.execute(Q["user_set_role"], {"email": email, "role": role}).fetchone()
    if row is None:
        raise NotFound("account")
    return User(**row)
