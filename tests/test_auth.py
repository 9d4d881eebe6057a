"""Signup, login, refresh, me and logout, with every error path in the one error shape."""

from __future__ import annotations

import pytest

from tests.conftest import Account
from tests.helpers import assert_error


def test_signup_login_me_logout(client):
    """The whole happy path, as the README's curl session runs it."""
    signup = client.post(
        "/auth/signup", json={"email": " Carol@Example.COM ", "password": "s3cret-pass"}
    )
    login = client.post(
        "/auth/login", json={"email": "carol@example.com", "password": "s3cret-pass"}
    )
    headers = {"Authorization": f"Bearer {login.json['access_token']}"}
    me = client.get("/auth/me", headers=headers)
    logout = client.post("/auth/logout", headers=headers)
    after = client.get("/auth/me", headers=headers)

    assert signup.status_code == 201
    assert signup.json["email"] == "carol@example.com" and signup.json["role"] == "customer"
    assert "password" not in signup.get_data(as_text=True)
    assert login.status_code == 200 and login.json["refresh_token"]
    assert me.json["email"] == "carol@example.com"
    assert logout.status_code == 204
    assert_error(after, 401, "unauthorized")


def test_password_is_stored_hashed(client, db):
    """The database holds a slow-KDF hash, never the password."""
    client.post("/auth/signup", json={"email": "dave@example.com", "password": "plain-text-pw"})

    stored = db.execute("SELECT password_hash FROM users").fetchone()["password_hash"]

    assert "plain-text-pw" not in stored and stored.startswith("scrypt:")


def test_duplicate_signup_is_409_case_insensitively(client, alice):
    """A second account for the same address, in any case, is a conflict."""
    response = client.post(
        "/auth/signup", json={"email": "ALICE@example.com", "password": "x" * 10}
    )

    assert_error(response, 409, "email_taken")


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email", "password": "long-enough"},
        {"email": "eve@example.com", "password": "short"},
        {"email": "eve@example.com"},
        {"email": "eve@example.com", "password": "long-enough", "role": "admin"},
        [],
        "just a string",
    ],
)
def test_signup_rejects_bad_bodies(client, body):
    """Invalid email, short password, missing or unknown fields: 422 with field details."""
    response = client.post("/auth/signup", json=body)

    error = assert_error(response, 422, "validation_error")
    assert error["details"]


def test_signup_rejects_malformed_json(client):
    """A body that is not JSON at all is a 400, not a 500."""
    response = client.post("/auth/signup", data="{not json", content_type="application/json")

    assert_error(response, 400, "invalid_json")


def test_oversized_body_is_413(client):
    """Bodies over ORDERS_MAX_BODY_BYTES are refused before parsing."""
    response = client.post("/auth/signup", data="x" * (70 * 1024), content_type="application/json")

    assert "65536-byte limit" in assert_error(response, 413)["message"]


@pytest.mark.parametrize("password", ["wrong-password", "short", "", "x" * 500])
def test_every_wrong_password_and_unknown_email_look_the_same(client, alice, password):
    """No user enumeration, and no length rule leaking through: the same 401 for all."""
    wrong = client.post("/auth/login", json={"email": alice.email, "password": password})
    unknown = client.post("/auth/login", json={"email": "nobody@example.com", "password": password})

    assert_error(wrong, 401, "invalid_credentials")
    assert wrong.json == unknown.json


def test_refresh_issues_a_working_access_token(client, alice):
    """A refresh token buys a new access token; it is not itself an access token."""
    refreshed = client.post("/auth/refresh", headers={"Authorization": f"Bearer {alice.refresh}"})
    me = client.get(
        "/auth/me", headers={"Authorization": f"Bearer {refreshed.json['access_token']}"}
    )
    misuse = client.get("/auth/me", headers={"Authorization": f"Bearer {alice.refresh}"})
    access_as_refresh = client.post("/auth/refresh", headers=alice.headers)

    assert refreshed.status_code == 200 and me.json["user_id"] == alice.user_id
    assert_error(misuse, 401)
    assert_error(access_as_refresh, 401)


def test_logout_with_refresh_token_revokes_it(client, alice):
    """Logging out with the refresh token stops it from buying access tokens."""
    headers = {"Authorization": f"Bearer {alice.refresh}"}

    client.post("/auth/logout", headers=headers)

    assert_error(client.post("/auth/refresh", headers=headers), 401)


@pytest.mark.parametrize(
    "header", [None, "Bearer", "Bearer not.a.jwt", "Basic abc", "Bearer a.b.c"]
)
def test_missing_or_garbage_tokens_are_401(client, header):
    """No header, no token, or a token that is not a JWT: 401 in our shape, not {"msg": ...}."""
    headers = {"Authorization": header} if header else {}

    response = client.get("/auth/me", headers=headers)

    assert_error(response, 401, "unauthorized")
    assert "msg" not in response.json


def test_unknown_route_and_wrong_method_use_the_error_shape(client):
    """404 and 405 are JSON, never an HTML page."""
    assert_error(client.get("/no/such/thing"), 404, "not_found")
    assert_error(client.get("/auth/login"), 405, "method_not_allowed")


def test_unexpected_error_is_a_500_without_details(app, client, monkeypatch):
    """A bug gives the one shape with a generic message; the exception text stays in the log."""
    from orders.accounts import service

    def boom(*_args, **_kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(service, "login", boom)

    response = client.post("/auth/login", json={"email": "a@example.com", "password": "whatever1"})

    error = assert_error(response, 500, "internal_error")
    assert "secret internals" not in response.get_data(as_text=True) and error


def test_second_account_is_independent(client, alice, bob):
    """Each token identifies its own account."""
    assert client.get("/auth/me", headers=bob.headers).json["email"] == "bob@example.com"
    assert client.get("/auth/me", headers=alice.headers).json["email"] == "alice@example.com"


def test_account_helper_roundtrip(client):
    """The Account fixture signs up and logs in through the real endpoints."""
    account = Account(client, "erin@example.com")

    assert client.get("/auth/me", headers=account.headers).status_code == 200
