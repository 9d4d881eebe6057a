"""A worker's own health and metrics, served on ORDERS_WORKER_HEALTH_PORT for probes and scrapes.

/healthz is 200 while the worker's heartbeat is fresh (it stops when the event loop is stuck or
the database is unreachable) and its registration row (procrastinate_workers) exists, 503
otherwise: compose and Kubernetes restart such a worker. A worker whose row is gone was taken
for dead by its peers (its running jobs are retried): it starts over with a new registration
(tasks/supervision/control.py), and says "unregistered" until that one beats. /metrics has
what only this process knows: how long each task's jobs took here,
and how often its registration was lost.

The server answers each connection on its own thread, and a client that sends nothing is
dropped after CLIENT_TIMEOUT_SECONDS, so a slow or idle client never delays a probe.
"""

from __future__ import annotations

import json
import threading
import time
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app

from orders.operations.metrics import BUCKETS


class WorkerHealth:
    """The heartbeat clock of one worker process and the metrics it exports."""

    def __init__(self, stale_after: float):
        self.stale_after = stale_after
        self.last_beat = time.monotonic()
        self.registered = True  # until a heartbeat finds the worker's row gone
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
        self.registrations_lost = Counter(
            "orders_worker_registrations_lost",
            "Times this worker found its registration gone (taken for dead) and started over.",
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

    def beat(self, registered: bool = True) -> None:
        self.last_beat = time.monotonic()
        self.registered = registered
        if not registered:
            self.registrations_lost.inc()

    def age(self) -> float:
        return time.monotonic() - self.last_beat

    def status(self) -> str:
        if not self.registered:
            return "unregistered"
        return "ok" if self.age() < self.stale_after else "stale"

    def healthy(self) -> bool:
        return self.status() == "ok"


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


CLIENT_TIMEOUT_SECONDS = 5.0


class _Handler(WSGIRequestHandler):
    timeout = CLIENT_TIMEOUT_SECONDS  # socket timeout: an idle or slow client is dropped

    def log_message(self, format, *args):  # a probe every few seconds would flood the log
        pass


class _ThreadedServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a stuck client never holds up the worker's exit


def serve(health: WorkerHealth, port: int, host: str = "127.0.0.1") -> WSGIServer:
    """Serve /healthz and /metrics from daemon threads; returns the server (to shut it down)."""
    metrics = make_wsgi_app(health.registry)

    def app(environ, start_response):
        if environ.get("PATH_INFO") != "/healthz":
            return metrics(environ, start_response)
        status = health.status()
        body = json.dumps({"status": status, "heartbeat_age": health.age()})
        code = "200 OK" if status == "ok" else "503 Service Unavailable"
        start_response(code, [("Content-Type", "application/json")])
        return [body.encode()]

    server = make_server(host, port, app, server_class=_ThreadedServer, handler_class=_Handler)
    threading.Thread(target=server.serve_forever, name="health", daemon=True).start()
    return server
