"""Prometheus metrics read from the database at scrape time.

Every figure comes from the database, so any API process answers for the whole system (all
workers on all hosts) and a restart loses nothing. A scrape does bounded work at any history
size: counters and histograms come from rollups kept by triggers (orders.operations.rollups),
gauges from
indexed ranges of current work (due orders, waiting and running jobs). Counters never go
backwards when history is pruned. Per-process figures of a worker (its job durations, its
heartbeat) are on the worker's own port (tasks/supervision/health.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from orders.database import Database, Q
from orders.operations import rollups

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
COUNTERS = {
    "job_failed_attempts": (
        "orders_job_failed_attempts",
        "Failed job attempts (retried or final).",
    ),
    "stuck_recoveries": (
        "orders_stuck_recoveries",
        "Stuck orders re-queued by recover_stuck_orders.",
    ),
    "emails_sent": ("orders_emails_sent", "Mails delivered to the SMTP server."),
    "emails_failed": ("orders_emails_failed", "Mails given up after their last attempt."),
}
HISTOGRAMS = {
    "run_duration": (
        "orders_execution_duration_seconds",
        "Run duration of orders (start to finish).",
    ),
    "run_lateness": (
        "orders_execution_lateness_seconds",
        "How late runs started after their scheduled time.",
    ),
}
SERIES = ["orders", "outbox", "runs", *COUNTERS, *HISTOGRAMS]


class DatabaseCollector:
    """One scrape = one fold (on the primary) and a handful of bounded queries on one pooled
    connection (of the replica, if one is configured)."""

    def __init__(self, db: Database, read_db: Database | None = None):
        self.db, self.read_db = db, read_db or db

    def collect(self) -> Iterator[Metric]:
        rollups.fold(self.db)
        with self.read_db.read() as conn:
            rollup = rollups.current(conn, SERIES)
            yield _by_status(rollups.status_counts(rollup["orders"]))
            yield _jobs(conn.execute(Q["queue_depth_list"]).fetchall())
            yield from _lateness(conn.execute(Q["order_lateness_now"]).fetchone())
            yield from _workers(conn.execute(Q["worker_summary"]).fetchone())
            yield from _counters(rollup)
            yield from _mail_and_log(rollup["outbox"], conn.execute(Q["status_log_lag"]).fetchone())
            yield from _histograms(rollup)
            yield from _circuits(conn.execute(Q["circuit_counts"]).fetchall())
            now = {"now": datetime.now(UTC)}
            yield from _webhooks(conn.execute(Q["webhook_summary"], now).fetchone())


def _by_status(rows: list[dict]) -> Metric:
    family = GaugeMetricFamily("orders_orders", "Orders per status.", labels=["status"])
    for row in rows:
        family.add_metric([row["status"]], row["n"])
    return family


def _jobs(rows: list[dict]) -> Metric:
    family = GaugeMetricFamily(
        "orders_jobs",
        "Procrastinate jobs waiting (todo) and running (doing), per queue.",
        labels=["queue", "status"],
    )
    for row in rows:
        family.add_metric([row["queue_name"], row["status"]], row["n"])
    return family


def _lateness(row: dict) -> Iterator[Metric]:
    yield GaugeMetricFamily(
        "orders_overdue_orders", "Scheduled orders due but not started yet.", value=row["overdue"]
    )
    yield GaugeMetricFamily(
        "orders_stuck_orders", "Orders no job will run (see the orders_stuck view).", row["stuck"]
    )
    yield GaugeMetricFamily(
        "orders_max_lateness_seconds",
        "How long the most overdue scheduled order has waited.",
        value=row["max_lateness"],
    )


def _workers(row: dict) -> Iterator[Metric]:
    yield GaugeMetricFamily("orders_workers_live", "Registered worker processes.", row["live"])
    yield GaugeMetricFamily(
        "orders_worker_heartbeat_max_age_seconds",
        "Age of the oldest heartbeat among registered workers.",
        value=row["max_age"],
    )


def _counters(rollup: dict[str, dict[str, dict]]) -> Iterator[Metric]:
    for series, (name, doc) in COUNTERS.items():
        yield CounterMetricFamily(name, doc, value=sum(r["n"] for r in rollup[series].values()))
    runs = CounterMetricFamily(
        "orders_executions", "Runs of orders recorded, per outcome.", labels=["outcome"]
    )
    for outcome in ("succeeded", "failed"):
        row = rollup["runs"].get(outcome)
        runs.add_metric([outcome], row["n"] if row else 0)
    yield runs


def _mail_and_log(outbox: dict[str, dict], log_row: dict) -> Iterator[Metric]:
    pending = sum(row["n"] for label, row in outbox.items() if label.endswith("/pending"))
    yield GaugeMetricFamily("orders_emails_pending", "Mails waiting to be sent.", pending)
    yield GaugeMetricFamily(
        "orders_status_log_lag_seconds",
        "Seconds since a worker last advanced the status log (about 1 while workers run).",
        value=log_row["lag"],
    )


def _histograms(rollup: dict[str, dict[str, dict]]) -> Iterator[Metric]:
    for series, (name, doc) in HISTOGRAMS.items():
        histogram = rollups.Histogram.of(rollup[series], BUCKETS)
        yield HistogramMetricFamily(
            name, doc, buckets=histogram.cumulative(), sum_value=histogram.total
        )


def _circuits(rows: list[dict]) -> Iterator[Metric]:
    """Aggregates only: destinations are chosen by customers, so no host label."""
    open_ = GaugeMetricFamily(
        "orders_circuits_open", "Circuits open or half-open (probing).", labels=["kind"]
    )
    changes = CounterMetricFamily(
        "orders_circuit_state_changes",
        "Circuit state changes, by the state entered.",
        labels=["kind", "to"],
    )
    for row in rows:
        open_.add_metric([row["kind"]], row["open"] + row["half_open"])
        for to, column in (("open", "opens"), ("half_open", "half_opens"), ("closed", "closes")):
            changes.add_metric([row["kind"], to], row[column])
    yield open_
    yield changes


def _webhooks(row: dict) -> Iterator[Metric]:
    family = GaugeMetricFamily(
        "orders_webhook_deliveries",
        "Webhook deliveries not settled, and failed.",
        labels=["status"],
    )
    for status in ("pending", "delivering", "failed"):
        family.add_metric([status], row[status])
    yield family
    yield GaugeMetricFamily(
        "orders_webhook_oldest_due_seconds",
        "How long the oldest due webhook delivery has waited (held ones included).",
        value=max(row["oldest_due_seconds"], 0.0),
    )


def make_registry(db: Database, read_db: Database | None = None) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(db, read_db))
    return registry
