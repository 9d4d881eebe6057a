"""Pause and resume execution: everything, a queue, an account or an order.

The SQL functions orders_pause / orders_resume (sql/0062_pause.sql) are the one implementation:
they check the request, set the flags, retire nothing and defer the resumed orders' runs, and
audit every action in operator_actions (and order pauses in order_events). The CLI, the
dashboard and the customer's own order endpoints call them through this module, which turns
their refusals into the API's error shape.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import psycopg
from psycopg import errors
from pydantic import BaseModel, ConfigDict, Field

from orders.core.errors import Busy, Conflict, NotFound, refusal
from orders.database import Database, Q
from orders.scheduling import service as orders
from orders.scheduling.models import Order

Scope = Literal["all", "queue", "account", "order"]
ACTIONS_SHOWN = 20
PAUSES_SHOWN = 200


class PauseRequest(BaseModel):
    """What to pause or resume: `all` takes no target; `queue` a queue name (orders, mail,
    webhooks); `account` an email; `order` an order id."""

    model_config = ConfigDict(extra="forbid")

    scope: Scope
    target: str | None = Field(None, max_length=320)
    reason: str | None = Field(None, max_length=500, description="Why (pauses only)")


class OrderPauseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(None, max_length=500)


class Paused(BaseModel):
    scope: Literal["queue", "account", "order"]
    target: str
    paused_at: datetime
    paused_by: str
    reason: str | None


class OperatorAction(BaseModel):
    action_id: int
    at: datetime
    operator: str
    action: Literal["pause", "resume", "set_tier"]
    scope: Scope
    target: str | None
    reason: str | None


class Pauses(BaseModel):
    paused: list[Paused] = Field(
        description="What is paused now: queues and accounts, then the 200 oldest paused orders"
    )
    actions: list[OperatorAction] = Field(description="The latest pauses and resumes")


class PauseResult(BaseModel):
    action: Literal["pause", "resume"]
    scope: Scope
    changed: list[str] = Field(description="Queues, account or order paused or resumed")


def pause(db: Database, request: PauseRequest, operator: str) -> PauseResult:
    """Pause what `request` names, as `operator`."""
    params = request.model_dump() | {"operator": operator}
    changed = _call(db, "pause_apply", params, operator)
    return PauseResult(action="pause", scope=request.scope, changed=changed)


def resume(db: Database, request: PauseRequest, operator: str) -> PauseResult:
    """Resume what `request` names, as `operator`; resumed orders get their run deferred."""
    params = request.model_dump(exclude={"reason"}) | {"operator": operator}
    changed = _call(db, "pause_release", params, operator)
    return PauseResult(action="resume", scope=request.scope, changed=changed)


def _call(db: Database, query: str, params: dict, operator: str) -> list[str]:
    try:
        with db.transaction(actor=operator) as conn:
            return conn.execute(Q[query], params).fetchone()["changed"]
    except errors.LockNotAvailable:
        raise Busy("the order or account is being changed right now") from None
    except psycopg.Error as exc:
        raise refusal(exc) from None


def list_pauses(db: Database) -> Pauses:
    """What is paused now, and the latest operator actions."""
    with db.read() as conn:
        paused = conn.execute(Q["pause_list"], {"limit": PAUSES_SHOWN}).fetchall()
        actions = conn.execute(Q["operator_action_list_recent"], {"limit": ACTIONS_SHOWN})
        return Pauses(paused=paused, actions=actions.fetchall())


def pause_own(db: Database, user_id: int, order_id: int, reason: str | None) -> Order:
    """A customer pauses one of their orders (audited as user:<id>)."""
    orders.get_order(db, user_id, order_id)  # someone else's order is a 404
    request = PauseRequest(scope="order", target=str(order_id), reason=reason)
    pause(db, request, f"user:{user_id}")
    return orders.get_order(db, user_id, order_id)


def resume_own(db: Database, user_id: int, order_id: int) -> Order:
    """A customer resumes an order they paused; an operator's pause is the operator's to lift."""
    with db.read() as conn:
        row = conn.execute(Q["order_pause_get"], {"order_id": order_id}).fetchone()
    if row is None or row["user_id"] != user_id:
        raise NotFound("order")
    if row["paused_by"] is not None and row["paused_by"] != f"user:{user_id}":
        raise Conflict(
            "an operator paused this order; only an operator can resume it", "paused_by_operator"
        )
    resume(db, PauseRequest(scope="order", target=str(order_id)), f"user:{user_id}")
    return orders.get_order(db, user_id, order_id)
