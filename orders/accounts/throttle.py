"""Login throttling: past a number of failures in a window, an account (by email, known or not)
or a client address is locked for a while, doubling with each further failure. Kept in Postgres
so that every API process shares it.

Check and count are one step: an attempt is counted *before* its password is checked, in a
transaction that holds the key's row, and the attempt that reaches a limit locks the key right
there. So N concurrent guesses cannot all pass a check made before any of them was counted: at
most the limit get to try a password. A right password gives the attempt back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from orders.core.errors import ApiError
from orders.database import Database, Q
from orders.settings import Settings

MAX_LOCKOUT = timedelta(seconds=900)  # the lockout doubles per failure up to this


@dataclass(frozen=True)
class Limits:
    per_account: int
    per_address: int
    window: timedelta
    lockout: timedelta
    max_lock: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            per_account=settings.login_max_failures_per_account,
            per_address=settings.login_max_failures_per_address,
            window=timedelta(seconds=settings.login_window_seconds),
            lockout=timedelta(seconds=settings.login_lockout_seconds),
            max_lock=MAX_LOCKOUT,
        )


class TooManyAttempts(ApiError):
    def __init__(self, retry_after: float):
        seconds = max(1, math.ceil(retry_after))
        super().__init__(429, "too_many_attempts", f"too many failed logins; retry in {seconds} s")
        self.headers = {"Retry-After": str(seconds)}


def begin_attempt(db: Database, account: str, address: str, now: datetime, limits: Limits) -> None:
    """Count one attempt for the account and the address, or refuse it (429) while either is
    locked. Commits before the password is checked, so other attempts see the count."""
    params = {"account": account, "address": address, "now": now, "window": limits.window}
    with db.transaction() as conn:
        counted = conn.execute(Q["login_attempt_count"], params).fetchall()
        for row in counted:
            limit = limits.per_account if row["scope"] == "account" else limits.per_address
            if row["failures"] >= limit:
                key = account if row["scope"] == "account" else address
                lock = {"scope": row["scope"], "key": key, "failures": row["failures"]}
                conn.execute(Q["login_failure_lock"], params | lock | _lock_params(limits, limit))
    if len(counted) < 2:  # a key was locked before this attempt
        with db.read() as conn:
            locked_until = conn.execute(Q["login_lock_get"], params).fetchone()["locked_until"]
        raise TooManyAttempts((locked_until - now).total_seconds() if locked_until else 1)


def _lock_params(limits: Limits, limit: int) -> dict:
    return {"limit": limit, "lockout": limits.lockout, "max_lock": limits.max_lock}


def succeeded(db: Database, account: str, address: str, limits: Limits) -> None:
    """The password was right: the account's failures are forgotten, the address's attempt
    given back."""
    params = {"account": account, "address": address, "per_address": limits.per_address}
    with db.transaction() as conn:
        conn.execute(Q["login_attempt_succeeded"], params)
