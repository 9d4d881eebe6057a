"""Deliver due outbox mail: one message per transaction, marked sent only after SMTP accepted it.

Each message is claimed with FOR UPDATE SKIP LOCKED, so concurrent senders never send the same
row, and the row stays locked while SMTP talks. The transaction commits right after the server
accepts (or refuses) the message. Delivery is therefore AT LEAST ONCE: if the process dies or
the database is lost between the server's acceptance and that commit, the row is still pending
and is sent again (at most one message per dead sender). The Message-ID is derived from
outbox_id, so such a duplicate is recognisable. The alternative, marking sent before sending,
would lose mail instead; a lost notice is worse than a repeated one.

The SMTP server has a circuit breaker (orders/webhooks/circuits.py) shared by every sender: once it
failed ORDERS_CIRCUIT_FAILURE_THRESHOLD runs in a row, runs attempt nothing (mail keeps its
attempts) until the cool-down ends; then one run's first message is the probe.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from psycopg.rows import dict_row

from orders.database import Q
from orders.mail.transport import Transport, TransportUnavailable, build_message, is_permanent
from orders.settings import Settings
from orders.webhooks import circuits

log = logging.getLogger(__name__)
PROBE_LEASE_SECONDS = 120.0  # a probe run that dies: another may probe after this
DEFAULT_BREAKER = circuits.Breaker(threshold=5, cooldown_seconds=60.0)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Policy:
    """Who mail is from, and how failed attempts are retried."""

    sender: str
    max_attempts: int
    base_seconds: float
    breaker: circuits.Breaker = DEFAULT_BREAKER

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(
            settings.smtp_from,
            settings.mail_max_attempts,
            settings.mail_retry_base_seconds,
            circuits.Breaker.from_settings(settings),
        )


@dataclass
class Delivery:
    sent: int = 0
    refused: int = 0
    unavailable: str | None = None  # why sending stopped early, if it did
    circuit_open: bool = False  # nothing was attempted (the change was logged when it opened)


async def deliver_due(
    conn, transport: Transport, policy: Policy, clock: Callable[[], datetime] = utc_now
) -> Delivery:
    """Send every due message; stop early when the server cannot be reached or its circuit
    is open (then nothing is attempted)."""
    result = Delivery()
    destination = getattr(transport, "destination", None)  # only SMTP has a circuit
    try:
        if destination and await _circuit_open(conn, destination, clock()):
            result.unavailable = f"SMTP circuit open for {destination}: nothing attempted"
            result.circuit_open = True
        while result.unavailable is None:
            async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
                claimed = await cur.execute(Q["outbox_claim_next"], {"now": clock()})
                row = await claimed.fetchone()
                if row is None:
                    break
                await _attempt(cur, row, transport, policy, clock, result)
    finally:
        transport.close()
    return result


async def _circuit_open(conn, destination: str, now: datetime) -> bool:
    """True while the circuit is open; past the cool-down this run's first message probes."""
    return await circuits.gate(conn, "smtp", destination, now, PROBE_LEASE_SECONDS) == "open"


async def _attempt(cur, row: dict[str, Any], transport, policy: Policy, clock, result) -> None:
    try:
        await asyncio.to_thread(transport.send, build_message(row, policy.sender))
    except TransportUnavailable as exc:  # every due message shares this attempt and its error
        result.unavailable = str(exc)
        await _record_failure(cur, row, exc, policy, clock(), all_due=True)
        await _circuit(cur, transport, False, repr(exc), policy, clock())
    except Exception as exc:  # refused: kept in outbox.last_error, retried later
        result.refused += 1
        await _record_failure(cur, row, exc, policy, clock(), permanent=is_permanent(exc))
        await _circuit(cur, transport, True, None, policy, clock())  # the server answered
    else:
        result.sent += 1
        await cur.execute(Q["outbox_mark_sent"], {"outbox_id": row["outbox_id"], "now": clock()})
        await _circuit(cur, transport, True, None, policy, clock())


async def _circuit(cur, transport, ok: bool, error, policy: Policy, now: datetime) -> None:
    if destination := getattr(transport, "destination", None):
        await circuits.record(cur, "smtp", destination, ok, error, now, policy.breaker)


async def _record_failure(
    cur, row, exc: BaseException, policy: Policy, now: datetime, **scope: bool
) -> None:
    log.warning("mail %s to %s not sent: %r", row["outbox_id"], row["recipient"], exc)
    await cur.execute(
        Q["outbox_record_failure"],
        {
            "outbox_id": row["outbox_id"],
            "error": repr(exc)[:2000],
            "now": now,
            "max_attempts": policy.max_attempts,
            "base_seconds": policy.base_seconds,
            "permanent": scope.get("permanent", False),
            "all_due": scope.get("all_due", False),
        },
    )
