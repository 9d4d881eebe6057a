"""Password guessing is slowed per account and per client address, with 429 and Retry-After."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from orders.web.app import create_app
from tests.conftest import Account
from tests.helpers import assert_error

WRONG = "not the password"


@pytest.fixture
def throttled(settings):
    """A client of an app locking an account after 3 failures and an address after 6."""
    limits = {
        "login_max_failures_per_account": 3,
        "login_max_failures_per_address": 6,
        "login_lockout_seconds": 30,
        "trusted_proxies": 1,
    }
    app = create_app(settings.model_copy(update=limits))
    yield app.test_client()
    app.extensions["orders.db"].close()


def login(client, email: str, password: str, address: str = "198.51.100.7"):
    headers = {"X-Forwarded-For": address}
    return client.post("/auth/login", json={"email": email, "password": password}, headers=headers)


def lock_seconds(db, scope: str, key: str) -> float:
    row = db.execute(
        "SELECT extract(epoch FROM locked_until - now())::float8 AS s FROM login_failures "
        "WHERE scope = %s AND key = %s",
        (scope, key),
    ).fetchone()
    return row["s"]


def test_an_account_is_locked_after_its_limit(throttled, db):
    alice = Account(throttled, "alice@example.com")
    for _ in range(3):
        assert_error(login(throttled, "Alice@Example.com", WRONG), 401, "invalid_credentials")

    locked = login(throttled, alice.email, alice.password)  # even the right password waits
    error = assert_error(locked, 429, "too_many_attempts")
    assert 25 <= int(locked.headers["Retry-After"]) <= 30 and "retry in" in error["message"]
    assert login(throttled, alice.email, alice.password, "203.0.113.9").status_code == 429
    assert Account(throttled, "bob@example.com")  # others log in from the same address


def test_unknown_emails_are_locked_the_same_way(throttled):
    for _ in range(3):
        assert_error(login(throttled, "nobody@example.com", WRONG), 401, "invalid_credentials")
    assert_error(login(throttled, "nobody@example.com", WRONG), 429, "too_many_attempts")


def test_each_failure_past_the_limit_doubles_the_lock(throttled, db):
    for _ in range(3):
        login(throttled, "carol@example.com", WRONG)
    assert 28 < lock_seconds(db, "account", "carol@example.com") <= 30
    db.execute("UPDATE login_failures SET locked_until = now() - interval '1 s'")
    login(throttled, "carol@example.com", WRONG)  # failure 4: 30 s * 2
    assert 58 < lock_seconds(db, "account", "carol@example.com") <= 60


def test_the_lock_expires_and_a_success_forgets_the_failures(throttled, db):
    dave = Account(throttled, "dave@example.com")
    for _ in range(3):
        login(throttled, dave.email, WRONG)
    db.execute("UPDATE login_failures SET locked_until = now() - interval '1 s'")

    assert login(throttled, dave.email, dave.password).status_code == 200
    scopes = db.execute("SELECT scope FROM login_failures ORDER BY scope").fetchall()
    assert [r["scope"] for r in scopes] == ["address"]  # the address keeps its count


def test_an_old_window_starts_over(throttled, db):
    for _ in range(2):
        login(throttled, "erin@example.com", WRONG)
    db.execute("UPDATE login_failures SET window_started_at = now() - interval '1 hour'")
    login(throttled, "erin@example.com", WRONG)
    row = db.execute("SELECT failures, locked_until FROM login_failures WHERE scope = 'account'")
    assert row.fetchone() == {"failures": 1, "locked_until": None}


def test_an_address_guessing_many_accounts_is_locked(throttled):
    frank = Account(throttled, "frank@example.com")
    for n in range(6):
        assert login(throttled, f"user{n}@example.com", WRONG, "192.0.2.1").status_code == 401
    assert_error(login(throttled, frank.email, frank.password, "192.0.2.1"), 429)
    assert login(throttled, frank.email, frank.password, "192.0.2.2").status_code == 200


def test_concurrent_wrong_guesses_cannot_all_pass_the_check(settings, db):
    """32 guesses at once against a limit of 5: at most 5 get to try a password (check and
    count are one step), the others are refused with 429."""
    limits = {"login_max_failures_per_account": 5, "db_pool_max": 10, "trusted_proxies": 1}
    app = create_app(settings.model_copy(update=limits))
    Account(app.test_client(), "alice@example.com")
    clients = [app.test_client() for _ in range(32)]
    guess = lambda c: login(c, "alice@example.com", WRONG).status_code  # noqa: E731

    try:
        with ThreadPoolExecutor(32) as pool:
            answers = list(pool.map(guess, clients))
    finally:
        app.extensions["orders.db"].close()

    assert 1 <= answers.count(401) <= 5
    assert answers.count(429) == 32 - answers.count(401)
    row = db.execute("SELECT failures FROM login_failures WHERE scope = 'account'").fetchone()
    assert row["failures"] == answers.count(401)
