"""Periodic housekeeping; Procrastinate's periodic defer runs each tick once across workers."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from orders.db import Q
from tasks.app import app

log = logging.getLogger(__name__)


@app.periodic(cron="17 * * * *")
@app.task(queue="maintenance")
async def prune_revoked_tokens(timestamp: int) -> int:
    """Delete revoked-token rows past their expiry; `timestamp` is the tick it runs for."""
    async with app.connector.pool.connection() as conn:
        cursor = await conn.execute(
            Q["revoked_token_prune"], {"now": datetime.fromtimestamp(timestamp, UTC)}
        )
    log.info("pruned %d expired revoked tokens", cursor.rowcount)
    return cursor.rowcount
