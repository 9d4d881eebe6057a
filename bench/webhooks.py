"""Webhook benchmark: events written by the triggers, and deliveries/s to a healthy local
receiver through the product, each against a baseline measured in the same run.

    .venv/bin/python -m bench.webhooks            # 5,000 events
    .venv/bin/python -m bench.webhooks --quick    # 1,000 events

Baselines: the same UPDATE cancelling the same number of orders of an owner without an
endpoint (what the triggers add), and plain httpx posting the very same bodies to the same
receiver with the same number in flight and no database (what claiming, signing, recording
and the circuit add). The receiver is a separate process (bench/receiver.py, HTTP/1.1
keep-alive). Starts its own PostgreSQL cluster (fsync on) unless --database-url is given.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import time

import httpx
import psycopg

from bench.cluster import bench_database, free_port
from orders.settings import Settings
from orders.webhooks.delivery import Policy, deliver_due

LOAD = [
    """INSERT INTO users (email, password_hash)
       VALUES ('hooked@example.com', 'x'), ('plain@example.com', 'x'), ('bare@example.com', 'x')""",
    """INSERT INTO webhook_endpoints (user_id, url, destination, events, secret)
       SELECT user_id, %(url)s, %(destination)s, ARRAY['order.cancelled'], repeat('s', 40)
       FROM users WHERE email = 'hooked@example.com'""",
    """INSERT INTO orders (user_id, order_name, schedule_time, next_run_at)
       SELECT u.user_id, 'bench ' || i, now() + interval '1 day', now() + interval '1 day'
       FROM users u CROSS JOIN generate_series(1, %(events)s) AS i""",
]
CANCEL = """UPDATE orders SET status = 'cancelled'
    WHERE user_id = (SELECT user_id FROM users WHERE email = %(email)s)"""
BODIES = """SELECT w.url, jsonb_build_object('id', ev.idempotency_key, 'type', ev.event_type,
        'created_at', ev.created_at, 'sequence', ev.sequence, 'order_id', ev.order_id,
        'data', ev.data)::text AS body
    FROM webhook_deliveries d JOIN webhook_events ev USING (event_id)
    JOIN webhook_endpoints w USING (endpoint_id)"""
RESET = """UPDATE webhook_deliveries SET status = 'pending', attempts = 0, delivered_at = NULL,
    next_attempt_at = now()"""
DELIVERED = "SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered'"


def timed(fn, *args) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - started, result


def sql(url: str, statement: str, params: dict | None = None) -> list[tuple]:
    with psycopg.connect(url) as conn:
        cursor = conn.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def start_receiver(port: int) -> subprocess.Popen:
    server = subprocess.Popen([sys.executable, "-m", "bench.receiver", str(port)])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("the receiver did not start")


def deliver_all(url: str, settings: Settings) -> int:
    """The product: deliver_webhooks' loop until nothing is due; returns deliveries made."""
    sql(url, RESET)

    async def main() -> int:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            policy = Policy.from_settings(settings)
            return (await deliver_due(conn, policy, "bench")).delivered

    return asyncio.run(main())


def plain_httpx(bodies: list[tuple[str, str]], in_flight: int) -> int:
    """The baseline: the same bodies to the same receiver, `in_flight` posting coroutines each
    taking the next body (as the product keeps `in_flight` posts going), no database."""

    async def main() -> int:
        queue, ok = iter(bodies), 0
        limits = httpx.Limits(max_connections=in_flight)
        async with httpx.AsyncClient(limits=limits, trust_env=False) as client:

            async def poster() -> None:
                nonlocal ok
                for target, body in queue:
                    headers = {"Content-Type": "application/json"}
                    response = await client.post(target, content=body, headers=headers)
                    ok += response.status_code == 200

            await asyncio.gather(*(poster() for _ in range(in_flight)))
        return ok

    return asyncio.run(main())


Row = tuple[str, float, str]


def measure_emission(url: str, events: int, port: int) -> list[Row]:
    destination = f"127.0.0.1:{port}"
    with psycopg.connect(url) as conn:
        for statement in LOAD:
            conn.execute(statement, {"url": f"http://{destination}/hook",
                                     "destination": destination, "events": events})  # fmt: skip
    sql_vacuum(url)
    bare_s = timed(cancel_without_triggers, url)[0]
    plain_s = timed(sql, url, CANCEL, {"email": "plain@example.com"})[0]
    hooked_s = timed(sql, url, CANCEL, {"email": "hooked@example.com"})[0]
    return [
        (f"cancel {events:,} orders, owner with an endpoint ({events:,} events)", hooked_s, "s"),
        ("the same UPDATE, owner without an endpoint", plain_s, "s"),
        ("baseline: the same UPDATE, webhook trigger disabled", bare_s, "s"),
    ]


def cancel_without_triggers(url: str) -> None:
    """What the UPDATE cost before webhooks existed: triggers off for this transaction only."""
    with psycopg.connect(url) as conn:
        conn.execute("ALTER TABLE order_events DISABLE TRIGGER order_events_webhooks")
        conn.execute(CANCEL, {"email": "bare@example.com"})
        conn.execute("ALTER TABLE order_events ENABLE TRIGGER order_events_webhooks")


def sql_vacuum(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def measure_delivery(url: str, events: int) -> list[Row]:
    rows: list[Row] = []
    bodies = sql(url, BODIES)
    base = Settings(ORDERS_WEBHOOK_ALLOW_PRIVATE_TARGETS="true")
    for in_flight, per_destination in ((8, 8), (50, 0)):
        settings = base.model_copy(
            update={
                "webhook_concurrency": in_flight,
                "webhook_max_per_destination": per_destination,
            }
        )
        seconds, done = timed(deliver_all, url, settings)
        label = f"deliver_webhooks, {in_flight} in flight, {done:,} deliveries"
        rows.append((label, done / seconds, "/s"))
        seconds, done = timed(plain_httpx, bodies, in_flight)
        rows.append(
            (f"baseline: plain httpx, {in_flight} in flight, {done:,} posts", done / seconds, "/s")
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000)
    parser.add_argument("--database-url")
    parser.add_argument("--quick", action="store_true", help="1,000 events")
    args = parser.parse_args()
    events = 1_000 if args.quick else args.events
    port = free_port()
    receiver = start_receiver(port)
    try:
        with bench_database(args.database_url) as (url, description):
            print(f"database: {description}", flush=True)
            rows = measure_emission(url, events, port)
            rows += measure_delivery(url, events)
    finally:
        receiver.terminate()
        receiver.wait(timeout=10)
    print(f"\n{'measure':<66} value")
    for label, value, unit in rows:
        digits = 3 if unit == "s" else 0
        print(f"{label:<66} {value:9.{digits}f} {unit}")
    print_ratios(rows)


def print_ratios(rows: list[Row]) -> None:
    values = [value for _, value, _ in rows]
    print(
        f"\ntriggers, with an endpoint: the UPDATE takes {values[0] / values[2]:.2f}x its baseline"
    )
    print(f"triggers, no endpoint: the UPDATE takes {values[1] / values[2]:.2f}x its baseline")
    for i, in_flight in ((3, 8), (5, 50)):
        print(f"delivery, {in_flight} in flight: {values[i] / values[i + 1]:.2f}x plain httpx")


if __name__ == "__main__":
    main()
