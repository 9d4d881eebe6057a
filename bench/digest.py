"""Digest benchmark: build and queue 1,000 provider digests from 100,000 pending requests, then
send them to a local SMTP server (aiosmtpd), each against a baseline without our code.

    .venv/bin/python -m bench.digest            # 100,000 requests across 1,000 providers
    .venv/bin/python -m bench.digest --quick    # 10,000 across 100

Baselines measured in the same run: a raw INSERT INTO outbox ... SELECT of one row per provider
(the floor for queueing), a raw UPDATE marking every pending request (the floor for touching
them), and raw smtplib sends of as many trivial messages on one connection
(the floor for sending). Starts its own PostgreSQL cluster (normal durability) unless
--database-url is given; the SMTP server runs as a separate process (aiosmtpd Sink handler).
"""

from __future__ import annotations

import argparse
import asyncio
import smtplib
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from email.message import EmailMessage

import psycopg

from bench.cluster import bench_database, free_port
from orders.mail.outbox import Policy, deliver_due
from orders.mail.transport import SmtpTransport
from orders.settings import Settings
from tasks.jobs.mail import queue_provider_digests

LOAD = [
    """INSERT INTO users (email, password_hash) VALUES ('bench-customer@example.com', 'x')""",
    """INSERT INTO providers (name, email, expected_response_hours)
       SELECT 'Provider ' || i, 'provider-' || i || '@example.com', 24
       FROM generate_series(1, %(providers)s) AS i""",
    """INSERT INTO orders (user_id, order_name, schedule_time, status, provider_id)
       SELECT (SELECT min(user_id) FROM users), 'bench order ' || provider_id, now(),
              'completed', provider_id
       FROM providers""",
    """INSERT INTO provider_requests (order_id, run_number, provider_id, user_id,
                                      expected_response_at, created_at)
       SELECT o.order_id, run, o.provider_id, o.user_id, now() + interval '1 day', now()
       FROM orders o CROSS JOIN generate_series(1, %(runs)s) AS run""",
]
RAW_OUTBOX = """INSERT INTO outbox (kind, recipient, subject, body, created_at, next_attempt_at)
    SELECT 'provider_digest', email, 'raw', 'raw body', now(), now() FROM providers"""
RAW_MARK = """WITH o AS (
        INSERT INTO outbox (kind, recipient, subject, body, created_at, next_attempt_at)
        VALUES ('provider_digest', 'x@example.com', 'raw', 'raw', now(), now())
        RETURNING outbox_id),
    d AS (INSERT INTO provider_digests (provider_id, request_count, outbox_id, created_at)
          SELECT min(provider_id), 1, (SELECT outbox_id FROM o), now() FROM providers
          RETURNING digest_id)
    UPDATE provider_requests SET notified_at = now(), digest_id = (SELECT digest_id FROM d)
    WHERE notified_at IS NULL"""
RESET_OUTBOX = """UPDATE outbox SET status = 'pending', attempts = 0, sent_at = NULL,
    next_attempt_at = now() WHERE kind = 'provider_digest' AND subject <> 'raw'"""


def load(url: str, providers: int, requests: int) -> None:
    """Pending requests spread evenly over providers, written set-based."""
    params = {"providers": providers, "runs": requests // providers}
    with psycopg.connect(url) as conn:
        for statement in LOAD:
            conn.execute(statement, params)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def timed(fn, *args) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - started, result


def on_connection(url: str, fn, *args):
    async def main():
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            return await fn(conn, *args)

    return asyncio.run(main())


def raw_outbox_insert(url: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(RAW_OUTBOX)  # committed on leaving the block, like the digest


def raw_mark(url: str) -> None:
    """The unavoidable part of a digest: marking every pending request, FK and all (rolled back)."""
    with psycopg.connect(url) as conn:
        conn.execute(RAW_MARK)
        conn.rollback()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE provider_requests")  # the digest starts from a clean table


def drop_raw_rows(url: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute("DELETE FROM outbox WHERE subject = 'raw'")


def send_all(url: str, settings: Settings, senders: int) -> int:
    """Drain the outbox with `senders` concurrent send_outbox runs (one connection each)."""

    policy = Policy.from_settings(settings)

    async def one() -> int:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            return (await deliver_due(conn, SmtpTransport(settings), policy)).sent

    async def main() -> int:
        return sum(await asyncio.gather(*(one() for _ in range(senders))))

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(RESET_OUTBOX)
    return asyncio.run(main())


def raw_smtp(port: int, count: int) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        for i in range(count):
            message = EmailMessage()
            message["From"], message["To"], message["Subject"] = "a@example.com", "b@x.org", str(i)
            message.set_content("trivial")
            smtp.send_message(message)


def start_smtp(port: int) -> subprocess.Popen:
    argv = [sys.executable, "-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Sink"]
    server = subprocess.Popen([*argv, "-l", f"127.0.0.1:{port}"])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("aiosmtpd did not start")


Row = tuple[str, float, str]


def measure_queueing(url: str, args) -> tuple[list[Row], int]:
    """The digest transaction over every pending request, and its two baselines."""
    print(f"loading {args.requests:,} requests across {args.providers:,} providers...", flush=True)
    load(url, args.providers, args.requests)
    mark_s = timed(raw_mark, url)[0]
    digest_s, queued = timed(on_connection, url, queue_provider_digests, datetime.now(UTC))
    raw_s = timed(raw_outbox_insert, url)[0]
    drop_raw_rows(url)
    mails, requests = queued["mails"], queued["requests"]
    return [
        (f"digest: {requests:,} requests -> {mails:,} mails queued", digest_s, "s"),
        (f"baseline: raw INSERT INTO outbox ... SELECT, {mails:,} rows", raw_s, "s"),
        (f"baseline: raw UPDATE marking {requests:,} requests", mark_s, "s"),
    ], mails


def measure_sending(url: str, mails: int) -> list[Row]:
    """send_outbox's rate to a local aiosmtpd (1 and 4 senders), and raw smtplib's."""
    port, rows = free_port(), []
    settings = Settings(SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_STARTTLS=False)
    server = start_smtp(port)
    try:
        for senders in (1, 4):
            send_s, sent = timed(send_all, url, settings, senders)
            label = f"send_outbox to aiosmtpd, {senders} sender(s), {sent:,} digests"
            rows.append((label, sent / send_s, "msg/s"))
        smtp_s = timed(raw_smtp, port, mails)[0]
        label = f"baseline: raw smtplib, 1 connection, {mails:,} trivial mails"
        rows.append((label, mails / smtp_s, "msg/s"))
    finally:
        server.terminate()
        server.wait(timeout=10)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--providers", type=int, default=1_000)
    parser.add_argument("--database-url")
    parser.add_argument("--quick", action="store_true", help="10,000 requests, 100 providers")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.providers = 10_000, 100
    with bench_database(args.database_url) as (url, description):
        print(f"database: {description}", flush=True)
        rows, mails = measure_queueing(url, args)
        rows += measure_sending(url, mails)
    print(f"\n{'measure':<66} value")
    for label, value, unit in rows:
        digits = 2 if unit == "s" else 0
        print(f"{label:<66} {value:8.{digits}f} {unit}")


if __name__ == "__main__":
    main()
