"""Queue the mail that is due now, instead of waiting for the next digest tick (`orders digest
--now`): provider digests of every request not yet notified, and customer notices not yet sent,
with the same set-based statements the periodic tasks run, in one transaction that also asks a
worker to send them (`send_outbox`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from orders.database import Database, Q, queue


@dataclass(frozen=True)
class Queued:
    after_id: int  # mail with a larger outbox_id was queued by this call
    digests: int
    notices: int
    requests: int

    @property
    def mails(self) -> int:
        return self.digests + self.notices


def queue_due_mail(db: Database, now: datetime, actor: str) -> Queued:
    with db.transaction(actor=actor) as conn:
        after_id = conn.execute(Q["outbox_last_id"]).fetchone()["outbox_id"]
        digests = conn.execute(Q["provider_digest_queue"], {"now": now}).fetchone()
        notices = conn.execute(
            Q["customer_notice_queue"], {"request_ids": None, "now": now}
        ).fetchone()
        if digests["mails"] or notices["mails"]:
            queue.job(queue.SEND_OUTBOX, queue.MAIL_QUEUE, conn).defer()
    requests = digests["requests"] + notices["requests"]
    return Queued(after_id, digests["mails"], notices["mails"], requests)


def status_of(db: Database, queued: Queued, now: datetime) -> dict[str, int]:
    """{'pending': n, 'sent': n, 'failed': n} for the mail `queued` made."""
    with db.read() as conn:
        rows = conn.execute(Q["outbox_status_since"], {"after_id": queued.after_id, "now": now})
        return {row["status"]: row["n"] for row in rows}
