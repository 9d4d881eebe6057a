"""Per-account limits that protect everyone else: a request rate, a quota of active orders and
a floor on how often an order may run. The state lives in Postgres, so every API process on
every host counts the same requests; each check is one statement.

Settings (see .env.example): ORDERS_API_RATE_LIMIT requests per ORDERS_API_RATE_WINDOW_SECONDS
(429 + Retry-After past it), ORDERS_MAX_ACTIVE_ORDERS scheduled or running orders per account
(422 past it), ORDERS_MIN_INTERVAL_SECONDS between two runs of one order (422 below it).
0 turns the rate limit and the quota off.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from orders.core.errors import ApiError
from orders.database import Q
from orders.scheduling.definition import Policy
from orders.settings import Settings


@dataclass(frozen=True)
class AccountLimits:
    rate_limit: int = 0  # requests per window; 0: no limit
    rate_window: timedelta = timedelta(seconds=60)
    max_active_orders: int = 0  # 0: no quota
    min_interval_seconds: float = 1.0
    upcoming_hours: int = 24  # how far an order change expands its upcoming runs

    @classmethod
    def from_settings(cls, settings: Settings) -> AccountLimits:
        return cls(
            rate_limit=settings.api_rate_limit,
            rate_window=timedelta(seconds=settings.api_rate_window_seconds),
            max_active_orders=settings.max_active_orders,
            min_interval_seconds=settings.min_interval_seconds,
            upcoming_hours=settings.upcoming_hours,
        )

    @property
    def policy(self) -> Policy:
        return Policy(min_interval_seconds=self.min_interval_seconds)


NO_LIMITS = AccountLimits()


class RateLimited(ApiError):
    def __init__(self, limit: int, window: timedelta, retry_after: float):
        seconds = max(1, math.ceil(retry_after))
        super().__init__(
            429,
            "rate_limited",
            f"more than {limit} requests in {window.total_seconds():g} s from this account; "
            f"retry in {seconds} s",
        )
        self.headers = {"Retry-After": str(seconds)}


def check_rate(row: dict, limits: AccountLimits, now: datetime) -> None:
    """`row`: the counter the token lookup just incremented (token_user_get_counted)."""
    if limits.rate_limit and row["requests"] is not None and row["requests"] > limits.rate_limit:
        ends = row["window_started_at"] + limits.rate_window
        raise RateLimited(limits.rate_limit, limits.rate_window, (ends - now).total_seconds())


def ensure_order_quota(conn, user_id: int, limits: AccountLimits, adding: int = 1) -> None:
    """Refuse (422) orders past the account's quota of active ones. The account's creates wait
    for each other here (a transaction lock per account), so concurrent requests cannot all
    slip under the quota; the count stops at the quota (bounded by an index)."""
    if not limits.max_active_orders:
        return
    params = {"user_id": user_id, "quota": limits.max_active_orders}
    conn.execute(Q["account_quota_lock"], params)  # its own statement: the count's snapshot
    active = conn.execute(Q["account_active_orders_count"], params).fetchone()["active"]
    if active + adding > limits.max_active_orders:
        raise ApiError(
            422,
            "order_quota_exceeded",
            f"this account already has {active} active orders; at most "
            f"{limits.max_active_orders} may be scheduled or running at once "
            "(cancel some, or wait for them to complete)",
        )
