"""One webhook attempt: the signed POST, bounded in time, and its outcome (never an exception).

The policy says how long an attempt may take, how long a claim is held, how retries back off,
and builds the HTTP client: guarded against non-public addresses (safety.py), no redirects, no
proxies from the environment.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from orders.settings import Settings
from orders.webhooks import circuits
from orders.webhooks.safety import GuardedTransport
from orders.webhooks.signing import HEADER, signature_header

EXCERPT_BYTES = 1024
USER_AGENT = "orders-webhooks/1"


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Policy:
    connect_timeout: float
    read_timeout: float
    max_attempts: int
    retry_base: float
    retry_max: float
    concurrency: int
    per_destination: int
    allow_private: bool
    breaker: circuits.Breaker
    time_budget: float = 60.0  # then the loop hands over (wakes another) and ends its job

    @classmethod
    def from_settings(cls, s: Settings) -> Policy:
        return cls(
            s.webhook_connect_timeout_seconds,
            s.webhook_read_timeout_seconds,
            s.webhook_max_attempts,
            s.webhook_retry_base_seconds,
            s.webhook_retry_max_seconds,
            s.webhook_concurrency,
            s.webhook_max_per_destination,
            s.webhook_allow_private_targets,
            circuits.Breaker.from_settings(s),
        )

    @property
    def attempt_seconds(self) -> float:
        """The longest one attempt may take, end to end."""
        return self.connect_timeout + self.read_timeout + 2.0

    @property
    def lease(self) -> float:
        """How long a claimed delivery is ours: the attempt, and time to record it."""
        return self.attempt_seconds + 10.0

    def retry_in(self, attempt: int) -> float:
        """Exponential backoff with "equal jitter": half fixed, half random."""
        wait = min(self.retry_max, self.retry_base * 2 ** (attempt - 1))
        return wait / 2 + random.uniform(0, wait / 2)  # noqa: S311 - jitter, not a secret

    def client(self) -> httpx.AsyncClient:
        timeout = httpx.Timeout(
            self.read_timeout, connect=self.connect_timeout, pool=self.attempt_seconds
        )
        return httpx.AsyncClient(
            transport=GuardedTransport(self.allow_private, self.concurrency),
            timeout=timeout,
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": USER_AGENT, "Content-Type": "application/json"},
        )


@dataclass
class Outcome:
    claim: dict[str, Any]
    started_at: datetime
    status_code: int | None = None
    duration_ms: int = 0
    excerpt: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.status_code is not None and self.status_code < 300


async def post(client: httpx.AsyncClient, claim: dict, policy: Policy, clock=utc_now) -> Outcome:
    """One signed POST; never raises (the outcome carries the error)."""
    body = claim["body"].encode()
    outcome, started = Outcome(claim, clock()), time.monotonic()
    headers = {
        "Idempotency-Key": claim["event_id"],
        "Orders-Event-Id": claim["event_id"],
        "Orders-Event-Type": claim["event_type"],
        "Orders-Delivery-Id": str(claim["delivery_id"]),
        "Orders-Delivery-Attempt": str(claim["attempt"]),
        HEADER: signature_header(claim["secrets"], int(time.time()), body),
    }
    try:
        async with asyncio.timeout(policy.attempt_seconds):
            await _exchange(client, claim["url"], body, headers, outcome)
    except TimeoutError:
        outcome.error = f"timed out after {policy.attempt_seconds:g} s"
    except httpx.TimeoutException as exc:
        outcome.error = f"timeout: {type(exc).__name__}"
    except httpx.HTTPError as exc:
        outcome.error = f"{type(exc).__name__}: {exc}"[:1000]
    outcome.duration_ms = int((time.monotonic() - started) * 1000)
    return outcome


async def _exchange(client, url: str, body: bytes, headers: dict, outcome: Outcome) -> None:
    async with client.stream("POST", url, content=body, headers=headers) as response:
        outcome.status_code = response.status_code
        excerpt = b""
        async for chunk in response.aiter_bytes():
            excerpt += chunk
            if len(excerpt) >= EXCERPT_BYTES:
                break
    outcome.excerpt = excerpt[:EXCERPT_BYTES].decode("utf-8", "replace").replace("\x00", "")
    if response.is_redirect:
        where = response.headers.get("Location", "?")[:200]
        outcome.error = f"redirect refused: {response.status_code} to {where}"
    elif response.status_code >= 300:
        outcome.error = f"HTTP {response.status_code}"
