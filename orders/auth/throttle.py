"""Login throttling: past a number of failures in a window, an account (by email, known or not)
or a client address is locked for a while, doubling with each further failure. Kept in Postgres
so that every API process shares it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from orders.config import Settings
from orders.db import Q
from orders.errors import ApiError


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
            max_lock=timedelta(seconds=settings.login_max_lockout_seconds),
        )


class TooManyAttempts(ApiError):
    def __init__(self, retry_after: float):
        seconds = max(1, math.ceil(retry_after))
        super().__init__(429, "too_many_attempts", f"too many failed logins; retry in {seconds} s")
        self.headers = {"Retry-After": str(seconds)}


def ensure_allowed(conn, account: str, address: str, now: datetime) -> None:
    """Refuse (429) while the account or the address is locked."""
    params = {"account": account, "address": address, "now": now}
    locked_until = conn.execute(Q["login_lock_get"], params).fetchone()["locked_until"]
    if locked_until is not None:
        raise TooManyAttempts((locked_until - now).total_seconds())


def record_failure(conn, account: str, address: str, now: datetime, limits: Limits) -> None:
    for scope, key, limit in (
        ("account", account, limits.per_account),
        ("address", address, limits.per_address),
    ):
        params = {"scope": scope, "key": key, "now": now, "window": limits.window}
        failures = conn.execute(Q["login_failure_record"], params).fetchone()["failures"]
        if failures >= limit:
            lock = {"failures": failures, "limit": limit, "lockout": limits.lockout}
            conn.execute(Q["login_failure_lock"], params | lock | {"max_lock": limits.max_lock})


def clear(conn, account: str) -> None:
    conn.execute(Q["login_failure_clear"], {"account": account})
