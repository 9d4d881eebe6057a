"""When does an order run next? Interval and cron schedules, without drift, across DST.

The next run is computed from the previous *scheduled* time, never from when the run
actually happened, so a late worker does not push later runs back. When several slots were
missed (the service was down), they are skipped: the order runs once now and then resumes
on its grid.

Wall clocks: cron schedules, and intervals of days or weeks, are kept on the wall clock of
the order's time zone (UTC by default), so "every day at 09:00" stays at 09:00 across DST
changes. A wall time the autumn change repeats runs once, at its first occurrence; a wall
time the spring change skips runs when the clocks jump, just after the gap. Intervals of
seconds, minutes and hours are exact durations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter

UNIT_SECONDS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400, "weeks": 604800}
WALL_CLOCK_UNITS = {"days": 1, "weeks": 7}  # unit -> days per step, kept on the local wall clock
ONE_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class Recurrence:
    """Either every `interval` `unit`, or `cron` evaluated in `timezone`. `anchor` is the
    schedule's first run (`orders.schedule_time`): intervals of days and weeks keep its
    local time of day, even after a run the spring change moved."""

    interval: int | None = None
    unit: str | None = None
    cron: str | None = None
    timezone: str | None = None
    anchor: datetime | None = None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone or "UTC")

    def following(self, previous: datetime) -> datetime:
        """The first slot strictly after `previous` (a scheduled time)."""
        if self.cron is not None:
            walls = self._walls(previous)
            while (candidate := self._instant(walls.get_next(datetime))) <= previous:
                pass  # a wall time that maps to an instant already passed (DST overlap or gap)
            return candidate
        if self.unit in WALL_CLOCK_UNITS:
            return self._step_slot(previous, after=True)
        return previous + timedelta(seconds=self.step_seconds)

    def first_at_or_after(self, moment: datetime) -> datetime:
        """The first run of a new schedule anchored at `moment`."""
        if self.cron is None:
            return moment
        return self.following(moment - ONE_MICROSECOND)

    def next_after(self, previous: datetime, now: datetime) -> datetime:
        """The slot after `previous`; missed slots before `now` are skipped, not run late."""
        following = self.following(previous)
        if following > now:
            return following
        if self.cron is not None:
            return max(self._latest_cron_slot(now), following)
        if self.unit in WALL_CLOCK_UNITS:
            return max(self._step_slot(now, after=False), following)
        step = self.step_seconds
        missed = math.floor((now - following).total_seconds() / step)
        return following + timedelta(seconds=step * missed)  # the latest missed slot

    def latest_since(self, previous: datetime, now: datetime) -> datetime:
        """The latest slot in [previous, now], `previous` being a slot at or before `now`."""
        return previous if self.following(previous) > now else self.next_after(previous, now)

    def preceding(self, slot: datetime) -> datetime:
        """The slot just before `slot`."""
        if self.cron is not None:
            return self._latest_cron_slot(slot - ONE_MICROSECOND)
        if self.unit in WALL_CLOCK_UNITS:
            return self._step_slot(slot - ONE_MICROSECOND, after=False)
        return slot - timedelta(seconds=self.step_seconds)

    @property
    def step_seconds(self) -> int | None:
        """The exact length of a step, for intervals of seconds, minutes or hours."""
        if self.cron is not None or self.unit in WALL_CLOCK_UNITS:
            return None
        return self.interval * UNIT_SECONDS[self.unit]

    def _latest_cron_slot(self, now: datetime) -> datetime:
        """The latest slot at or before `now`. Walking back from `now`'s wall time is not
        enough inside a repeated hour: the wall clock went back, yet the first occurrences
        of the walls between now and the change (already past) are slots too. So start from
        the wall time `now` would have without the change, skipping instants still ahead."""
        local = now.astimezone(self.zone)
        shift = local.replace(fold=0).utcoffset() - local.utcoffset() if local.fold else None
        walls = self._walls(now + ONE_MICROSECOND, shift or timedelta(0))
        while (candidate := self._instant(walls.get_prev(datetime))) > now:
            pass
        return candidate

    def _step_slot(self, moment: datetime, after: bool) -> datetime:
        """Days/weeks on the wall clock: the anchor's local time on every `step`-th day from
        its date; the first slot after `moment` (after=True) or the last at or before it."""
        anchor = (self.anchor or moment).astimezone(self.zone)
        step = self.interval * WALL_CLOCK_UNITS[self.unit]
        k = (moment.astimezone(self.zone).date() - anchor.date()).days // step
        slot = self._slot(anchor, k * step)
        if after:
            while slot <= moment:
                k += 1
                slot = self._slot(anchor, k * step)
            return slot
        while slot > moment:
            k -= 1
            slot = self._slot(anchor, k * step)
        return slot

    def _slot(self, anchor: datetime, days: int) -> datetime:
        day: date = anchor.date() + timedelta(days=days)
        return self._instant(datetime.combine(day, anchor.time().replace(tzinfo=None, fold=0)))

    def _walls(self, moment: datetime, shift: timedelta = timedelta(0)) -> croniter:
        """Cron runs on local wall-clock time: iterate naive local times from `moment`."""
        local = moment.astimezone(self.zone).replace(tzinfo=None, fold=0) + shift
        return croniter(self.cron, local)

    def _instant(self, wall: datetime) -> datetime:
        """A local wall time as UTC: its first occurrence in the autumn overlap; a wall time
        in the spring gap becomes the instant the gap ends (the clocks' jump)."""
        zone = self.zone
        instant = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
        if instant.astimezone(zone).replace(tzinfo=None) == wall:
            return instant
        return _gap_end(wall.replace(tzinfo=zone, fold=1).astimezone(UTC), instant, zone)


def _gap_end(before: datetime, after: datetime, zone: ZoneInfo) -> datetime:
    """The first instant in (before, after] with the post-change UTC offset: the jump.
    Offsets change on whole seconds, so a bisection to one second is exact."""
    offset_before = before.astimezone(zone).utcoffset()
    low, high = before, after
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).utcoffset() == offset_before:
            low = middle
        else:
            high = middle
    return high.replace(microsecond=0)


def recurrence_of(fields: dict[str, Any]) -> Recurrence | None:
    """The schedule of an order (a row or validated fields); None for a one-time order."""
    if not fields["is_recurring"]:
        return None
    if fields.get("cron"):
        return Recurrence(cron=fields["cron"], timezone=fields.get("timezone") or "UTC")
    return Recurrence(
        interval=fields["repeat_interval"],
        unit=fields["repeat_unit"],
        timezone=fields.get("timezone"),
        anchor=fields.get("schedule_time"),
    )
