"""expand_upcoming_runs: the periodic upkeep of the upcoming-runs table
(orders/scheduling/upcoming/upkeep.py).

Every minute (ORDERS_UPCOMING_CRON, registered by the worker: tasks/jobs/periodic.py), once
across all workers (Procrastinate's periodic deferrer), on the maintenance queue. The pass runs
in a thread with its own connection: reading, expanding and writing chunks never holds the
worker's event loop, whose other tasks and heartbeats go on meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict
from datetime import UTC, datetime

import psycopg
from procrastinate import JobContext
from psycopg.rows import dict_row

from orders.database import Q
from orders.scheduling.upcoming.upkeep import Pass, upkeep
from orders.settings import Settings
from tasks.jobs.app import app, settings_of

UPKEEP_CHUNK = 1000  # orders expanded per statement: bounds one statement's work

log = logging.getLogger(__name__)


@app.task(
    queue="maintenance",
    name="expand_upcoming_runs",
    lock="expand_upcoming_runs",  # one pass at a time: a long first pass is not raced by the next
    queueing_lock="expand_upcoming_runs",  # and at most one more waits behind it
    pass_context=True,
)
async def expand_upcoming_runs(context: JobContext, timestamp: int) -> dict[str, int]:
    """Purge past minutes and extend orders into the horizon (ORDERS_UPCOMING_HOURS)."""
    done = await asyncio.to_thread(_pass, settings_of(context), datetime.now(UTC))
    log.info("upcoming runs: %s", done)
    return asdict(done)


def _pass(settings: Settings, now: datetime) -> Pass:
    url = settings.require_database_url()
    keepalives = settings.keepalives().connect_kwargs()
    with psycopg.connect(url, autocommit=True, row_factory=dict_row, **keepalives) as conn:
        conn.execute(Q["session_configure_worker_pool"], settings.maintenance_timeouts().params())
        return upkeep(conn, now, settings.upcoming_hours, UPKEEP_CHUNK)
