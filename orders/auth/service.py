"""Accounts and tokens: signup, login, token issue and revocation."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import current_app, g
from flask_jwt_extended import create_access_token, create_refresh_token
from psycopg.errors import UniqueViolation
from werkzeug.security import check_password_hash, generate_password_hash

from orders.auth import throttle
from orders.auth.models import Credentials, Role, Tokens, User
from orders.config import Settings
from orders.db import Database, Q
from orders.errors import ApiError, Conflict, NotFound

# Checked when the email is unknown so that both failures take the same time (no enumeration).
_DUMMY_HASH = generate_password_hash("not-a-real-password")


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


def login(db: Database, settings: Settings, creds: Credentials, address: str) -> Tokens:
    """Check the password, unless the account or the client address is locked (429)."""
    now, account = datetime.now(UTC), creds.email.lower()
    with db.transaction() as conn:
        throttle.ensure_allowed(conn, account, address, now)
        row = conn.execute(Q["user_get_by_email"], {"email": creds.email}).fetchone()
    if not check_password_hash(row["password_hash"] if row else _DUMMY_HASH, creds.password):
        with db.transaction() as conn:
            throttle.record_failure(
                conn, account, address, now, throttle.Limits.from_settings(settings)
            )
        raise ApiError(401, "invalid_credentials", "invalid email or password")
    with db.transaction() as conn:
        throttle.clear(conn, account)
    return issue_tokens(User(**row), with_refresh=True)


def issue_tokens(user: User, with_refresh: bool) -> Tokens:
    identity, claims = str(user.user_id), {"role": user.role}
    expires = current_app.config["JWT_ACCESS_TOKEN_EXPIRES"]
    return Tokens(
        access_token=create_access_token(identity, additional_claims=claims),
        refresh_token=create_refresh_token(identity, additional_claims=claims)
        if with_refresh
        else None,
        expires_in=int(expires.total_seconds()),
    )


def token_user(db: Database, jwt_payload: dict) -> tuple[User | None, bool]:
    """(the token's user or None if deleted, whether the token is revoked), cached per request."""
    if "token_user" not in g:
        params = {"user_id": int(jwt_payload["sub"]), "jti": jwt_payload["jti"]}
        with db.read() as conn:
            row = conn.execute(Q["token_user_get"], params).fetchone()
        g.token_user = (None, False) if row is None else (User(**row), row["revoked"])
    return g.token_user


def revoke_token(db: Database, jwt_payload: dict) -> None:
    params = {
        "jti": jwt_payload["jti"],
        "user_id": int(jwt_payload["sub"]),
        "token_type": jwt_payload["type"],
        "expires_at": datetime.fromtimestamp(jwt_payload["exp"], UTC),
    }
    with db.transaction() as conn:
        conn.execute(Q["revoked_token_insert"], params)


def set_role(db: Database, email: str, role: Role) -> User:
    with db.transaction() as conn:
        row = conn.execute(Q["user_set_role"], {"email": email, "role": role}).fetchone()
    if row is None:
        raise NotFound("account")
    return User(**row)
