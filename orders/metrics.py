"""Prometheus metrics read from the database at scrape time.

Every figure comes from the tables and views operators query, so any API process answers for
the whole system (all workers on all hosts) and a restart loses nothing. Per-process figures of
a worker (its job durations, its heartbeat) are on the worker's own port (tasks/health.py).
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
from psycopg_pool import ConnectionPool

from orders.db import Q

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class DatabaseCollector:
    """One scrape = a handful of aggregate queries on one pooled connection."""

    def __init__(self, pool: ConnectionPool):
        self.pool = pool

    def collect(self) -> Iterator[Metric]:
        with self.pool.connection() as conn:
            yield _by_status(conn.execute(Q["order_count_by_status"]).fetchall())
            yield _jobs(conn.execute(Q["queue_depth_list"]).fetchall())
            yield from _lateness(conn.execute(Q["order_lateness_now"]).fetchone())
            yield from _workers(conn.execute(Q["worker_summary"]).fetchone())
            yield from _counters(conn.execute(Q["metrics_counters"]).fetchone())
            rows = conn.execute(Q["metrics_execution_buckets"], {"bounds": list(BUCKETS)})
            yield from _histograms(rows.fetchall())
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
        "orders_jobs", "Procrastinate jobs per queue and status.", labels=["queue", "status"]
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


COUNTERS = {
    "retries": ("orders_job_failed_attempts", "Failed job attempts (each one retried or final)."),
    "recoveries": ("orders_stuck_recoveries", "Stuck orders re-queued by recover_stuck_orders."),
    "emails_sent": ("orders_emails_sent", "Mails delivered to the SMTP server."),
    "emails_failed": ("orders_emails_failed", "Mails given up after their last attempt."),
}


def _counters(row: dict) -> Iterator[Metric]:
    for column, (name, doc) in COUNTERS.items():
        yield CounterMetricFamily(name, doc, value=row[column])
    yield GaugeMetricFamily(
        "orders_emails_pending", "Mails waiting to be sent.", row["emails_pending"]
    )
    yield GaugeMetricFamily(
        "orders_status_log_lag_seconds",
        "Seconds since a worker last advanced the status log (about 1 while workers run).",
        value=row["status_log_lag"],
    )


def _histograms(rows: list[dict]) -> Iterator[Metric]:
    for metric, doc in (
        ("duration", "Run duration of orders (start to finish)."),
        ("lateness", "How late runs started after their scheduled time."),
    ):
        counts = {r["bucket"]: (r["n"], r["total"]) for r in rows if r["metric"] == metric}
        yield HistogramMetricFamily(
            f"orders_execution_{metric}_seconds",
            doc,
            buckets=_cumulative(counts),
            sum_value=sum(total for _, total in counts.values()),
        )


def _cumulative(counts: dict[int, tuple[int, float]]) -> list[tuple[str, int]]:
    """width_bucket counts (bucket i: below bound i+1) as Prometheus cumulative `le` buckets."""
    buckets, running = [], 0
    for i, bound in enumerate(BUCKETS):
        running += counts.get(i, (0, 0.0))[0]
        buckets.append((str(bound), running))
    running += counts.get(len(BUCKETS), (0, 0.0))[0]
    return [*buckets, ("+Inf", running)]


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


def make_registry(pool: ConnectionPool) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(pool))
    return registry
