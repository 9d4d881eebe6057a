"""Forged, stale and misused tokens: every one is a 401 in the one error shape."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import timedelta

import pytest
from flask_jwt_extended import create_access_token

from tests.helpers import assert_error


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def claims(token: str) -> dict:
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def tampered_signature(app, client, db, alice) -> str:
    head, payload, signature = alice.access.split(".")
    return f"{head}.{payload}.{signature[:-4]}AAAA"


def tampered_claims(app, client, db, alice) -> str:
    """Same signature, payload changed to another user (and role): the signature no longer fits."""
    head, _, signature = alice.access.split(".")
    forged = claims(alice.access) | {"sub": "1", "role": "admin"}
    return f"{head}.{b64(forged)}.{signature}"


def alg_none(app, client, db, alice) -> str:
    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims(alice.access))}."


def expired(app, client, db, alice) -> str:
    with app.app_context():
        return create_access_token(str(alice.user_id), expires_delta=timedelta(seconds=-1))


def refresh_as_access(app, client, db, alice) -> str:
    return alice.refresh


def revoked(app, client, db, alice) -> str:
    assert client.post("/auth/logout", headers=alice.headers).status_code == 204
    return alice.access


def deleted_user(app, client, db, alice) -> str:
    db.execute("DELETE FROM users WHERE user_id = %s", (alice.user_id,))
    return alice.access


def other_secret(app, client, db, alice) -> str:
    with app.app_context():
        app.config["JWT_SECRET_KEY"] = "another-secret-another-secret-another"
        token = create_access_token(str(alice.user_id))
        app.config["JWT_SECRET_KEY"] = app.extensions["orders.settings"].require_jwt_secret()
    return token


ATTACKS = [
    tampered_signature,
    tampered_claims,
    alg_none,
    expired,
    refresh_as_access,
    revoked,
    deleted_user,
    other_secret,
]


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.__name__ for a in ATTACKS])
@pytest.mark.parametrize("path", ["/auth/me", "/orders"])
def test_attack_is_401(app, client, db, alice, attack: Callable[..., str], path: str):
    token = attack(app, client, db, alice)

    response = client.get(path, headers={"Authorization": f"Bearer {token}"})

    assert_error(response, 401, "unauthorized")
    assert "msg" not in response.json


def test_access_token_cannot_refresh(client, alice):
    assert_error(client.post("/auth/refresh", headers=alice.headers), 401, "unauthorized")


GARBLED = [
    "t7e3.e30.AAAA",  # header bytes that are not UTF-8
    "eyJhbGciOiJIUzI1NiJ9.e30.A",  # signature with bad base64 padding
    "eyJhbGciOiJIUzI1NiJ9.W10.AAAA",  # payload is a JSON array
    "e30.e30.e30",
    "a.b.c.d",
    "\u00b7\u00b7.\u00b7.x",
    "A" * 4000,
]


@pytest.mark.parametrize("token", GARBLED)
def test_garbled_tokens_get_a_message_for_the_client(client, token):
    """Never a decoder's internals ('codec can't decode', 'crypto padding')."""
    response = client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})

    error = assert_error(response, 401, "unauthorized")
    assert error["message"] == "the token is malformed or was not signed by this service"


def test_the_wrong_kind_of_token_is_named(client, alice):
    as_access = client.get("/auth/me", headers={"Authorization": f"Bearer {alice.refresh}"})
    as_refresh = client.post("/auth/refresh", headers=alice.headers)
    missing = client.get("/auth/me")

    assert "not a refresh one" in assert_error(as_access, 401)["message"]
    assert "takes a refresh token" in assert_error(as_refresh, 401)["message"]
    assert "Authorization: Bearer" in assert_error(missing, 401)["message"]


def test_tokens_from_before_sessions_are_refused(app, client, alice):
    """A validly signed token without a session (issued by an older version) is a 401."""
    with app.app_context():
        legacy = create_access_token(str(alice.user_id), additional_claims={"role": "customer"})

    response = client.get("/auth/me", headers={"Authorization": f"Bearer {legacy}"})

    assert_error(response, 401, "unauthorized")
