"""Next-run arithmetic: no drift, missed slots skipped, cron correct across DST changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

from orders.orders.schedule import Recurrence

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


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


def test_each_unit():
    """seconds … weeks all step by their size."""
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
    before = datetime(2030, 3, 25, 8, 0, tzinfo=UTC)  # Mon 25 March 2030, 09:00 CET

    after_change = monday_9.following(before)

    assert after_change == datetime(2030, 4, 1, 7, 0, tzinfo=UTC)  # 09:00 CEST
    assert monday_9.following(datetime(2030, 10, 21, 7, 0, tzinfo=UTC)) == datetime(
        2030, 10, 28, 8, 0, tzinfo=UTC
    )  # clocks went back on Sunday 27 October


def test_cron_does_not_run_twice_in_the_repeated_autumn_hour():
    """A daily 01:30 New York job runs once on the day 01:30 happens twice."""
    daily = Recurrence(cron="30 1 * * *", timezone="America/New_York")
    runs, moment = [], datetime(2030, 11, 2, 12, 0, tzinfo=UTC)
    for _ in range(3):
        moment = daily.following(moment)
        runs.append(moment)

    assert len({r.date() for r in runs}) == 3
    assert all((b - a) >= timedelta(hours=23) for a, b in pairwise(runs))


def test_cron_first_run_can_be_the_anchor_itself():
    """A cron order anchored exactly on a slot runs at that slot."""
    hourly = Recurrence(cron="0 * * * *", timezone="UTC")

    assert hourly.first_at_or_after(T0) == T0


def test_cron_skips_missed_slots_too():
    """A cron order that missed several slots runs once for the latest."""
    hourly = Recurrence(cron="0 * * * *", timezone="UTC")

    assert hourly.next_after(T0, now=T0 + timedelta(hours=5, minutes=5)) == T0 + timedelta(hours=5)


def test_cron_slot_in_the_spring_gap_runs_just_after_it():
    """02:30 does not exist on 10 March 2030 in New York; that day's run is at 03:30 EDT."""
    daily = Recurrence(cron="30 2 * * *", timezone="America/New_York")

    gap_day = daily.following(datetime(2030, 3, 9, 7, 30, tzinfo=UTC))  # 9 March 02:30 EST

    assert gap_day == datetime(2030, 3, 10, 7, 30, tzinfo=UTC)
    assert daily.following(gap_day) == datetime(2030, 3, 11, 6, 30, tzinfo=UTC)
