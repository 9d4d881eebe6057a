"""Sessions: a login starts one, and every token names it (claim `sid`).

- Ending a session (logout, logout-all, a password change for the others, account deletion)
  ends its access and its refresh tokens at once: each request checks its session.
- Refresh tokens rotate: each POST /auth/refresh answers with a new refresh token and the old
  one is spent. A spent refresh token presented again means two parties hold the session (a
  copy was stolen), so the session ends for both: theft detection by refresh-token family.
- Grace: two tabs or retries refreshing at the same moment present the same token. Within
  ORDERS_REFRESH_GRACE_SECONDS of a rotation, the token it replaced still answers, with the
  session's current refresh token (the family keeps one live refresh token).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from orders.accounts.models import Tokens, User
from orders.core.errors import ApiError
from orders.database import Database, Q
from orders.settings import Settings

# (identity, claims, lifetime or None for the signer's own, is it a refresh token) -> a JWT;
# the web layer signs (orders/web/tokens.py), so this module knows no framework.
Signer = Callable[[str, dict, timedelta | None, bool], str]


@dataclass(frozen=True)
class Policy:
    access: timedelta
    refresh: timedelta
    grace: timedelta
    sign: Signer

    @classmethod
    def from_settings(cls, settings: Settings, sign: Signer) -> Policy:
        return cls(
            access=timedelta(minutes=settings.access_token_minutes),
            refresh=timedelta(days=settings.refresh_token_days),
            grace=timedelta(seconds=settings.refresh_grace_seconds),
            sign=sign,
        )


class SessionEnded(ApiError):
    def __init__(self, message: str, code: str = "session_ended"):
        super().__init__(401, code, message)


def start(db: Database, user: User, policy: Policy) -> Tokens:
    """A new session for `user` (a login), with its first tokens."""
    now, refresh_jti = datetime.now(UTC), uuid.uuid4()
    params = {
        "user_id": user.user_id,
        "refresh_jti": refresh_jti,
        "refresh_expires_at": now + policy.refresh,
        "now": now,
    }
    with db.transaction(actor=f"user:{user.user_id}") as conn:
        session_id = conn.execute(Q["auth_session_insert"], params).fetchone()["session_id"]
    return _tokens(user, session_id, refresh_jti, params["refresh_expires_at"], policy)


def refresh(db: Database, user: User, claims: dict, policy: Policy) -> Tokens:
    """Rotate the session's refresh token: new tokens, or 401 when the token was spent."""
    now = datetime.now(UTC)
    key = {"session_id": claims["sid"], "user_id": user.user_id}
    rotation = {"new_jti": uuid.uuid4(), "refresh_expires_at": now + policy.refresh}
    with db.transaction(actor=f"user:{user.user_id}") as conn:
        params = key | rotation | {"jti": claims["jti"], "now": now}
        if conn.execute(Q["auth_session_rotate"], params).fetchone():
            current = (rotation["new_jti"], rotation["refresh_expires_at"])
        else:
            current = _after_spent_token(conn, key, claims["jti"], now, policy)
    if current is None:
        raise SessionEnded(
            "this refresh token was already used, so it may have been copied: the session has "
            "ended for safety; log in again",
            "refresh_token_reused",
        )
    return _tokens(user, claims["sid"], *current, policy)


def _after_spent_token(conn, key: dict, jti: str, now: datetime, policy: Policy):
    """Within the grace period: the session's current refresh token; else end the session."""
    row = conn.execute(Q["auth_session_get_for_update"], key).fetchone()
    if row is None or row["ended_at"] is not None:
        return None
    if str(row["previous_jti"]) == jti and row["rotated_at"] > now - policy.grace:
        return row["refresh_jti"], row["refresh_expires_at"]
    conn.execute(Q["auth_session_end"], key | {"now": now, "reason": "refresh_reused"})
    return None


def end(db: Database, user_id: int, session_id: str, reason: str = "logout") -> None:
    params = {"session_id": session_id, "user_id": user_id, "now": datetime.now(UTC)}
    with db.transaction(actor=f"user:{user_id}") as conn:
        conn.execute(Q["auth_session_end"], params | {"reason": reason})


def end_everywhere(db: Database, user_id: int, reason: str) -> int:
    """End every live session of the account; how many ended."""
    with db.transaction(actor=f"user:{user_id}") as conn:
        return end_all(conn, user_id, reason)


def end_all(conn, user_id: int, reason: str, keep: str | None = None) -> int:
    """End every live session of the account but `keep`, on the caller's transaction."""
    params = {"user_id": user_id, "keep": keep, "now": datetime.now(UTC), "reason": reason}
    return conn.execute(Q["auth_session_end_all"], params).rowcount


def _tokens(user: User, session_id, refresh_jti, refresh_expires_at, policy: Policy) -> Tokens:
    identity, claims = str(user.user_id), {"role": user.role, "sid": str(session_id)}
    refresh_claims = claims | {"jti": str(refresh_jti), "exp": refresh_expires_at}
    return Tokens(
        access_token=policy.sign(identity, claims, policy.access, False),
        refresh_token=policy.sign(identity, refresh_claims, None, True),
        expires_in=int(policy.access.total_seconds()),
    )
