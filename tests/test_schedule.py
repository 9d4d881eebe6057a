"""Next-run arithmetic: no drift, missed slots skipped, and wall clocks right across both DST
changes, table-driven for a 1-hour shift on each side of UTC and Lord Howe's 30 minutes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from orders.scheduling.schedule import Recurrence

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@dataclass(frozen=True)
class Change:
    """One zone's two DST changes in 2030, as the tz database has them."""

    zone: str
    jump: datetime  # spring: the instant the clocks jump forward
    gap_wall: datetime  # a local wall time that does not exist that day
    fall_back: datetime  # autumn: the instant the clocks go back
    repeated_wall: datetime  # a local wall time that happens twice that day
    first_pass: datetime  # its first occurrence (UTC)
    shift: timedelta

    @property
    def id(self) -> str:
        return self.zone.split("/")[-1]


CHANGES = [
    Change(
        "Europe/Paris",
        jump=utc(2030, 3, 31, 1, 0),
        gap_wall=datetime(2030, 3, 31, 2, 30),
        fall_back=utc(2030, 10, 27, 1, 0),
        repeated_wall=datetime(2030, 10, 27, 2, 30),
        first_pass=utc(2030, 10, 27, 0, 30),
        shift=timedelta(hours=1),
    ),
    Change(
        "America/New_York",
        jump=utc(2030, 3, 10, 7, 0),
        gap_wall=datetime(2030, 3, 10, 2, 30),
        fall_back=utc(2030, 11, 3, 6, 0),
        repeated_wall=datetime(2030, 11, 3, 1, 30),
        first_pass=utc(2030, 11, 3, 5, 30),
        shift=timedelta(hours=1),
    ),
    Change(
        "Australia/Lord_Howe",  # +10:30 / +11:00, changes at 02:00 local
        jump=utc(2030, 10, 5, 15, 30),
        gap_wall=datetime(2030, 10, 6, 2, 15),
        fall_back=utc(2030, 4, 6, 15, 0),
        repeated_wall=datetime(2030, 4, 7, 1, 45),
        first_pass=utc(2030, 4, 6, 14, 45),
        shift=timedelta(minutes=30),
    ),
]
ZONES = pytest.mark.parametrize("change", CHANGES, ids=lambda c: c.id)


def daily_cron(wall: datetime) -> str:
    return f"{wall.minute} {wall.hour} * * *"


def runs(recurrence: Recurrence, after: datetime, count: int) -> list[datetime]:
    """The next `count` runs after `after`, as a worker that is never late computes them."""
    found = [recurrence.following(after)]
    while len(found) < count:
        found.append(recurrence.following(found[-1]))
    return found


def run_during_outage(recurrence: Recurrence, last_run: datetime, back_at: datetime) -> list:
    """What a worker coming back at `back_at` runs before it is on time again."""
    ran, previous = [], last_run
    while (due := recurrence.next_after(previous, back_at)) <= back_at:
        ran.append(due)
        previous = due
    return ran


def local_dates(instants: list[datetime], zone: str) -> list[date]:
    return [i.astimezone(ZoneInfo(zone)).date() for i in instants]


@ZONES
def test_cron_runs_a_slot_of_the_repeated_hour_once_at_its_first_occurrence(change):
    daily = Recurrence(cron=daily_cron(change.repeated_wall), timezone=change.zone)

    found = runs(daily, change.fall_back - timedelta(days=2), 4)

    day = change.repeated_wall.date()
    assert local_dates(found, change.zone) == [day + timedelta(days=n) for n in (-1, 0, 1, 2)]
    assert found[1] == change.first_pass < change.fall_back


@ZONES
def test_cron_runs_a_slot_of_the_spring_gap_when_the_clocks_jump(change):
    daily = Recurrence(cron=daily_cron(change.gap_wall), timezone=change.zone)

    found = runs(daily, change.jump - timedelta(days=1), 3)

    assert found[1] == change.jump  # the wall time does not exist: runs as the gap ends
    next_day = datetime.combine(change.gap_wall.date() + timedelta(days=1), change.gap_wall.time())
    assert found[2] == next_day.replace(tzinfo=ZoneInfo(change.zone)).astimezone(UTC)


@ZONES
def test_every_quarter_hour_runs_each_instant_once_across_both_changes(change):
    quarter = Recurrence(cron="*/15 * * * *", timezone=change.zone)

    for moment in (change.jump, change.fall_back):
        found = runs(quarter, moment - timedelta(hours=3), 24)

        assert all(b > a for a, b in pairwise(found))
        assert all(b - a <= timedelta(minutes=15) + change.shift for a, b in pairwise(found))


@ZONES
def test_catch_up_inside_the_repeated_hour_runs_once(change):
    """Down from the start of the repeated hour to its second pass (the issue's case: Paris,
    last run 00:00Z, back at 01:37Z): one run, for the last slot already passed (00:45Z)."""
    quarter = Recurrence(cron="*/15 * * * *", timezone=change.zone)
    last_run = change.fall_back - change.shift  # the repeated interval's first wall time
    back_at = change.fall_back + change.shift * 0.6

    ran = run_during_outage(quarter, last_run, back_at)

    assert ran == [change.fall_back - timedelta(minutes=15)]
    assert quarter.next_after(ran[0], back_at) == change.fall_back + change.shift  # on the grid


