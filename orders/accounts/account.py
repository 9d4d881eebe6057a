"""An account's owner changes its password, exports its data, or deletes it.

Deleting keeps the row as an anonymous tombstone (`deleted-<id>@deleted.invalid`, no password)
so that the ids in the order history still point somewhere, and in one transaction: cancels
its orders and their waiting jobs; erases what the customer wrote (order names, payloads,
Idempotency-Keys) from `orders` and from the audit trail (`order_events.details`), keeping the
events themselves; drops mail not yet sent to the account and erases the address and body of
mail already sent; ends every session. The status log file holds ids only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field
from werkzeug.security import generate_password_hash

from orders.accounts import sessions
from orders.accounts.models import AccountDeleted, User
from orders.database import Database, Q
from orders.scheduling.models import Order, OrderEvent


class ExportedSession(BaseModel):
    session_id: str
    created_at: datetime
    last_refreshed_at: datetime | None
    refresh_expires_at: datetime
    ended_at: datetime | None
    end_reason: str | None


class ExportedOrder(Order):
    events: list[OrderEvent]
    executions: list[dict[str, Any]] = Field(description="runs: when, attempts, outcome, error")
    requests: list[dict[str, Any]] = Field(description="provider requests and their answers")


class AccountExport(BaseModel):
    exported_at: datetime
    account: User
    sessions: list[ExportedSession]
    orders: list[ExportedOrder]


def tombstone(user_id: int) -> str:
    return f"deleted-{user_id}@deleted.invalid"


def change_password(db: Database, user: User, new_password: str, session_id: str) -> int:
    """Set the new password (checked by the caller) and end every other session."""
    params = {"user_id": user.user_id, "password_hash": generate_password_hash(new_password)}
    with db.transaction(actor=f"user:{user.user_id}") as conn:
        conn.execute(Q["user_set_password"], params)
        return sessions.end_all(conn, user.user_id, "password_changed", keep=session_id)


def delete_account(db: Database, user: User) -> AccountDeleted:
    """Everything described in the module docstring, all or nothing."""
    now, key = datetime.now(UTC), {"user_id": user.user_id}
    with db.transaction(actor=f"user:{user.user_id}") as conn:
        conn.execute(Q["session_set_reason"], {"reason": "account deleted by its owner"})
        live = conn.execute(Q["account_orders_lock"], key).fetchall()
        conn.execute(Q["account_jobs_cancel"], key)
        conn.execute(Q["account_orders_anonymise"], key | {"now": now})
        conn.execute(Q["account_events_anonymise"], key)
        mail = {"email": user.email, "tombstone": tombstone(user.user_id)}
        conn.execute(Q["account_mail_erase"], mail)
        sessions.end_all(conn, user.user_id, "account_deleted")
        row = conn.execute(Q["account_user_anonymise"], key | mail | {"now": now}).fetchone()
    cancelled = sum(1 for order in live if order["status"] in ("scheduled", "failed"))
    return AccountDeleted(
        user_id=row["user_id"], deleted_at=row["deleted_at"], orders_cancelled=cancelled
    )


def export_account(db: Database, user: User) -> AccountExport:
    """The account, its sessions, and each order with its audit trail, runs and requests."""
    key = {"user_id": user.user_id}
    with db.read() as conn:
        orders = conn.execute(Q["account_export_orders"], key).fetchall()
        related = {
            name: _by_order(conn.execute(Q[f"account_export_{name}"], key).fetchall())
            for name in ("events", "executions", "requests")
        }
        found = conn.execute(Q["auth_session_list"], key).fetchall()
    return AccountExport(
        exported_at=datetime.now(UTC),
        account=user,
        sessions=[ExportedSession(**s | {"session_id": str(s["session_id"])}) for s in found],
        orders=[
            ExportedOrder(**o, **{n: rows.get(o["order_id"], []) for n, rows in related.items()})
            for o in orders
        ],
    )


def _by_order(rows: list[dict]) -> dict[int, list[dict]]:
    grouped: dict[int, list[dict]] = {}
    for row in rows:
        grouped.setdefault(row.pop("order_id"), []).append(row)
    return grouped
