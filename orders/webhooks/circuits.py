"""Circuit breakers shared by every worker, kept in Postgres (table `circuits`, sql/0040).

A destination (a webhook host:port, the SMTP server) whose attempts fail
ORDERS_CIRCUIT_FAILURE_THRESHOLD times in a row is *open*: nothing is attempted for
ORDERS_CIRCUIT_COOLDOWN_SECONDS, then one caller takes the single probe (*half-open*); its
success closes the circuit, its failure re-opens it. Work for an open destination waits and
spends no attempts. Each state change is logged once here, by the caller that made it, and
counted in the row (`opens`, `half_opens`, `closes`) for /metrics; deliveries are not logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from psycopg.rows import dict_row

from orders.database import Database, Q
from orders.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Breaker:
    threshold: int
    cooldown_seconds: float

    @classmethod
    def from_settings(cls, settings: Settings) -> Breaker:
        return cls(settings.circuit_failure_threshold, settings.circuit_cooldown_seconds)


def log_change(kind: str, destination: str, change: dict) -> None:
    """The one log line per state change."""
    after = f" after {change['failures']} consecutive failures" if change.get("failures") else ""
    log.warning(
        "circuit %s %s: %s -> %s%s",
        kind,
        destination,
        change["from_state"],
        change["to_state"],
        after,
    )


async def record(
    cur, kind: str, destination: str, ok: bool, error: str | None, now: datetime, b: Breaker
) -> None:
    """One outcome (success or failure) for `destination`, inside the caller's transaction."""
    params = {
        "kind": kind,
        "destination": destination,
        "ok": ok,
        "error": error,
        "now": now,
        "threshold": b.threshold,
        "cooldown": b.cooldown_seconds,
    }
    for change in await (await cur.execute(Q["circuit_record"], params)).fetchall():
        log_change(kind, destination, change)


async def take_probes(
    cur, kind: str, destination: str | None, now: datetime, lease: float
) -> list[str]:
    """Destinations whose cool-down ended and whose single probe is now this caller's."""
    params = {"kind": kind, "destination": destination, "now": now, "lease": lease}
    rows = await (await cur.execute(Q["circuit_take_probes"], params)).fetchall()
    for row in rows:
        if row["from_state"] == "open":
            log_change(kind, row["destination"], row | {"to_state": "half_open"})
    return [row["destination"] for row in rows]


async def gate(conn, kind: str, destination: str, now: datetime, lease: float) -> str:
    """'closed': go ahead; 'probe': send one attempt, it decides; 'open': attempt nothing."""
    async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        params = {"kind": kind, "destination": destination}
        row = await (await cur.execute(Q["circuit_get"], params)).fetchone()
        if row is None or row["state"] == "closed":
            return "closed"
        return "probe" if await take_probes(cur, kind, destination, now, lease) else "open"


def list_circuits(db: Database, limit: int = 500) -> list[dict]:
    with db.read() as conn:
        return conn.execute(Q["circuit_list"], {"limit": limit}).fetchall()


def reset(db: Database, destination: str, now: datetime) -> list[dict]:
    """Close every circuit matching host:port, host, or a kind; waiting deliveries go now."""
    with db.transaction() as conn:
        rows = conn.execute(Q["circuit_reset"], {"destination": destination, "now": now})
        changed = rows.fetchall()
    for row in changed:
        if row["from_state"] != "closed":
            log_change(row["kind"], row["destination"], row | {"to_state": "closed"})
    return changed