@ZONES
def test_catch_up_over_the_spring_gap_runs_once(change):
    daily = Recurrence(cron=daily_cron(change.gap_wall), timezone=change.zone)
    day_before = runs(daily, change.jump - timedelta(days=2), 1)[0]

    ran = run_during_outage(daily, day_before, change.jump + timedelta(hours=5))

    assert ran == [change.jump]


@ZONES
@pytest.mark.parametrize("unit", ["days", "weeks"])
def test_intervals_of_days_and_weeks_keep_the_wall_clock(change, unit):
    """09:00 local stays 09:00 local over both changes; the UTC instant moves by the shift."""
    zone = ZoneInfo(change.zone)
    anchor = datetime.combine(change.jump.date() - timedelta(days=21), time(9), tzinfo=zone)
    every = Recurrence(interval=1, unit=unit, timezone=change.zone, anchor=anchor)

    found = runs(every, anchor, 60 if unit == "weeks" else 300)  # a year: both changes

    assert all(r.astimezone(zone).time() == time(9) for r in found)
    step = timedelta(days=7 if unit == "weeks" else 1)
    assert all(
        b.astimezone(zone).date() - a.astimezone(zone).date() == step for a, b in pairwise(found)
    )
    assert {b - a for a, b in pairwise(found)} == {step, step - change.shift, step + change.shift}


@ZONES
def test_a_daily_interval_in_the_gap_runs_at_the_jump_then_returns_to_its_time(change):
    zone = ZoneInfo(change.zone)
    anchor = (change.gap_wall - timedelta(days=3)).replace(tzinfo=zone)
    daily = Recurrence(interval=1, unit="days", timezone=change.zone, anchor=anchor)

    found = runs(daily, anchor, 5)

    assert found[2] == change.jump
    assert found[3].astimezone(zone).time() == change.gap_wall.time()  # no drift after it


@ZONES
def test_intervals_of_hours_are_exact_durations(change):
    every_hour = Recurrence(interval=1, unit="hours", timezone=change.zone)

    found = runs(every_hour, change.fall_back - timedelta(hours=3), 6)

    assert {b - a for a, b in pairwise(found)} == {timedelta(hours=1)}


def test_interval_counts_from_the_scheduled_time_not_the_run_time():
    """A run that happens 40 s late still schedules the next one on the original grid."""
    every_minute = Recurrence(interval=1, unit="minutes")

    assert every_minute.next_after(T0, now=T0 + timedelta(seconds=40)) == T0 + timedelta(minutes=1)


def test_missed_slots_are_skipped_and_the_latest_runs_once():
    """After 10 minutes of downtime, the next run is the latest missed slot, then the grid."""
    every_minute = Recurrence(interval=1, unit="minutes")
    now = T0 + timedelta(minutes=10, seconds=30)

    catch_up = every_minute.next_after(T0, now=now)

    assert catch_up == T0 + timedelta(minutes=10)
    assert every_minute.next_after(catch_up, now=now) == T0 + timedelta(minutes=11)


def test_missed_days_are_skipped_on_the_wall_clock_too():
    """A daily order down for a week runs once, for today's slot, at its local time."""
    paris = ZoneInfo("Europe/Paris")
    anchor = datetime(2030, 3, 25, 9, 0, tzinfo=paris)
    daily = Recurrence(interval=1, unit="days", timezone="Europe/Paris", anchor=anchor)

    ran = run_during_outage(daily, anchor, datetime(2030, 4, 2, 12, 0, tzinfo=paris))

    assert ran == [datetime(2030, 4, 2, 9, 0, tzinfo=paris)]


def test_each_unit():
    """seconds … weeks all step by their size (UTC has no DST)."""
    for unit, size in [
        ("seconds", 1),
        ("minutes", 60),
        ("hours", 3600),
        ("days", 86400),
        ("weeks", 604800),
    ]:
        assert Recurrence(interval=3, unit=unit).following(T0) == T0 + timedelta(seconds=3 * size)


def test_cron_follows_local_time_across_daylight_saving():
    """09:00 Paris every Monday is 08:00 UTC in winter and 07:00 UTC after the March change."""
    monday_9 = Recurrence(cron="0 9 * * MON", timezone="Europe/Paris")

    assert monday_9.following(utc(2030, 3, 25, 8, 0)) == utc(2030, 4, 1, 7, 0)
    assert monday_9.following(utc(2030, 10, 21, 7, 0)) == utc(2030, 10, 28, 8, 0)


def test_cron_first_run_can_be_the_anchor_itself():
    """A cron order anchored exactly on a slot runs at that slot."""
    hourly = Recurrence(cron="0 * * * *", timezone="UTC")

    assert hourly.first_at_or_after(T0) == T0


def test_cron_skips_missed_slots_too():
    """A cron order that missed several slots runs once for the latest."""
    hourly = Recurrence(cron="0 * * * *", timezone="UTC")

    assert hourly.next_after(T0, now=T0 + timedelta(hours=5, minutes=5)) == T0 + timedelta(hours=5)
