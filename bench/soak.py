"""Soak: mixed API traffic against gunicorn (2 processes) and 2 order workers, one of which is
SIGKILLed and restarted every 30 s; then an invariant check of API, tables, audit, log and runs.

    .venv/bin/python -m bench.soak                  # 10 minutes
    .venv/bin/python -m bench.soak --seconds 60     # the CI-sized run (tests/test_soak.py)

    .venv/bin/python -m bench.soak --pgbouncer  # the API through PgBouncer (transaction mode)

Baseline in the same run: the same clients calling GET /healthz (HTTP stack, no database).
Exits 1 when an invariant fails. Starts its own PostgreSQL cluster (fsync on). With
--pgbouncer the API connects through a real PgBouncer in transaction mode (prepared statements
off, as deployed behind one); the workers and the invariant check connect directly.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.api import Api, start_gunicorn
from bench.cluster import bench_database, free_port
from bench.invariants import check_all, executions_between, wait_quiet
from bench.pgbouncer import pgbouncer
from bench.workers import spawn, stop

# Answers that are correct for each operation. 409: the order ran or finished meanwhile;
# 422 on convert: the new max_executions is not above the runs already done.
OK = {
    "signup": {201},
    "create": {201},
    "list": {200},
    "get": {200},
    "update": {200, 409},
    "convert": {200, 409, 422},
    "delete": {200, 204, 409},
    "pause": {200, 409},  # 409: the order is running, finished or paused meanwhile
}
WEIGHTS = {
    "create": 40,
    "list": 20,
    "update": 10,
    "convert": 10,
    "delete": 10,
    "get": 8,
    "pause": 5,
    "signup": 2,
}
PRIORITIES = ["low", "normal", "high", "urgent"]
POLICIES = ["latest", "all", "none"]


def soon(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


class Client(threading.Thread):
    """One simulated customer app: its accounts, its orders, and what it was told."""

    def __init__(self, base: str, n: int, stop_at: float, seed: int):
        super().__init__(daemon=True)
        self.base, self.n, self.stop_at, self.rng = base, n, stop_at, random.Random(seed)
        self.accounts: list[Api] = []
        self.orders: dict[int, dict] = {}  # order_id -> {"api": Api, "deleted": bool}
        self.statuses: Counter = Counter()
        self.unexpected: Counter = Counter()
        self.latencies: list[float] = []

    def run(self) -> None:
        self.signup()
        ops = list(WEIGHTS)
        weights = list(WEIGHTS.values())
        while time.monotonic() < self.stop_at:
            getattr(self, self.rng.choices(ops, weights)[0])()

    def call(self, op: str, api: Api, method: str, path: str, body=None) -> tuple[int, dict]:
        status, payload, latency = api.call(method, path, body)
        self.statuses[status] += 1
        self.latencies.append(latency)
        if status not in OK[op]:
            self.unexpected[(op, status)] += 1
        return status, payload

    def signup(self) -> None:
        creds = {
            "email": f"soak{self.n}-{len(self.accounts)}@example.com",
            "password": "soak pass 1",
        }
        status, _ = self.call("signup", Api(self.base), "POST", "/auth/signup", creds)
        if status == 201:
            token = Api(self.base).call("POST", "/auth/login", creds)[1]["access_token"]
            self.accounts.append(Api(self.base, token))

    def create(self) -> None:
        api = self.rng.choice(self.accounts)
        body = {
            "order_name": f"soak {self.n}",
            "schedule_time": soon(self.rng.uniform(0.5, 5)),
            "priority": self.rng.choice(PRIORITIES),
        }
        if self.rng.random() < 0.3:
            body |= {
                "is_recurring": True,
                "repeat_interval": 1,
                "repeat_unit": "seconds",
                "max_executions": self.rng.randint(2, 4),
                "missed_runs": self.rng.choice(POLICIES),
            }
        status, order = self.call("create", api, "POST", "/orders", body)
        if status == 201:
            self.orders[order["order_id"]] = {"api": api, "deleted": False}

    def _pick(self) -> tuple[int, dict] | None:
        live = [(i, o) for i, o in self.orders.items() if not o["deleted"]]
        return self.rng.choice(live[-50:]) if live else None  # recent ones: still changeable

    def list(self) -> None:
        self.call("list", self.rng.choice(self.accounts), "GET", "/orders?limit=20")

    def get(self) -> None:
        if picked := self._pick():
            self.call("get", picked[1]["api"], "GET", f"/orders/{picked[0]}")

    def update(self) -> None:
        if picked := self._pick():
            body = {"order_name": f"renamed {self.rng.randint(1, 999)}"}
            self.call("update", picked[1]["api"], "PATCH", f"/orders/{picked[0]}", body)

    def convert(self) -> None:
        if picked := self._pick():
            body = (
                {
                    "is_recurring": True,
                    "repeat_interval": 1,
                    "repeat_unit": "seconds",
                    "max_executions": 2,
                }
                if self.rng.random() < 0.5
                else {"is_recurring": False}
            )
            self.call("convert", picked[1]["api"], "PATCH", f"/orders/{picked[0]}", body)

    def pause(self) -> None:
        """The customer pauses an order and resumes it: it must still run all its runs."""
        if picked := self._pick():
            order_id, api = picked[0], picked[1]["api"]
            status, _ = self.call("pause", api, "POST", f"/orders/{order_id}/pause", {})
            if status == 200:
                self.call("pause", api, "POST", f"/orders/{order_id}/resume")

    def delete(self) -> None:
        if picked := self._pick():
            status, _ = self.call("delete", picked[1]["api"], "DELETE", f"/orders/{picked[0]}")
            picked[1]["deleted"] = status in (200, 204)


def baseline(base: str, clients: int, seconds: float) -> float:
    """Requests/s of GET /healthz from the same number of client threads."""
    counts = [0] * clients
    stop_at = time.monotonic() + seconds

    def loop(i: int) -> None:
        api = Api(base)
        while time.monotonic() < stop_at:
            api.call("GET", "/healthz")
            counts[i] += 1

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / seconds


def kill_loop(url: str, logs: Path, workers: dict, every: float, stop_at: float) -> int:
    kills, turn = 0, 0
    while time.monotonic() + every < stop_at:
        time.sleep(every)
        name = sorted(workers)[turn % len(workers)]
        workers[name].send_signal(signal.SIGKILL)
        workers[name].wait()
        workers[name] = start_worker(url, logs, name)
        kills, turn = kills + 1, turn + 1
    return kills


def start_worker(url: str, logs: Path, name: str):
    env = {
        "ORDERS_STALLED_AFTER_SECONDS": "5",
        "ORDERS_WORKER_HEARTBEAT_SECONDS": "1",
        "ORDERS_RUN_MAX_ATTEMPTS": "11",
        "ORDERS_STUCK_ORDERS_CRON": "* * * * * */5",
        "ORDERS_STUCK_GRACE_SECONDS": "5",
    }
    argv = ["-m", "orders", "worker", "--name", name, "--concurrency", "8"]
    return spawn(argv, url, logs, name, **env)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--kill-every", type=float, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--pgbouncer", action="store_true", help="the API through PgBouncer")
    args = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    with bench_database() as (url, description), contextlib.ExitStack() as stack:
        print(f"database: {description}; logs in {logs}", flush=True)
        port, api_url, api_settings = free_port(), url, {}
        if args.pgbouncer:
            bouncer = stack.enter_context(pgbouncer(url))
            api_url, api_settings = bouncer.url("orders_bench"), {"DB_PREPARED_STATEMENTS": "false"}
            print(f"API through PgBouncer (transaction mode) at {api_url}", flush=True)
        api = start_gunicorn(api_url, port, 2, logs, **api_settings)
        workers = {name: start_worker(url, logs, name) for name in ("w1", "w2")}
        try:
            return soak(args, url, f"http://127.0.0.1:{port}", logs, workers)
        finally:
            stop([api, *workers.values()])


def soak(args, url: str, base: str, logs: Path, workers: dict) -> int:
    healthz = baseline(base, args.clients, min(10.0, args.seconds / 6))
    started, window_start = time.monotonic(), datetime.now(UTC)
    stop_at = started + args.seconds
    clients = [Client(base, n, stop_at, args.seed + n) for n in range(args.clients)]
    for c in clients:
        c.start()
    kills = kill_loop(url, logs, workers, args.kill_every, stop_at)
    for c in clients:
        c.join()
    elapsed, runs = (
        time.monotonic() - started,
        executions_between(url, window_start, datetime.now(UTC)),
    )
    quiet = wait_quiet(url, timeout=180)
    results = check_all(url, logs / "orders.log", clients)
    report(args, clients, (elapsed, runs, healthz, kills, quiet), results)
    return 0 if all(ok for _, ok, _ in results) else 1


def report(args, clients, figures: tuple, results) -> None:
    elapsed, runs, healthz, kills, quiet = figures
    statuses = sum((c.statuses for c in clients), Counter())
    unexpected = sum((c.unexpected for c in clients), Counter())
    latencies = sorted(x for c in clients for x in c.latencies)
    total = sum(statuses.values())
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000 if latencies else 0.0
    print(f"\n{'measure':<44} value")
    print(f"{'traffic':<44} {elapsed:.0f} s, {args.clients} clients, {kills} worker SIGKILLs")
    print(f"{'requests/s (mixed)':<44} {total / elapsed:8.1f}")
    print(f"{'baseline GET /healthz requests/s':<44} {healthz:8.1f}")
    print(f"{'ratio mixed / healthz':<44} {total / elapsed / healthz:8.2f}")
    print(f"{'answers by status':<44} {dict(sorted(statuses.items()))}")
    print(
        f"{'unexpected answers (error rate)':<44} {sum(unexpected.values())} "
        f"({sum(unexpected.values()) / max(total, 1):.2%}) {dict(unexpected)}"
    )
    print(f"{'p99 latency':<44} {p99:8.0f} ms")
    print(f"{'executions/s during traffic':<44} {runs / elapsed:8.1f} ({runs} runs)")
    print(f"{'all orders settled after traffic':<44} {quiet}")
    print("\ninvariant                                     result")
    for name, ok, detail in results:
        print(f"{name:<44} {'ok' if ok else 'FAILED'}  {detail}")


if __name__ == "__main__":
    sys.exit(main())
