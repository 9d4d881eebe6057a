"""Paused queues for Procrastinate's worker: it fetches jobs only from the queues it serves
that are not in queue_pauses (orders.scheduling.pauses; the orders queue's pause is in the
executor's claim).

Procrastinate fetches with `self.queues` inside `Worker._fetch_and_process_jobs`, which it calls
after every wake-up (a new job, the due-time alarm, the poll). Before each such round we read the
paused queues (a handful of rows) and narrow `self.queues`; with every served queue paused the
round fetches nothing (and clears the wake-up, as a fetch would).
tests/test_procrastinate_contract.py fails if Procrastinate changes any of that.
"""

from __future__ import annotations

from orders.database import Q
from tasks.jobs.app import QUEUES


class PausableQueues:
    """Mixin for a procrastinate.Worker: skip paused queues when fetching jobs."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.serving = list(self.queues) if self.queues is not None else list(QUEUES)

    async def _fetch_and_process_jobs(self):
        rows = await self.app.connector.execute_query_all_async(Q["queue_pause_names"])
        paused = {r["queue_name"] for r in rows}
        self.queues = [q for q in self.serving if q not in paused]
        if self.queues:
            await super()._fetch_and_process_jobs()
        else:  # as Procrastinate does after a fetch: else the wake-up would spin
            self._new_job_event.clear()
