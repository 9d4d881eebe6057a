"""Real webhook receivers for the tests: threaded HTTP servers on 127.0.0.1 that record every
request and answer as told (slow, 500, redirect, flapping), and can be stopped and restarted on
the same port (down, then back). Also the in-process delivery run the worker's task does."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bench.cluster import free_port
from orders.settings import Settings
from orders.webhooks.delivery import Policy, Stats, deliver_due
from orders.webhooks.signing import HEADER, verify
from tests.mail import run_on_connection


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    body: bytes
    valid: bool | None  # signature checked against the receiver's secret (None: no secret)

    @property
    def event(self) -> dict:
        return json.loads(self.body)


class Receiver:
    """Answers `status` after `delay` seconds; the first `fail_first` requests get 500."""

    def __init__(self, secret: str | None = None):
        self.port, self.secret = free_port(), secret
        self.status, self.delay, self.fail_first, self.location = 200, 0.0, 0, None
        self.hits: list[Hit] = []
        self.busy = self.most_busy = 0
        self._lock, self._server, self._thread = threading.Lock(), None, None

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> Receiver:
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Down: the port refuses connections until start() again."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict]:
        valid = None if self.secret is None else verify(headers.get(HEADER, ""), body, self.secret)
        with self._lock:
            self.hits.append(Hit(path, headers, body, valid))
            n = len(self.hits)
            self.busy += 1
            self.most_busy = max(self.most_busy, self.busy)
        try:
            time.sleep(self.delay)
        finally:
            with self._lock:
                self.busy -= 1
        if n <= self.fail_first:
            return 500, {}
        if self.location:
            return 302, {"Location": self.location}
        return self.status, {}

    def wait_for(self, count: int, timeout: float = 60) -> list[Hit]:
        deadline = time.monotonic() + timeout
        while len(self.hits) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.hits)} requests after {timeout} s, not {count}")
            time.sleep(0.05)
        return self.hits

    @property
    def keys(self) -> list[str]:
        return [h.headers["Idempotency-Key"] for h in self.hits]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            status, extra = receiver.answer(self.path, dict(self.headers.items()), body)
            reply = json.dumps({"received": True, "status": status}).encode()
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args):
            pass

    return Handler


def hook_settings(settings: Settings, **changes) -> Settings:
    """Test settings for webhooks: local receivers allowed, short timeouts, no backoff."""
    fields = {
        "webhook_allow_private_targets": True,
        "webhook_connect_timeout_seconds": 2.0,
        "webhook_read_timeout_seconds": 2.0,
        "webhook_retry_base_seconds": 0.0,
        "webhook_max_attempts": 3,
        "circuit_failure_threshold": 3,
        "circuit_cooldown_seconds": 30.0,
    }
    return settings.model_copy(update=fields | changes)


def deliver(database_url: str, settings: Settings, clock=None, worker: str = "test") -> Stats:
    """One run of the deliver_webhooks task's work, with these settings (and this clock)."""
    extra = {"clock": clock} if clock else {}
    return run_on_connection(
        database_url, deliver_due, Policy.from_settings(settings), worker, **extra
    )
