"""Authentication endpoints, on the original system's paths so its clients keep working."""

from __future__ import annotations

from flask import Blueprint, request
from flask_jwt_extended import (
    JWTManager,
    current_user,
    get_jwt,
    jwt_required,
)

from orders.auth import service
from orders.auth.models import Credentials, Tokens, User
from orders.http import get_db, get_settings, parse_body
from orders.openapi import documented

bp = Blueprint("auth", __name__, url_prefix="/auth")


@bp.post("/signup")
@documented("Create a customer account", body=Credentials, response=User, status=201, auth=False)
def signup():
    """Create a customer account."""
    user = service.create_user(get_db(), parse_body(Credentials))
    return user.model_dump(mode="json"), 201


@bp.post("/login")
@documented("Exchange email and password for tokens", body=Credentials, response=Tokens, auth=False)
def login():
    """Exchange email and password for an access and a refresh token."""
    address = request.remote_addr or "unknown"
    tokens = service.login(get_db(), get_settings(), parse_body(Credentials), address)
    return tokens.model_dump(mode="json")


@bp.post("/refresh")
@jwt_required(refresh=True)
@documented("Exchange a refresh token for an access token", response=Tokens)
def refresh():
    """Exchange a refresh token for a new access token."""
    return service.issue_tokens(current_user, with_refresh=False).model_dump(mode="json")


@bp.get("/me")
@jwt_required()
@documented("The token's account", response=User)
def me():
    """The account the access token belongs to."""
    return current_user.model_dump(mode="json")


@bp.post("/logout")
@jwt_required(verify_type=False)
@documented("Revoke the presented token", status=204)
def logout():
    """Revoke the presented token (access or refresh); using it again gives 401."""
    service.revoke_token(get_db(), get_jwt())
    return "", 204


def register_jwt_callbacks(jwt: JWTManager) -> None:
    jwt.user_lookup_loader(lambda _header, payload: service.token_user(get_db(), payload)[0])
    jwt.token_in_blocklist_loader(lambda _h, payload: service.token_user(get_db(), payload)[1])
