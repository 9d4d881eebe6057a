"""Sessions: logout ends access and refresh tokens, logout-all ends every session, refresh
tokens rotate and a reused one ends its whole family, a password change ends the others."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import Account
from tests.helpers import assert_error
from tests.test_token_attacks import claims


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def login(client, account: Account) -> dict:
    creds = {"email": account.email, "password": account.password}
    response = client.post("/auth/login", json=creds)
    assert response.status_code == 200, response.json
    return response.json


def works(client, tokens: dict) -> tuple[bool, bool]:
    """(the access token is accepted, the refresh token is accepted), without spending the
    refresh token: a refresh that works is answered with tokens that replace `tokens`."""
    access = client.get("/auth/me", headers=bearer(tokens["access_token"])).status_code == 200
    refreshed = client.post("/auth/refresh", headers=bearer(tokens["refresh_token"]))
    if refreshed.status_code == 200:
        tokens |= refreshed.json
    return access, refreshed.status_code == 200


def end_reasons(db, user_id: int) -> list:
    rows = db.execute(
        "SELECT end_reason FROM sessions WHERE user_id = %s ORDER BY created_at", (user_id,)
    )
    return [r["end_reason"] for r in rows]


@pytest.mark.parametrize("with_token", ["access_token", "refresh_token"])
def test_logout_ends_the_session_for_both_tokens(client, alice, with_token):
    tokens = login(client, alice)

    assert client.post("/auth/logout", headers=bearer(tokens[with_token])).status_code == 204

    assert works(client, tokens) == (False, False)
    assert works(client, {"access_token": alice.access, "refresh_token": alice.refresh}) == (
        True,
        True,
    )  # another session of the same account is untouched


def test_logout_all_ends_every_session_admin_ones_included(client, db, alice):
    db.execute("UPDATE users SET role = 'admin' WHERE user_id = %s", (alice.user_id,))
    laptop, phone = login(client, alice), login(client, alice)

    response = client.post("/auth/logout-all", headers=bearer(phone["access_token"]))

    assert response.status_code == 200 and response.json == {"sessions_ended": 3}
    for tokens in (laptop, phone, {"access_token": alice.access, "refresh_token": alice.refresh}):
        assert works(client, tokens) == (False, False)
    assert end_reasons(db, alice.user_id) == ["logout_all"] * 3
    overview = client.get("/dashboard/api/overview", headers=bearer(laptop["access_token"]))
    assert_error(overview, 401)


def test_refresh_rotates_and_the_new_tokens_work(client, alice):
    first = client.post("/auth/refresh", headers=bearer(alice.refresh))
    second = client.post("/auth/refresh", headers=bearer(first.json["refresh_token"]))

    assert first.status_code == second.status_code == 200
    assert len({alice.refresh, first.json["refresh_token"], second.json["refresh_token"]}) == 3
    assert client.get("/auth/me", headers=bearer(second.json["access_token"])).status_code == 200


def test_a_reused_refresh_token_ends_its_whole_family(client, db, alice):
    """Theft detection: the thief and the owner both hold the token; whoever comes second
    (after the grace period) ends the session for both."""
    rotated = client.post("/auth/refresh", headers=bearer(alice.refresh)).json
    db.execute("UPDATE sessions SET rotated_at = rotated_at - interval '1 minute'")

    reused = client.post("/auth/refresh", headers=bearer(alice.refresh))

    assert_error(reused, 401, "refresh_token_reused")
    assert works(client, rotated) == (False, False)
    assert works(client, {"access_token": alice.access, "refresh_token": alice.refresh}) == (
        False,
        False,
    )
    assert end_reasons(db, alice.user_id) == ["refresh_reused"]


def test_concurrent_refreshes_within_the_grace_period_all_succeed(app, db, alice):
    """Two tabs refreshing at once present the same token: both get the session's current
    refresh token, and the session lives on."""
    clients = [app.test_client() for _ in range(6)]

    with ThreadPoolExecutor(6) as pool:
        answers = list(
            pool.map(lambda c: c.post("/auth/refresh", headers=bearer(alice.refresh)), clients)
        )

    assert [a.status_code for a in answers] == [200] * 6
    current = db.execute("SELECT refresh_jti::text AS jti FROM sessions").fetchone()["jti"]
    assert {claims(a.json["refresh_token"])["jti"] for a in answers} == {current}
    assert end_reasons(db, alice.user_id) == [None]


def test_password_change_ends_every_other_session(client, db, alice):
    other = login(client, alice)
    change = {"current_password": alice.password, "new_password": "a brand new secret"}

    changed = client.post("/auth/password", json=change, headers=alice.headers)

    assert changed.status_code == 200 and changed.json == {"sessions_ended": 1}
    assert works(client, other) == (False, False)
    assert client.get("/auth/me", headers=alice.headers).status_code == 200  # this one lives
    old = client.post("/auth/login", json={"email": alice.email, "password": alice.password})
    new = client.post("/auth/login", json={"email": alice.email, "password": "a brand new secret"})
    assert_error(old, 401, "invalid_credentials")
    assert new.status_code == 200


@pytest.mark.parametrize(
    "change",
    [
        {"current_password": "not it", "new_password": "a brand new secret"},
        {"current_password": "correct horse battery", "new_password": "short"},
        {"new_password": "a brand new secret"},
    ],
)
def test_password_change_needs_the_current_password_and_a_valid_new_one(client, alice, change):
    response = client.post("/auth/password", json=change, headers=alice.headers)

    assert response.status_code in (401, 422)
    assert client.get("/auth/me", headers=alice.headers).status_code == 200
    assert login(client, alice)["access_token"]  # the password did not change
