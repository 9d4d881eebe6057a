"""What the per-account limits cost: the same requests against two API servers on one database,
one with the limits off (ORDERS_ENV=test defaults) and one with them on (set high enough never
to refuse, so every request pays for the checks: the rate counter's upsert in the token lookup,
the quota's per-account lock and bounded count on creates). Rounds alternate between the two
servers, so both see the same noise; the ratio on/off is the figure.

    .venv/bin/python -m bench.limits            # 1,600 requests per round, 3 rounds each
    .venv/bin/python -m bench.limits --quick    # 400 requests per round, 2 rounds

Starts its own PostgreSQL cluster (fsync on) and two gunicorns.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from bench.api import Api, order_body, sign_up, start_gunicorn
from bench.cluster import bench_database, free_port

# Never refusing: the rate limit high, the quota at its production default (10,000), which the
# one-account scenario approaches (it ends near 9,600 active orders: the count's worst case).
LIMITS_ON = {"ORDERS_API_RATE_LIMIT": str(10**9), "ORDERS_MAX_ACTIVE_ORDERS": "10000"}
CLIENTS = 16


@contextmanager
def server(url: str, logs: Path, env: dict[str, str]):
    saved = dict(os.environ)
    os.environ.update(env)  # start_gunicorn passes the environment on
    try:
        port = free_port()
        proc = start_gunicorn(url, port, 4, logs)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def rate(base: str, tokens: list[str], requests: int, method: str, path: str) -> float:
    """Requests per second, CLIENTS at once, each with its token (tokens[i % len])."""

    def client(i: int) -> int:
        api = Api(base, tokens[i % len(tokens)])
        bad = 0
        for n in range(requests // CLIENTS):
            status = api.call(method, path, order_body(n) if method == "POST" else None)[0]
            bad += status >= 300
        return bad

    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        refused = sum(pool.map(client, range(CLIENTS)))
    assert refused == 0, f"{refused} requests refused"
    return requests / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1600)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.rounds = 400, 2
    logs = Path(tempfile.mkdtemp(prefix="bench-limits-"))
    with bench_database(None) as (url, description):
        print(f"database: {description}; logs in {logs}", flush=True)
        with server(url, logs, {}) as off, server(url, logs, LIMITS_ON) as on:
            table = measure(off, on, args.requests, args.rounds)
    print(f"\n{'scenario (16 clients)':<40} {'off/s':>8} {'on/s':>8} {'on/off':>7}")
    for name, (off_rate, on_rate) in table.items():
        print(f"{name:<40} {off_rate:8.0f} {on_rate:8.0f} {on_rate / off_rate:7.2f}")


def measure(off: str, on: str, requests: int, rounds: int) -> dict[str, tuple[float, float]]:
    many = [sign_up(off, i)[1] for i in range(CLIENTS)]
    one = [sign_up(off, CLIENTS)[1]]
    scenarios = {
        "POST /orders, 16 accounts": (many, "POST", "/orders"),
        "POST /orders, one account": (one, "POST", "/orders"),
        "GET /auth/me, one account": (one, "GET", "/auth/me"),
    }
    table = {}
    for name, (tokens, method, path) in scenarios.items():
        runs: dict[str, list[float]] = {off: [], on: []}
        for _ in range(rounds):
            for base in (off, on) if len(runs[on]) % 2 == 0 else (on, off):
                runs[base].append(rate(base, tokens, requests, method, path))
        table[name] = (statistics.median(runs[off]), statistics.median(runs[on]))
    return table


if __name__ == "__main__":
    main()
