"""Attempts mean what their name says: ORDERS_RUN_MAX_ATTEMPTS and ORDERS_MAIL_MAX_ATTEMPTS both
count attempts, the first included; the old ORDERS_MAX_ATTEMPTS (retries) still works, with a
warning."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from orders.settings import Settings
from tasks.supervision.worker import run_policy


def decisions(run_max_attempts: int, tries: int = 8) -> list[bool]:
    """For each attempt 1..tries that fails: is another attempt scheduled?"""
    policy = run_policy(Settings(ORDERS_ENV="test", ORDERS_RUN_MAX_ATTEMPTS=run_max_attempts), "w")
    return [not policy.gives_up(attempt) for attempt in range(1, tries + 1)]


@pytest.mark.parametrize("attempts", [1, 2, 6])
def test_a_run_gets_exactly_its_attempts(attempts):
    """1 means no retry at all (Procrastinate's own max_attempts=0 would mean unlimited)."""
    assert decisions(attempts) == [True] * (attempts - 1) + [False] * (8 - attempts + 1)


@pytest.mark.parametrize("name", ["ORDERS_RUN_MAX_ATTEMPTS", "ORDERS_MAIL_MAX_ATTEMPTS"])
def test_attempts_are_at_least_one(name):
    with pytest.raises(ValidationError, match=name):
        Settings(ORDERS_ENV="test", **{name: 0})


def test_the_old_name_counts_retries_and_warns():
    with pytest.warns(FutureWarning, match="ORDERS_RUN_MAX_ATTEMPTS=6"):
        settings = Settings(ORDERS_ENV="test", ORDERS_MAX_ATTEMPTS=5)

    assert settings.run_max_attempts == 6


def test_the_old_name_from_the_environment_too(monkeypatch):
    monkeypatch.setenv("ORDERS_MAX_ATTEMPTS", "2")

    with pytest.warns(FutureWarning):
        assert Settings(ORDERS_ENV="test").run_max_attempts == 3


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ORDERS_MAX_ATTEMPTS": 0}, "no longer supported"),
        (
            {"ORDERS_MAX_ATTEMPTS": 3, "ORDERS_RUN_MAX_ATTEMPTS": 4},
            "set ORDERS_RUN_MAX_ATTEMPTS only",
        ),
    ],
)
def test_unlimited_or_both_names_are_refused(env, message):
    with pytest.raises(ValidationError, match=message):
        Settings(ORDERS_ENV="test", **env)


def test_the_default_keeps_the_old_behaviour():
    """Five retries before: six attempts now."""
    assert Settings(ORDERS_ENV="test").run_max_attempts == 6
