"""When does an order run next? Interval and cron schedules, without drift.

The next run is computed from the previous *scheduled* time, never from when the run
actually happened, so a late worker does not push later runs back. When several slots were
missed (the service was down), they are skipped: the order runs once now and then resumes
on its grid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter

UNIT_SECONDS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400, "weeks": 604800}


@dataclass(frozen=True)
class Recurrence:
    """Either every `interval` `unit`, or `cron` evaluated in `timezone`."""

    interval: int | None = None
    unit: str | None = None
    cron: str | None = None
    timezone: str | None = None

    def following(self, previous: datetime) -> datetime:
        """The first slot strictly after `previous` (a scheduled time)."""
        if self.cron is not None:
            walls = self._walls(previous)
            while (candidate := self._instant(walls.get_next(datetime))) <= previous:
                pass  # a wall time that maps to an instant already passed (DST overlap or gap)
            return candidate
        return previous + timedelta(seconds=self.interval * UNIT_SECONDS[self.unit])

    def first_at_or_after(self, moment: datetime) -> datetime:
        """The first run of a new schedule anchored at `moment`."""
        if self.cron is None:
            return moment
        return self.following(moment - timedelta(microseconds=1))

    def next_after(self, previous: datetime, now: datetime) -> datetime:
        """The slot after `previous`; missed slots before `now` are skipped, not run late."""
        following = self.following(previous)
        if following > now:
            return following
        if self.cron is None:
            step = self.interval * UNIT_SECONDS[self.unit]
            missed = math.floor((now - following).total_seconds() / step)
            return following + timedelta(seconds=step * missed)  # the latest missed slot
        walls = self._walls(now + timedelta(microseconds=1))
        while (candidate := self._instant(walls.get_prev(datetime))) > now:
            pass
        return max(candidate, following)

    def _walls(self, moment: datetime) -> croniter:
        """Cron runs on local wall-clock time: iterate naive local times from `moment`."""
        return croniter(self.cron, moment.astimezone(ZoneInfo(self.timezone)).replace(tzinfo=None))

    def _instant(self, wall: datetime) -> datetime:
        """A local wall time as UTC: the first occurrence in the autumn overlap; a time in the
        spring gap lands just after it."""
        return wall.replace(tzinfo=ZoneInfo(self.timezone)).astimezone(UTC)


def recurrence_of(fields: dict[str, Any]) -> Recurrence | None:
    """The schedule of an order (a row or validated fields); None for a one-time order."""
    if not fields["is_recurring"]:
        return None
    if fields.get("cron"):
        return Recurrence(cron=fields["cron"], timezone=fields.get("timezone") or "UTC")
    return Recurrence(interval=fields["repeat_interval"], unit=fields["repeat_unit"])
