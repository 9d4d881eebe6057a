"""Signing the service's JWTs with flask-jwt-extended (the app's secret and lifetimes)."""

from __future__ import annotations

from datetime import timedelta

from flask_jwt_extended import create_access_token, create_refresh_token


def sign(identity: str, claims: dict, lifetime: timedelta | None, refresh: bool) -> str:
    """An access or refresh token for `identity` (accounts.sessions.Signer)."""
    if refresh:
        return create_refresh_token(identity, additional_claims=claims)
    return create_access_token(identity, additional_claims=claims, expires_delta=lifetime)
