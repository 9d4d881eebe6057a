"""Dashboard queries: read-only, straight from the tables and views operators also use in psql."""

from __future__ import annotations

from orders.dashboard.models import MailDashboard
from orders.db import Q
from orders.http import get_db

PROBLEMS_SHOWN = 50


def mail_dashboard() -> MailDashboard:
    """Mail per kind and status, and the latest failed or retrying mail with its error."""
    with get_db().pool.connection() as conn:
        counts = conn.execute(Q["outbox_summary"]).fetchall()
        problems = conn.execute(Q["outbox_problems_list"], {"limit": PROBLEMS_SHOWN}).fetchall()
    return MailDashboard(counts=counts, problems=problems)
