"""Authentication and account endpoints, on the original system's paths so its clients keep
working."""

from __future__ import annotations

from flask import Blueprint, g, request
from flask_jwt_extended import JWTManager, current_user, get_jwt, jwt_required

from orders.accounts import account, service, sessions
from orders.accounts.limits import AccountLimits
from orders.accounts.models import (
    AccountDeleted,
    Credentials,
    LoginCredentials,
    PasswordChange,
    PasswordConfirmation,
    SessionsEnded,
    Tokens,
    User,
)
from orders.accounts.throttle import Limits
from orders.web import tokens as signing
from orders.web.http import get_db, get_settings, parse_body
from orders.web.openapi import documented

bp = Blueprint("auth", __name__, url_prefix="/auth")


def _address() -> str:
    return request.remote_addr or "unknown"


def _throttle() -> Limits:
    return Limits.from_settings(get_settings())


@bp.post("/signup")
@documented("Create a customer account", body=Credentials, response=User, status=201, auth=False)
def signup():
    user = service.create_user(get_db(), parse_body(Credentials))
    return user.model_dump(mode="json"), 201


@bp.post("/login")
@documented(
    "Start a session: email and password for tokens",
    body=LoginCredentials,
    response=Tokens,
    auth=False,
)
def login():
    policy = sessions.Policy.from_settings(get_settings(), signing.sign)
    creds = parse_body(LoginCredentials)
    return service.login(get_db(), _throttle(), policy, creds, _address()).model_dump(mode="json")


@bp.post("/refresh")
@jwt_required(refresh=True)
@documented("Rotate the refresh token: new access and refresh tokens", response=Tokens)
def refresh():
    policy = sessions.Policy.from_settings(get_settings(), signing.sign)
    tokens = sessions.refresh(get_db(), current_user, get_jwt(), policy)
    return tokens.model_dump(mode="json")


@bp.get("/me")
@jwt_required()
@documented("The token's account", response=User)
def me():
    return current_user.model_dump(mode="json")


@bp.post("/logout")
@jwt_required(verify_type=False)
@documented("End this session: its access and refresh tokens stop working", status=204)
def logout():
    sessions.end(get_db(), current_user.user_id, get_jwt()["sid"])
    return "", 204


@bp.post("/logout-all")
@jwt_required(verify_type=False)
@documented("End every session of the account, this one included", response=SessionsEnded)
def logout_all():
    ended = sessions.end_everywhere(get_db(), current_user.user_id, "logout_all")
    return SessionsEnded(sessions_ended=ended).model_dump()


@bp.post("/password")
@jwt_required()
@documented(
    "Change the password; every other session ends", body=PasswordChange, response=SessionsEnded
)
def change_password():
    change = parse_body(PasswordChange)
    db, user = get_db(), current_user
    service.verify_password(db, _throttle(), user, change.current_password, _address())
    ended = account.change_password(db, user, change.new_password, get_jwt()["sid"])
    return SessionsEnded(sessions_ended=ended).model_dump()


@bp.delete("/me")
@jwt_required()
@documented(
    "Delete the account: orders cancelled, personal data erased, sessions ended",
    body=PasswordConfirmation,
    response=AccountDeleted,
)
def delete_me():
    confirmation = parse_body(PasswordConfirmation)
    db, user = get_db(), current_user
    service.verify_password(db, _throttle(), user, confirmation.password, _address())
    return account.delete_account(db, user).model_dump(mode="json")


@bp.get("/me/export")
@jwt_required()
@documented("Everything stored about the account, as JSON", response=account.AccountExport)
def export_me():
    return account.export_account(get_db(), current_user).model_dump(mode="json")


def register_jwt_callbacks(jwt: JWTManager) -> None:
    def lookup(payload: dict):  # both callbacks ask: look the token up once per request
        if "token_user" not in g:
            limits = AccountLimits.from_settings(get_settings())
            g.token_user = service.token_user(get_db(), payload, limits)
        return g.token_user

    jwt.user_lookup_loader(lambda _header, payload: lookup(payload)[0])
    jwt.token_in_blocklist_loader(lambda _header, payload: lookup(payload)[1])
