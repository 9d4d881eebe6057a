"""A worker's own health and metrics, served on ORDERS_WORKER_HEALTH_PORT for probes and scrapes.

/healthz is 200 while the worker's heartbeat is fresh (it stops when the event loop is stuck or
the database is unreachable), 503 otherwise: compose and Kubernetes restart such a worker.
/metrics has what only this process knows: how long each task's jobs took here.
"""

from __future__ import annotations

import json
import threading
import time
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app

from orders.metrics import BUCKETS


class WorkerHealth:
    """The heartbeat clock of one worker process and the metrics it exports."""

    def __init__(self, stale_after: float):
        self.stale_after = stale_after
        self.last_beat = time.monotonic()
        self.registry = CollectorRegistry()
        self.job_seconds = Histogram(
            "orders_worker_job_duration_seconds",
            "Jobs run by this worker, by task and outcome.",
            ["task", "outcome"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.batch_seconds = Histogram(
            "orders_worker_batch_duration_seconds",
            "Order-run batches of this worker's executor (claim to commit).",
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.runs = Counter(
            "orders_worker_runs",
            "Order runs of this worker's executor, by outcome (delayed: met a timeout).",
            ["outcome"],
            registry=self.registry,
        )
        age = Gauge(
            "orders_worker_heartbeat_age_seconds",
            "Seconds since this worker last updated its heartbeat.",
            registry=self.registry,
        )
        age.set_function(self.age)

    def observe_batch(self, batch, seconds: float) -> None:
        """Executor hook: one batch's duration and what became of its runs."""
        if batch.claimed:
            self.batch_seconds.observe(seconds)
        for outcome in ("ran", "failed", "delayed"):
            if count := getattr(batch, outcome):
                self.runs.labels(outcome).inc(count)

    def beat(self) -> None:
        self.last_beat = time.monotonic()

    def age(self) -> float:
        return time.monotonic() - self.last_beat

    def healthy(self) -> bool:
        return self.age() < self.stale_after


def metrics_middleware(health: WorkerHealth):
    """Worker middleware timing every job into `health.job_seconds`."""

    async def timed(call_next, context, worker):
        start, outcome = time.monotonic(), "failed"
        try:
            result = await call_next()
            outcome = "succeeded"
            return result
        finally:
            elapsed = time.monotonic() - start
            health.job_seconds.labels(context.job.task_name, outcome).observe(elapsed)

    return timed


class _Quiet(WSGIRequestHandler):
    def log_message(self, format, *args):  # a probe every few seconds would flood the log
        pass


def serve(health: WorkerHealth, port: int, host: str = "0.0.0.0") -> WSGIServer:  # noqa: S104 - probes come from outside a container
    """Serve /healthz and /metrics from a daemon thread; returns the server (to shut it down)."""
    metrics = make_wsgi_app(health.registry)

    def app(environ, start_response):
        if environ.get("PATH_INFO") != "/healthz":
            return metrics(environ, start_response)
        ok = health.healthy()
        body = json.dumps({"status": "ok" if ok else "stale", "heartbeat_age": health.age()})
        status = "200 OK" if ok else "503 Service Unavailable"
        start_response(status, [("Content-Type", "application/json")])
        return [body.encode()]

    server = make_server(host, port, app, handler_class=_Quiet)
    threading.Thread(target=server.serve_forever, name="health", daemon=True).start()
    return server
