"""An order's runs over a window, grouped per minute, from the schedule code (orders.schedule).

The slots are the ones the worker will run when it keeps up: each is `Recurrence.following` the
previous one, from the order's next run, and a recurring order stops after max_executions runs.
An order that is late (its next run is past) runs once for every missed slot and then goes on
from the first slot after now, as `Recurrence.next_after` has it.

`until` is the order's first slot NOT written (orders.upcoming_until): the upkeep extends an order
from there when it enters the horizon. A bounded order whose budget is spent keeps a finite
`until` rather than "never", one slot further each time the upkeep finds nothing to write: a
run that skipped missed slots (the worker was down) leaves budget for later slots, which the
upkeep then writes when they enter the horizon.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from orders.scheduling.schedule import (
    ONE_MICROSECOND,
    UNIT_SECONDS,
    WALL_CLOCK_UNITS,
    Recurrence,
    recurrence_of,
)

MINUTE = timedelta(minutes=1)


@dataclass
class Expansion:
    """The runs of one order per minute ({minute: [first run, runs]}) and where they stop."""

    order_id: int
    user_id: int
    minutes: dict[datetime, list] = field(default_factory=dict)
    until: datetime | None = None  # first slot not written; None: no slot left, ever

    def add(self, slot: datetime, runs: int = 1) -> None:
        minute = slot.replace(second=0, microsecond=0)
        if (entry := self.minutes.get(minute)) is None:
            self.minutes[minute] = [slot, runs]
        else:
            entry[1] += runs


def expand(
    order: dict[str, Any], now: datetime, target: datetime, start: datetime | None = None
) -> Expansion:
    """The runs of `order` (a row of orders) at or before `target`: all of them from its next
    run (start None), or those from `start` on, an extension of an earlier expansion."""
    result = Expansion(order["order_id"], order["user_id"])
    nxt, recurrence = order["next_run_at"], recurrence_of(order)
    if recurrence is None:
        if nxt is not None and (start is None or start <= nxt):
            _one_time(result, nxt, target)
        return result
    budget = None
    if order["max_executions"] is not None:
        budget = order["max_executions"] - order["executions_count"]
    slot = nxt
    if start is not None and start > nxt:
        budget = None if budget is None else budget - pending(recurrence, nxt, start, now)
        slot = start if start > now else after_now(recurrence, start, now)  # missed: skipped
    elif nxt < now and nxt <= target and budget != 0:
        result.add(nxt)  # the late run, due at once (it stands for every missed slot)
        budget = None if budget is None else budget - 1
        slot = after_now(recurrence, nxt, now)
    _fill(result, recurrence, slot, target, budget)
    return result


def _one_time(result: Expansion, run_at: datetime, target: datetime) -> None:
    if run_at <= target:
        result.add(run_at)
    else:
        result.until = run_at


def _fill(
    result: Expansion, recurrence: Recurrence, slot: datetime, target: datetime, budget
) -> None:
    """Add the slots from `slot` (included) to `target`, at most `budget` (None: no bound)."""
    if budget is not None and budget <= 0:  # spent, unless a run skips slots: look again later
        result.until = recurrence.following(slot)
        return
    step = exact_step(recurrence)
    slots = _exact(slot, step, target) if step else _stepped(recurrence, slot, target)
    for first, runs in slots:
        if budget is not None and budget < runs:
            runs = budget
        if runs > 0:
            result.add(first, runs)
            budget = None if budget is None else budget - runs
        if budget == 0:
            break
    result.until = _next_unwritten(recurrence, slot, result)


def _next_unwritten(recurrence: Recurrence, slot: datetime, result: Expansion) -> datetime:
    """The slot after the last one written (or `slot` itself when nothing was written)."""
    if not result.minutes:
        return slot
    last_minute = max(result.minutes)
    first, runs = result.minutes[last_minute]
    step = exact_step(recurrence)
    if step:
        return first + step * runs
    return recurrence.following(first)  # at most one stepped slot per minute but in DST gaps


def _exact(slot: datetime, step: timedelta, target: datetime) -> Iterator[tuple[datetime, int]]:
    """Exact-duration intervals: one (first, count) per minute, by arithmetic, not slot by slot."""
    while slot <= target:
        minute_end = slot.replace(second=0, microsecond=0) + MINUTE - ONE_MICROSECOND
        last = min(minute_end, target)
        runs = (last - slot) // step + 1
        yield slot, runs
        slot += step * runs


def _stepped(recurrence: Recurrence, slot: datetime, target: datetime) -> Iterator:
    """Cron (one croniter for the whole window: building one per slot costs ~0.1 ms) and
    wall-clock days and weeks, slot by slot; a slot of the same minute merges with the last."""
    if recurrence.cron is None:
        while slot <= target:
            yield slot, 1
            slot = recurrence.following(slot)
        return
    walls, previous = recurrence._walls(slot - ONE_MICROSECOND), slot - ONE_MICROSECOND
    while True:
        candidate = recurrence._instant(walls.get_next(datetime))
        if candidate <= previous:
            continue  # as in Recurrence.following: a wall time mapping to a past instant
        if candidate > target:
            return
        yield candidate, 1
        previous = candidate


def exact_step(recurrence: Recurrence) -> timedelta | None:
    if recurrence.cron is not None or recurrence.unit in WALL_CLOCK_UNITS:
        return None
    return timedelta(seconds=recurrence.interval * UNIT_SECONDS[recurrence.unit])


def after_now(recurrence: Recurrence, slot: datetime, now: datetime) -> datetime:
    """The first slot strictly after `now` on the grid of `slot` (which is at or before now)."""
    latest = recurrence.next_after(slot, now)
    return latest if latest > now else recurrence.following(latest)


def pending(recurrence: Recurrence, nxt: datetime, start: datetime, now: datetime) -> int:
    """How many runs the order makes before the slot `start`, from its next run `nxt`: the
    slots between them, or, when it is late, one run for the missed ones and the slots after."""
    if nxt < now:
        first = after_now(recurrence, nxt, now)
        return 1 + (count(recurrence, first, start) if first < start else 0)
    return count(recurrence, nxt, start)


def count(recurrence: Recurrence, first: datetime, end: datetime) -> int:
    """Slots in [first, end) on the grid of `first`."""
    if first >= end:
        return 0
    if step := exact_step(recurrence):
        return -((first - end) // step)  # ceil((end - first) / step)
    return sum(runs for _, runs in _stepped(recurrence, first, end - ONE_MICROSECOND))
