"""Property-based tests of the schedule model (hypothesis): any generated order definition is
either refused (422) or runs on a schedule whose next runs are strictly increasing, in the
future, on the cron's wall clock (or the end of a DST gap), across time zones and DST changes;
a catch-up after any outage runs once. And through the API, no body reaches a 500."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from orders.scheduling.definition import DefinitionError, Policy, check_definition
from orders.scheduling.models import NewOrder
from orders.scheduling.schedule import recurrence_of
from tests.helpers import in_
from tests.test_schedule import CHANGES

ZONES = [
    "UTC",
    "Europe/Paris",
    "America/New_York",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Pacific/Chatham",
    "Antarctica/Troll",
    "America/St_Johns",
    "Asia/Kolkata",
    "Africa/Casablanca",
    "Europe/Dublin",
    "Mars/Base",
    "localtime",
    "europe/paris",
    "",
]
TRANSITIONS = [c.jump for c in CHANGES] + [c.fall_back for c in CHANGES]
RUN = settings(
    max_examples=400,
    deadline=None,
    derandomize=True,  # the same examples each run: a failure reproduces
    database=None,
    suppress_health_check=list(HealthCheck),
)


def field(low: int, high: int, slack: int = 0) -> st.SearchStrategy[str]:
    """One cron field; `slack` > 0 also draws values out of range."""
    number = st.integers(low - slack, high + slack).map(str)
    return st.one_of(
        st.just("*"),
        number,
        st.tuples(number, number).map("-".join),
        st.tuples(st.sampled_from(["*", f"{low}-{high}"]), st.integers(1 - slack, high)).map(
            lambda p: f"{p[0]}/{p[1]}"
        ),
        st.lists(number, min_size=2, max_size=4).map(",".join),
    )


def crons(slack: int) -> st.SearchStrategy[str]:
    fields = (field(0, 59, slack), field(0, 23, slack), field(1, 31, slack), field(1, 12, slack))
    return st.tuples(*fields, field(0, 6, slack)).map(" ".join)


SPECIAL_CRONS = [
    "0 0 31 2 *",
    "0 0 29 2 *",
    "0 0 29 2 MON",
    "30 2 * * *",
    "*/15 * * * *",
    "45 1 * * SUN",
    "0 0 L * *",
    "0 9 * * 5#3",
    "@daily",
    "0 0 * * * *",
    "H 9 * * *",
]
REAL_ZONES = [z for z in ZONES if z[:1].isupper() and z != "Mars/Base"]
SCHEDULE_TIMES = st.one_of(
    st.none(),
    st.integers(-900, 3700 * 86400).map(lambda s: datetime.now(UTC) + timedelta(seconds=s)),
    st.tuples(st.sampled_from(TRANSITIONS), st.integers(-3 * 86400, 3 * 86400)).map(
        lambda p: p[0] + timedelta(seconds=p[1])
    ),
).map(lambda t: t and t.isoformat())
UNITS = ["seconds", "minutes", "hours", "days", "weeks"]
# Mostly well-formed schedules (so that many are accepted and their runs checked) ...
INTERVAL_BODIES = st.fixed_dictionaries(
    {
        "order_name": st.just("interval"),
        "is_recurring": st.just(True),
        "repeat_interval": st.one_of(st.integers(1, 100), st.integers(1, 200_000)),
        "repeat_unit": st.sampled_from(UNITS),
        "schedule_time": SCHEDULE_TIMES,
        "timezone": st.one_of(st.none(), st.sampled_from(REAL_ZONES)),
    }
)
CRON_BODIES = st.fixed_dictionaries(
    {
        "order_name": st.just("cron"),
        "is_recurring": st.just(True),
        "cron": st.one_of(crons(slack=0), st.sampled_from(SPECIAL_CRONS)),
        "schedule_time": SCHEDULE_TIMES,
        "timezone": st.one_of(st.none(), st.sampled_from(REAL_ZONES)),
    }
)
# ... often starting right before a DST change, in the zone that makes it, running often ...
FREQUENT = ["*/15 * * * *", "*/5 * * * *", "*/10 * * * *", "0,30 * * * *", "*/20 1-3 * * *"]
NEAR_A_CHANGE = st.tuples(
    st.sampled_from(CHANGES), st.booleans(), st.integers(-3 * 3600, 3600)
).map(
    lambda p: {
        "timezone": p[0].zone,
        "schedule_time": (
            (p[0].jump if p[1] else p[0].fall_back) + timedelta(seconds=p[2])
        ).isoformat(),
    }
)
DST_BODIES = st.tuples(
    NEAR_A_CHANGE,
    st.one_of(
        st.fixed_dictionaries(
            {
                "cron": st.one_of(
                    crons(slack=0), st.sampled_from(FREQUENT), st.sampled_from(FREQUENT)
                )
            }
        ),
        st.fixed_dictionaries(
            {"repeat_interval": st.integers(1, 3), "repeat_unit": st.sampled_from(UNITS)}
        ),
    ),
).map(lambda p: {"order_name": "dst", "is_recurring": True} | p[0] | p[1])
# ... and anything at all, out-of-range values and contradictions included.
ANY_BODIES = st.fixed_dictionaries(
    {"order_name": st.just("prop"), "is_recurring": st.booleans()},
    optional={
        "schedule_time": SCHEDULE_TIMES,
        "repeat_interval": st.one_of(st.none(), st.integers(-1, 2_000_000)),
        "repeat_unit": st.sampled_from([*UNITS, "ages"]),
        "cron": st.one_of(st.none(), crons(slack=2), st.text(max_size=20)),
        "timezone": st.one_of(st.none(), st.sampled_from(ZONES)),
        "max_executions": st.one_of(st.none(), st.integers(0, 5)),
    },
)
BODIES = st.one_of(INTERVAL_BODIES, CRON_BODIES, DST_BODIES, ANY_BODIES)
# How late each run happens: on time, a little late, hours late, or up to ~3 years late.
DELAYS = st.lists(
    st.one_of(st.just(0), st.integers(0, 120), st.integers(0, 3 * 3600), st.integers(0, 10**8)),
    min_size=1,
    max_size=12,
)


def accepted(body: dict) -> tuple[dict, datetime] | None:
    """The definition and first run, or None where the API answers 422."""
    try:
        fields = NewOrder.model_validate(body).model_dump()
        fields["schedule_time"] = fields["schedule_time"] or datetime.now(UTC)
        return check_definition(fields, fields["schedule_time"], 0, Policy())
    except (ValidationError, DefinitionError):
        return None


def on_its_clock(fields: dict, run: datetime) -> bool:
    """A cron run is at a wall time the cron names, or where a DST gap ends."""
    zone = ZoneInfo(fields.get("timezone") or "UTC")
    local = run.astimezone(zone)
    if croniter.match(fields["cron"], local.replace(tzinfo=None)):
        return True
    return (run - timedelta(seconds=1)).astimezone(zone).utcoffset() != local.utcoffset()


@RUN
@given(body=BODIES, delays=DELAYS)
def test_a_schedule_is_refused_or_runs_forward(body, delays):
    check_runs(body, delays)


@RUN
@given(body=DST_BODIES, delays=st.lists(st.integers(0, 2 * 3600), min_size=1, max_size=6))
def test_a_schedule_runs_forward_across_dst_changes(body, delays):
    """The same property, starting right before a change in its own zone (where the old
    catch-up ran a repeated quarter-hour twice: this finds it within the examples)."""
    check_runs(body, delays)


def check_runs(body: dict, delays: list[int]) -> None:
    result = accepted(body)
    if result is None:
        return
    fields, first = result
    recurrence = recurrence_of(fields)
    assert first >= fields["schedule_time"] - timedelta(microseconds=1)
    if recurrence is None:
        return
    previous = first
    for delay in delays:
        now = previous + timedelta(seconds=delay)  # the run happens `delay` s late
        following = recurrence.following(previous)
        upcoming = recurrence.next_after(previous, now)
        assert following > previous and upcoming >= following
        if upcoming <= now:  # missed slots: one catch-up run, then back on the grid
            assert recurrence.next_after(upcoming, now) > now
        if fields.get("cron"):
            assert on_its_clock(fields, upcoming)
        previous = upcoming


@pytest.fixture
def order_id(client, alice) -> int:
    body = {"order_name": "base", "schedule_time": in_(3600)}
    return client.post("/orders", json=body, headers=alice.headers).json["order_id"]


def test_no_body_reaches_a_500(client, alice, order_id):
    """POST, PUT and PATCH with the same generated bodies: 2xx or 422, never anything else."""

    @settings(RUN, max_examples=150)
    @given(body=BODIES, method=st.sampled_from(["post", "put", "patch"]))
    def send(body, method):
        url = "/orders" if method == "post" else f"/orders/{order_id}"
        response = getattr(client, method)(url, json=body, headers=alice.headers)
        assert response.status_code in (200, 201, 422), (body, response.json)

    send()
