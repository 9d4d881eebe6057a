"""History benchmark: what operators read costs the same at 1,000 and at 1,000,000 history rows.

    .venv/bin/python -m bench.history            # 1,000,000 order events and executions
    .venv/bin/python -m bench.history --quick    # 100,000

Two databases in one fresh cluster (fsync on): the baseline with 1,000 order events and
1,000 executions, the other with --rows of each (and a tenth as many job errors, finished
jobs, mails and provider requests; one busy order holds a tenth of everything). Each endpoint
is requested in-process (Flask test client: server work, no network) and timed.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

import psycopg
from psycopg.rows import dict_row

from bench.cluster import bench_database
from orders.accounts.models import Credentials
from orders.accounts.service import create_user
from orders.database.migrate import migrate
from orders.operations.retention import Retention, prune
from orders.settings import Settings
from orders.web.app import create_app

PASSWORD = "bench password 1"  # noqa: S105 - a throwaway cluster's account
FILL = [
    # users: a customer (1) and an admin (2) are created first, through the service.
    """INSERT INTO providers (name, email, expected_response_hours)
       VALUES ('Acme', 'acme@example.com', 48)""",
    """INSERT INTO orders (user_id, order_name, schedule_time, status, executions_count,
                           provider_id, is_recurring, repeat_interval, repeat_unit)
       SELECT 1, 'old ' || g, now() - interval '30 days', 'completed', 10, 1,
              true, 1, 'days'
       FROM generate_series(1, %(orders)s) g""",
    # 100 orders waiting for their next run, with their Procrastinate jobs.
    """WITH jobs AS (
           INSERT INTO procrastinate_jobs (queue_name, task_name, args, scheduled_at)
           SELECT 'orders', 'execute_order', jsonb_build_object('order_id', 1000000000 + g),
                  now() + interval '1 hour'
           FROM generate_series(1, 100) g RETURNING id)
       INSERT INTO orders (user_id, order_name, schedule_time, next_run_at, job_id)
       SELECT 1, 'due later', now() + interval '1 hour', now() + interval '1 hour', id FROM jobs""",
    # Runs: the busy order (id 1) has a tenth; finished over the last 30 days.
    """INSERT INTO order_executions (order_id, run_number, scheduled_for, started_at,
                                     finished_at, worker, attempts, outcome, error)
       SELECT o, g, t - interval '2 seconds', t - interval '1 second', t, 'w1', 1,
              CASE WHEN g %% 50 = 0 THEN 'failed' ELSE 'succeeded' END::execution_outcome,
              CASE WHEN g %% 50 = 0 THEN 'boom' END
       FROM generate_series(1, %(rows)s) g,
            LATERAL (SELECT CASE WHEN g %% 10 = 0 THEN 1 ELSE 1 + g %% %(orders)s END AS o,
                            now() - (g * interval '30 days') / %(rows)s AS t) x""",
    """INSERT INTO order_events (order_id, user_id, event_type, from_status, to_status,
                                 executions_count, actor, occurred_at, details)
       SELECT CASE WHEN g %% 10 = 0 THEN 1 ELSE 1 + g %% %(orders)s END, 1, 'status_changed',
              'scheduled', 'processing', g %% 10, 'worker:w1',
              now() - (g * interval '30 days') / %(rows)s, '{}'
       FROM generate_series(1, %(rows)s) g""",
    """INSERT INTO procrastinate_jobs (queue_name, task_name, args, status, attempts)
       SELECT 'orders', 'execute_order',
              jsonb_build_object('order_id', CASE WHEN g %% 10 = 0 THEN 1 ELSE g END),
              'succeeded', 1
       FROM generate_series(1, %(tenth)s) g""",
    """INSERT INTO procrastinate_events (job_id, type, at)
       SELECT id, t::procrastinate_job_event_type, now() - interval '1 day'
       FROM procrastinate_jobs, unnest('{deferred,started,succeeded}'::text[]) t
       WHERE status = 'succeeded'""",
    """INSERT INTO job_errors (job_id, task_name, attempt, error, worker, occurred_at)
       SELECT id, 'execute_order', 1, 'boom', 'w1', now() - interval '1 day'
       FROM procrastinate_jobs WHERE status = 'succeeded'""",
    """INSERT INTO outbox (kind, recipient, subject, body, status, attempts, next_attempt_at,
                           created_at, sent_at)
       SELECT 'customer_notice', 'a@example.com', 's', 'b', 'sent', 1, now(), now(), now()
       FROM generate_series(1, %(tenth)s)""",
    """INSERT INTO provider_requests (order_id, run_number, provider_id, user_id,
                                      expected_response_at, created_at)
       SELECT CASE WHEN g %% 10 = 0 THEN 1 ELSE 1 + g %% %(orders)s END, g, 1, 1,
              now() + interval '1 day', now()
       FROM generate_series(1, %(tenth)s) g""",
    # A failed order with its errors, as the dashboard lists them.
    """UPDATE orders SET status = 'failed', last_error = 'boom', next_run_at = NULL
       WHERE order_id = 2""",
]


def fill(url: str, rows: int) -> float:
    """The history of `rows` order events and executions; seconds it took."""
    started = time.monotonic()
    db = Settings(DATABASE_URL=url, ORDERS_ENV="test").database()
    db.open()
    try:
        create_user(db, Credentials(email="ada@example.com", password=PASSWORD), "customer")
        create_user(db, Credentials(email="ops@example.com", password=PASSWORD), "admin")
    finally:
        db.close()
    params = {"rows": rows, "tenth": max(rows // 10, 1), "orders": max(rows // 10, 10)}
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        for statement in FILL:
            conn.execute(statement, params)
        # Steady state, as the maintenance tasks and autovacuum keep it: rollups folded,
        # history past retention pruned (per-minute rollups keep 7 days), statistics fresh.
        conn.execute("SELECT rollup_fold()")
        prune(conn, Retention.from_settings(Settings()), datetime.now(UTC))
        conn.execute("VACUUM ANALYZE")
    return time.monotonic() - started


class Client:
    """The app on one database, logged in as the admin and as the customer."""

    def __init__(self, url: str):
        settings = Settings(DATABASE_URL=url, ORDERS_ENV="test", ORDERS_LOG_FILE="/dev/null")
        self.app = create_app(settings)
        self.client = self.app.test_client()
        self.admin, self.ada = self._login("ops@example.com"), self._login("ada@example.com")
        first = self.client.get("/orders/1/history?limit=100", headers=self.ada).json
        self.deep = first["next_cursor"]

    def _login(self, email: str) -> dict[str, str]:
        answer = self.client.post("/auth/login", json={"email": email, "password": PASSWORD})
        return {"Authorization": f"Bearer {answer.json['access_token']}"}

    def calls(self) -> dict[str, Callable[[], object]]:
        get, admin, ada = self.client.get, self.admin, self.ada
        return {
            "GET /metrics": lambda: get("/metrics"),
            "GET /dashboard/api/overview": lambda: get("/dashboard/api/overview", headers=admin),
            "GET /dashboard/api/orders/1 (busy order)": lambda: get(
                "/dashboard/api/orders/1", headers=admin
            ),
            "GET /orders/1/history (page 1)": lambda: get(
                "/orders/1/history?limit=100", headers=ada
            ),
            "GET /orders/1/history (page 2)": lambda: get(
                f"/orders/1/history?limit=100&cursor={self.deep}", headers=ada
            ),
            "GET /orders/1/requests": lambda: get("/orders/1/requests?limit=100", headers=ada),
        }

    def close(self) -> None:
        self.app.extensions["orders.db"].close()


def timings(small: Client, big: Client, requests: int) -> dict[str, tuple[list, list]]:
    """Milliseconds per request of each endpoint on both databases, alternating (so that the
    machine's noise hits both alike), after a warm-up."""
    found = {}
    for (name, a), b in zip(small.calls().items(), big.calls().values(), strict=True):
        for call in (a, b) * 5:
            response = call()
            assert response.status_code == 200, response.get_data(as_text=True)[:300]
        found[name] = ([], [])
        for _ in range(requests):
            for call, spent in ((a, found[name][0]), (b, found[name][1])):
                started = time.perf_counter()
                call()
                spent.append((time.perf_counter() - started) * 1000)
    return found


def p(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="100,000 rows, 30 requests")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.requests = 100_000, 30
    with bench_database() as (big, description):
        print(f"database: {description}", flush=True)
        small = big.rsplit("/", 1)[0] + "/orders_small"
        with psycopg.connect(big, autocommit=True) as conn:
            conn.execute("CREATE DATABASE orders_small")
        migrate(small)
        print(f"filled 1,000 rows in {fill(small, 1000):.1f} s", flush=True)
        print(f"filled {args.rows:,} rows in {fill(big, args.rows):.1f} s", flush=True)
        clients = Client(small), Client(big)
        try:
            report(timings(*clients, args.requests), big)
        finally:
            for client in clients:
                client.close()


def report(found: dict[str, tuple[list, list]], url: str) -> None:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        sizes = conn.execute(
            "SELECT (SELECT count(*) FROM order_events) AS events, "
            "(SELECT count(*) FROM order_executions) AS runs"
        ).fetchone()
    print(
        f"\n{sizes['events']:,} order events and {sizes['runs']:,} executions vs 1,000 of each "
        f"(ms per request, in-process, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC)"
    )
    header = f"{'1k p50':>7} {'1k p95':>7} {'big p50':>8} {'big p95':>8} {'p50 ratio':>9}"
    print(f"{'endpoint':<42} {header}  p95 <= 50 ms")
    for name, (base, big) in found.items():
        b50, b95, g50, g95 = p(base, 50), p(base, 95), p(big, 50), p(big, 95)
        ok = "yes" if g95 <= 50 else "NO"
        print(f"{name:<42} {b50:7.1f} {b95:7.1f} {g50:8.1f} {g95:8.1f} {g50 / b50:9.2f}  {ok}")


if __name__ == "__main__":
    main()
