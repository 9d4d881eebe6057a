"""Routes for one kind of account: a valid token of another role is a 403 in the error shape."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask_jwt_extended import current_user, jwt_required

from orders.accounts.models import Role
from orders.core.errors import ApiError


def role_required(role: Role) -> Callable:
    """`jwt_required()`, and the account's role (as read with the token) must be `role`."""

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def checked(*args, **kwargs):
            if current_user.role != role:
                raise ApiError(403, "forbidden", f"this endpoint is for {role} accounts")
            return view(*args, **kwargs)

        return jwt_required()(checked)

    return decorate
