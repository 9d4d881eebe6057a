"""Late runs: what a run that comes late does, by the order's missed-run policy.

A recurring order's run is late when later slots of its schedule have passed too (workers were
stopped, the order or its queue was paused). Its `missed_runs` policy decides:
- `latest` (default): run once, for the latest passed slot; the others are skipped.
- `all`: run every passed slot, oldest first, one after the other; when more than
  `max_catch_up` have passed, only the latest `max_catch_up` run and the older ones are skipped.
- `none`: a run more than `grace` late does not happen; the order goes on at its next future slot.
A one-time order with `expires_after` does not run once it is later than that: it expires.
Skipped slots are counted on the run that follows them (order_executions.missed_slots).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from orders.scheduling.schedule import Recurrence
from orders.settings import Settings

COUNT_CAP = 10_000  # counting skipped slots stops here (a 1-second order down for a day)


@dataclass(frozen=True)
class MissedRules:
    grace: timedelta = timedelta(seconds=60)
    max_catch_up: int = 100

    @classmethod
    def from_settings(cls, settings: Settings) -> MissedRules:
        return cls(timedelta(seconds=settings.missed_run_grace_seconds), settings.missed_runs_max)


@dataclass(frozen=True)
class LatePlan:
    run_for: datetime | None  # the slot this run is for; None: no run now (policy none)
    next_run_at: datetime
    missed: int  # slots skipped before `run_for` (or, with no run, up to and including `due`'s)


def plan_recurring(
    recurrence: Recurrence, policy: str, due: datetime, now: datetime, rules: MissedRules
) -> LatePlan:
    """What the run of the slot `due` does at `now`."""
    latest = recurrence.latest_since(due, now)
    if policy == "all":
        return _catch_up(recurrence, due, latest, rules.max_catch_up)
    if policy == "none" and now - due > rules.grace:
        return LatePlan(None, recurrence.following(latest), count_slots(recurrence, due, latest))
    missed = count_slots(recurrence, due, latest) - 1
    return LatePlan(latest, recurrence.following(latest), missed)


def expired(due: datetime, now: datetime, expires_after: timedelta | None) -> bool:
    """Whether a one-time order due at `due` is too late to run at `now`."""
    return expires_after is not None and now - due > expires_after


def _catch_up(recurrence: Recurrence, due: datetime, latest: datetime, most: int) -> LatePlan:
    slot, seen = due, 1
    while slot < latest and seen <= most:
        slot, seen = recurrence.following(slot), seen + 1
    if seen <= most:  # every passed slot fits: run the oldest, the next one is due at once
        return LatePlan(due, recurrence.following(due), 0)
    first = latest
    for _ in range(most - 1):
        first = recurrence.preceding(first)
    return LatePlan(first, recurrence.following(first), count_slots(recurrence, due, first) - 1)


def count_slots(recurrence: Recurrence, first: datetime, last: datetime) -> int:
    """How many slots lie in [first, last], both slots (at most COUNT_CAP)."""
    if (step := recurrence.step_seconds) is not None:
        return min(COUNT_CAP, int((last - first).total_seconds() // step) + 1)
    slot, n = first, 1
    while slot < last and n < COUNT_CAP:
        slot, n = recurrence.following(slot), n + 1
    return n
