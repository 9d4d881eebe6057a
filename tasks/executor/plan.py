"""What a batch's runs are: the worker's run policy, and each claimed run's plan (the slot it
runs for by the order's missed-run policy, whether it is the last, when the next one is)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from orders.database import Timeouts
from orders.scheduling.missed import MissedRules, expired, plan_recurring
from orders.scheduling.schedule import recurrence_of


@dataclass(frozen=True)
class Policy:
    """How a worker runs orders: batch size, attempts, backoff and its name."""

    worker: str
    batch: int = 500
    max_attempts: int = 6
    retry_base: float = 2.0
    transient_delay: float = 1.0
    levels: tuple[int, ...] = (0,)
    timeouts: Timeouts = field(default_factory=lambda: Timeouts(30, 5, 10))
    missed: MissedRules = field(default_factory=MissedRules)
    # share each batch between the accounts with orders due (tasks/executor/claim.py)
    fair: bool = True

    def gives_up(self, attempt: int) -> bool:
        """Whether a run that failed its `attempt`-th attempt (1 = the first) is failed for
        good: ORDERS_RUN_MAX_ATTEMPTS counts attempts, the first included."""
        return attempt >= self.max_attempts

    def retry_at(self, now: datetime, attempts_before: int) -> datetime:
        """Exponential backoff, as Procrastinate's RetryStrategy(exponential_wait=base)."""
        return now + timedelta(seconds=self.retry_base ** (attempts_before + 1))


@dataclass
class Run:
    """One claimed job whose order is due: what to write for it."""

    job_id: int
    attempts: int
    priority: int
    order: dict[str, Any]
    last: bool = False
    next_run_at: datetime | None = None
    slot: datetime | None = None  # the slot this run is for; None: it does not run (see runs)
    missed: int = 0
    expired: bool = False

    @property
    def order_id(self) -> int:
        return self.order["order_id"]

    @property
    def run_number(self) -> int:
        return self.order["executions_count"] + 1

    @property
    def runs(self) -> bool:
        """False for a missed run the order's policy skips, or an expired one-time order."""
        return self.slot is not None and not self.expired

    def plan(self, now: datetime, rules: MissedRules) -> None:
        """Decide the slot this run is for (orders/scheduling/missed.py), whether it is the order's
        last run and when the next one is."""
        recurrence, due = recurrence_of(self.order), self.order["next_run_at"]
        if recurrence is None:
            self.slot, self.last = due, True
            self.expired = expired(due, now, self.order["expires_after"])
            return
        late = plan_recurring(recurrence, self.order["missed_runs"], due, now, rules)
        self.slot, self.next_run_at, self.missed = late.run_for, late.next_run_at, late.missed
        limit = self.order["max_executions"]
        self.last = self.runs and limit is not None and self.run_number >= limit
        if self.last:
            self.next_run_at = None


def plan_runs(runs: list[Run], now: datetime, rules: MissedRules) -> list[tuple[Run, Exception]]:
    """Plan every run; the ones whose next slot cannot be computed, with the error."""
    failed = []
    for run in runs:
        try:
            run.plan(now, rules)
        except (ValueError, OverflowError, KeyError) as exc:
            failed.append((run, exc))
    return failed
