"""What makes an order valid, in one place.

Two layers, both used identically by POST, PUT and PATCH (and by anything else that writes
an order's definition):
- field types (`OrderName`, `ScheduleTime`, `Cron`, `TimeZone`, ...): the rules of one value,
  used by the request models, so they also document the API (OpenAPI);
- `check_definition`: the rules between fields, run on the order's whole definition as it
  will be stored (for PATCH: after merging the change into the current order). It also
  proves the schedule can run: a cron that never fires, or an interval whose next run does
  not fit, is refused here, never discovered by a worker.
The database mirrors the structural rules with CHECK constraints (sql/0002, sql/0020).
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from itertools import pairwise
from typing import Annotated, Any, Literal
from zoneinfo import available_timezones

from croniter import CroniterError, croniter
from pydantic import AfterValidator, AwareDatetime, Field

from orders.scheduling.schedule import UNIT_SECONDS, Recurrence, recurrence_of

Unit = Literal["seconds", "minutes", "hours", "days", "weeks"]
RECURRENCE_FIELDS = ("repeat_interval", "repeat_unit", "cron", "timezone", "max_executions")
SCHEDULE_FIELDS = ("is_recurring", "repeat_interval", "repeat_unit", "cron", "timezone")
MAX_PAST = timedelta(minutes=5)  # a little in the past runs at once; more is almost surely a bug
HORIZON = timedelta(days=3653)  # ~10 years: the furthest first run, the longest interval
CRON_SAMPLE = 24  # upcoming cron runs checked against the shortest-interval floor
NOT_ZONES = {"localtime", "Factory", "posixrules"}  # host-dependent or placeholder names


class DefinitionError(ValueError):
    """A rule between fields is broken; `field` is the one to change."""

    def __init__(self, field: str | None, message: str):
        super().__init__(message)
        self.field, self.message = field, message


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("order_name must not be blank")
    return value


def _in_range(value: datetime) -> datetime:
    now = datetime.now(UTC)
    if value < now - MAX_PAST:
        raise ValueError("schedule_time is more than 5 minutes in the past")
    if value > now + HORIZON:
        raise ValueError("schedule_time is more than 10 years ahead")
    return value


def _cron_syntax(value: str) -> str:
    if len(value.split()) != 5 or not croniter.is_valid(value):
        raise ValueError("cron must be a valid 5-field cron expression, e.g. '0 9 * * MON'")
    return value


@lru_cache(maxsize=1)
def known_zones() -> frozenset[str]:
    return frozenset(available_timezones() - NOT_ZONES)


def _known_zone(value: str) -> str:
    if value not in known_zones():
        raise ValueError(f"unknown IANA time zone {value!r} (e.g. 'Europe/Paris', 'UTC')")
    return value


OrderName = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_not_blank)]
ScheduleTime = Annotated[
    AwareDatetime,
    Field(description="First run, with a UTC offset; at most 5 minutes past, 10 years ahead."),
    AfterValidator(_in_range),
]
Interval = Annotated[int, Field(ge=1, le=1_000_000)]
Cron = Annotated[str, Field(max_length=100, examples=["0 9 * * MON"]), AfterValidator(_cron_syntax)]
TimeZone = Annotated[
    str,
    Field(
        max_length=64,
        examples=["Europe/Paris"],
        description="IANA zone for cron and for intervals of days/weeks (default UTC)",
    ),
    AfterValidator(_known_zone),
]
MaxExecutions = Annotated[int, Field(ge=1, le=1_000_000, description="null: unlimited")]
ProviderId = Annotated[int, Field(ge=1, le=2**63 - 1, description="GET /providers")]
Priority = Annotated[
    Literal["low", "normal", "high", "urgent"],
    Field(
        description="Run order among orders due together: urgent first (default normal). "
        "An account's tier (set by operators) raises all of its orders."
    ),
]
MissedRuns = Annotated[
    Literal["latest", "all", "none"],
    Field(
        description="Recurring orders, runs missed while nothing ran them: latest (default) "
        "runs once for the latest missed slot; all runs each (at most ORDERS_MISSED_RUNS_MAX); "
        "none skips them and goes on at the next future slot. One-time orders: ignored."
    ),
]
ExpiresAfter = Annotated[
    int,
    Field(
        ge=1,
        le=int(HORIZON.total_seconds()),
        description="One-time orders: seconds after schedule_time past which the run no longer "
        "starts and the order becomes expired. null: it runs however late.",
    ),
]


@dataclass(frozen=True)
class Policy:
    """Per-deployment limits on definitions (ORDERS_MIN_INTERVAL_SECONDS)."""

    min_interval_seconds: float = 1.0


def check_definition(
    fields: dict[str, Any], anchor: datetime, done: int = 0, policy: Policy | None = None
) -> tuple[dict[str, Any], datetime]:
    """(the definition as stored, its first run at or after `anchor`), or DefinitionError.
    `done`: runs already made (max_executions must stay above it)."""
    policy = policy or Policy()
    fields = dict(fields)
    _check_shape(fields)
    if fields["is_recurring"] and fields.get("cron") and not fields.get("timezone"):
        fields["timezone"] = "UTC"
    first = _check_runs(fields, anchor, policy)
    if isinstance(fields.get("expires_after"), int):  # seconds in the API, an interval stored
        fields["expires_after"] = timedelta(seconds=fields["expires_after"])
    if fields.get("max_executions") is not None and fields["max_executions"] <= done:
        raise DefinitionError(
            "max_executions",
            f"max_executions must be greater than the {done} executions already done "
            "(cancel the order to stop it)",
        )
    return fields, first


def _check_shape(fields: dict[str, Any]) -> None:
    """Recurrence fields belong to recurring orders, which need an interval+unit or a cron."""
    present = [f for f in RECURRENCE_FIELDS if fields.get(f) is not None]
    if fields["is_recurring"] and fields.get("expires_after") is not None:
        raise DefinitionError(
            "expires_after", "expires_after is for one-time orders; recurring ones use missed_runs"
        )
    if not fields["is_recurring"]:
        if present:
            raise DefinitionError(
                present[0], f"one-time orders take no recurrence fields (got {', '.join(present)})"
            )
        return
    by_interval = fields.get("repeat_interval") is not None or fields.get("repeat_unit") is not None
    if by_interval == (fields.get("cron") is not None):
        raise DefinitionError(
            "is_recurring", "recurring orders need either repeat_interval+repeat_unit or cron"
        )
    if by_interval and fields.get("repeat_interval") is None:
        raise DefinitionError("repeat_interval", "repeat_interval and repeat_unit go together")
    if by_interval and fields.get("repeat_unit") is None:
        raise DefinitionError("repeat_unit", "repeat_interval and repeat_unit go together")


def _check_runs(fields: dict[str, Any], anchor: datetime, policy: Policy) -> datetime:
    """The first run; a second must exist too (a worker computes it after the first run),
    and runs may not come closer together than the floor."""
    recurrence = recurrence_of(fields)
    if recurrence is None:
        return anchor
    field = "cron" if recurrence.cron else "repeat_interval"
    if recurrence.cron is None:
        _check_interval(recurrence, policy)
    try:
        first = recurrence.first_at_or_after(anchor)
        second = recurrence.following(first)
    except (CroniterError, OverflowError):
        raise DefinitionError(field, _never_message(recurrence)) from None
    if first > anchor + HORIZON or second > first + HORIZON:
        raise DefinitionError(field, _never_message(recurrence))
    if recurrence.cron:
        _check_floor(_shortest_cron_gap(recurrence, first, second), policy, "cron")
    return first


def _shortest_cron_gap(recurrence: Recurrence, first: datetime, second: datetime) -> float:
    """Over the runs of the month after `first` (at most CRON_SAMPLE): crons like '0,1 9 * * *'
    have uneven gaps, and the floor is about the shortest."""
    runs = [first, second]
    with suppress(CroniterError):  # no run after these: the gaps seen so far are all there is
        while len(runs) < CRON_SAMPLE and runs[-1] < first + timedelta(days=31):
            runs.append(recurrence.following(runs[-1]))
    return min((b - a).total_seconds() for a, b in pairwise(runs))


def _check_interval(recurrence: Recurrence, policy: Policy) -> None:
    seconds = recurrence.interval * UNIT_SECONDS[recurrence.unit]
    if seconds > HORIZON.total_seconds():
        raise DefinitionError(
            "repeat_interval", "repeat_interval is too long: at most 10 years between runs"
        )
    _check_floor(seconds, policy, "repeat_interval")


def _check_floor(seconds: float, policy: Policy, field: str) -> None:
    if seconds < policy.min_interval_seconds:
        raise DefinitionError(
            field,
            f"runs would be {seconds:g} s apart; this service allows at least "
            f"{policy.min_interval_seconds:g} s between runs (ORDERS_MIN_INTERVAL_SECONDS)",
        )


def _never_message(recurrence: Recurrence) -> str:
    if recurrence.cron:
        return f"cron {recurrence.cron!r} does not fire at least once every 10 years"
    return "the run after the first would fall beyond the supported date range"
