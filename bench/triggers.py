"""Trigger costs: every trigger in the schema (ours and Procrastinate's), each timed on 1,000-row
statements shaped like the product's, against the same statements with the triggers disabled,
in one run (docs/operators.md, "Triggers").

    .venv/bin/python -m bench.triggers            # 5 repetitions (about 70 s)
    .venv/bin/python -m bench.triggers --quick    # 3 repetitions
    .venv/bin/python -m bench.triggers --trace    # the firing order of one UPDATE of an order

Each measurement is one transaction that is rolled back: ALTER TABLE ... DISABLE TRIGGER for
every trigger of its case, ENABLE TRIGGER for the ones it measures, the statement (timed),
ROLLBACK. So nothing stays disabled, every mode pays the same catalog invalidation, and each
repetition starts from the same data. Modes alternate within a repetition (their order rotates),
and the tables a case writes are vacuumed after each repetition. A trigger's cascade (what its
writes fire on other tables) counts as its own cost unless its row says otherwise.

The commit is not timed (rolled back), except in the one case marked "and COMMIT": NOTIFY does
its work at commit. Starts its own PostgreSQL cluster (fsync on), migrated with the product's
migrations, and checks that every trigger it finds there is measured.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from bench.cluster import bench_database

USERS = ("plain", "hooked", "tiered", "golden", "pausing", "paused")
EVENTS = ["order.run_succeeded", "order.failed", "order.completed", "order.cancelled",
          "provider.answered"]  # fmt: skip

# 1,000 hourly orders for each account, each with its waiting execution job and 24 upcoming
# runs; `hooked` has a webhook endpoint for every event, the others none; `golden` is in tier
# gold (boost 1); `paused` is a paused account; 1,000 pending and 1,000 sent mails.
SETUP = [
    """INSERT INTO users (email, password_hash)
       SELECT name || '@bench.invalid', 'x' FROM unnest(%(users)s::text[]) AS name""",
    "INSERT INTO account_tiers (tier, priority_boost, share_weight) VALUES ('gold', 1, 1)",
    "UPDATE users SET tier = 'gold' WHERE email = 'golden@bench.invalid'",
    """INSERT INTO webhook_endpoints (user_id, url, destination, events, secret)
       SELECT user_id, 'http://127.0.0.1:9/hook', '127.0.0.1:9', %(events)s, repeat('s', 40)
       FROM users WHERE email = 'hooked@bench.invalid'""",
    """INSERT INTO providers (name, email, expected_response_hours)
       VALUES ('bench provider', 'provider@bench.invalid', 24)""",
    """INSERT INTO orders (user_id, order_name, schedule_time, next_run_at, is_recurring,
                           repeat_interval, repeat_unit, provider_id, upcoming_until)
       SELECT u.user_id, 'bench ' || i, now() + interval '1 hour', now() + interval '1 hour',
              true, 1, 'hours', p.provider_id, now() + interval '24 hours'
       FROM users u CROSS JOIN providers p CROSS JOIN generate_series(1, 1000) AS i
       WHERE u.email LIKE '%%@bench.invalid'
       ORDER BY u.user_id, i""",
    """INSERT INTO procrastinate_jobs (queue_name, task_name, priority, queueing_lock, args,
                                      scheduled_at)
       SELECT 'orders', 'execute_order', orders_run_level(o.priority, a.priority_boost),
              'order:' || o.order_id,
              jsonb_build_object('order_id', o.order_id, 'user_id', o.user_id), o.next_run_at
       FROM orders o JOIN account_levels a USING (user_id)
       ORDER BY o.order_id""",
    """UPDATE orders o SET job_id = j.id
       FROM procrastinate_jobs j
       WHERE j.task_name = 'execute_order' AND (j.args ->> 'order_id')::bigint = o.order_id""",
    """INSERT INTO upcoming_runs (order_id, user_id, minute, first_run_at, runs)
       SELECT o.order_id, o.user_id, m.minute, m.minute, 1
       FROM orders o
       CROSS JOIN generate_series(1, 24) AS h
       CROSS JOIN LATERAL (SELECT date_trunc('hour', now()) + h * interval '1 hour'
                                  + mod(o.order_id, 60) * interval '1 minute' AS minute) m""",
    "UPDATE users SET paused_at = now(), paused_by = 'bench' WHERE email = 'paused@bench.invalid'",
    """INSERT INTO provider_requests (order_id, run_number, provider_id, user_id,
                                     expected_response_at, created_at)
       SELECT o.order_id, 1, o.provider_id, o.user_id, now() + interval '24 hours', now()
       FROM orders o JOIN users u USING (user_id)
       WHERE u.email IN ('plain@bench.invalid', 'hooked@bench.invalid')""",
    """INSERT INTO outbox (kind, recipient, subject, body, status, attempts, sent_at,
                          created_at, next_attempt_at)
       SELECT 'customer_notice', 'c' || i || '@bench.invalid', 'Your order', 'Answered.',
              s.status::outbox_status, s.attempts, s.sent_at, now(), now()
       FROM generate_series(1, 1000) AS i
       CROSS JOIN (VALUES ('pending', 0, NULL::timestamptz), ('sent', 1, now()))
                  AS s(status, attempts, sent_at)""",
]
ACCOUNTS = """SELECT split_part(u.email, '@', 1) AS name, u.user_id,
                     array_agg(o.order_id ORDER BY o.order_id) AS ids,
                     array_agg(o.job_id ORDER BY o.order_id) AS jobs
              FROM users u JOIN orders o USING (user_id)
              GROUP BY u.email, u.user_id"""
TRIGGERS = """SELECT t.tgname, n.nspname, c.relname, t.tgenabled
              FROM pg_trigger t
              JOIN pg_class c ON c.oid = t.tgrelid
              JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE NOT t.tgisinternal
              ORDER BY t.tgname"""

# Triggers by table, named once here (their cascades are listed with each case).
AUDIT_UPD, ROLLUP_UPD = "orders_audit_updated", "rollup_orders_updated"
EV_HOOKS = "order_events_webhooks"
RUN_HOOKS, RUN_ROLLUP = "order_executions_webhooks", "rollup_executions_inserted"
JOB_NOTIFY = "procrastinate_jobs_notify_queue_job_inserted_v1"
JOB_SCHEDULED = "procrastinate_trigger_scheduled_events_v1"
JOB_DEFERRED = "procrastinate_trigger_status_events_insert_v1"
JOB_QUEUE = "orders_account_queue_on_insert"
JOB_INSERT = (JOB_NOTIFY, JOB_SCHEDULED, JOB_DEFERRED, JOB_QUEUE)
ORDER_UPDATE = (AUDIT_UPD, EV_HOOKS, ROLLUP_UPD)
AUDIT_ALONE, AUDIT_CASCADE, ROLLUP_ALONE = (AUDIT_UPD,), (AUDIT_UPD, EV_HOOKS), (ROLLUP_UPD,)


@dataclass(frozen=True)
class Case:
    title: str
    statement: str
    triggers: tuple[str, ...]  # every trigger the case switches; all off is its baseline
    modes: tuple[tuple[str, ...], ...] = ()  # the triggers on, per row; default: each, then all
    vacuum: tuple[str, ...] = ()
    prepare: str | None = None  # untimed, in the same transaction, before the switches
    commit: bool = False  # time the commit too (then `cleanup` undoes the statement)
    cleanup: str | None = None
    owner: str = "plain"  # whose 1,000 orders (and their jobs) the statement takes

    def rows(self) -> tuple[tuple[str, ...], ...]:
        if self.modes:
            return self.modes
        each = tuple((name,) for name in self.triggers)
        return each + ((self.triggers,) if len(self.triggers) > 1 else ())


ORDERS_WRITTEN = ("orders", "order_events", "rollup_deltas")
CANCEL = """UPDATE orders SET status = 'cancelled', next_run_at = NULL, updated_at = now()
            WHERE order_id = ANY(%(ids)s)"""
RUNS = """INSERT INTO order_executions (order_id, run_number, job_id, scheduled_for, started_at,
                                        finished_at, worker, attempts, outcome)
          SELECT order_id, executions_count + 1, job_id, next_run_at, now(), clock_timestamp(),
                 'bench', 1, 'succeeded'
          FROM orders WHERE order_id = ANY(%(ids)s)"""
ANSWERS = """UPDATE provider_requests
             SET status = 'fulfilled', response_message = 'ok', responded_at = now()
             WHERE order_id = ANY(%(ids)s)"""
EVENTS_CANCELLED = """INSERT INTO order_events (order_id, user_id, event_type, from_status,
                                                to_status, executions_count, job_id, actor)
                      SELECT order_id, user_id, 'status_changed', 'scheduled', 'cancelled', 0,
                             job_id, 'db:bench'
                      FROM orders WHERE order_id = ANY(%(ids)s)"""
DEFER = """SELECT procrastinate_defer_jobs_v1(ARRAY(
               SELECT ROW('orders', 'execute_order', 1, NULL, 'next:' || r.order_id,
                          jsonb_build_object('order_id', r.order_id, 'user_id', %(user)s),
                          now() + interval '2 hours')::procrastinate_job_to_defer_v1
               FROM unnest(%(ids)s::bigint[]) AS r(order_id)))"""
# One statement per row, as the worker writes them: statement triggers fire 1,000 times.
JOB_ERRORS_ONE_BY_ONE = """DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT o.order_id, o.job_id FROM orders o JOIN users u USING (user_id)
             WHERE u.email = 'plain@bench.invalid' ORDER BY o.order_id LOOP
        INSERT INTO job_errors (job_id, task_name, attempt, error, traceback, worker, order_id)
        VALUES (r.job_id, 'execute_order', 1, 'RuntimeError: bench', NULL, 'bench', r.order_id);
    END LOOP;
END $$"""
MAIL_SENT_ONE_BY_ONE = """DO $$
DECLARE id bigint;
BEGIN
    FOR id IN SELECT outbox_id FROM outbox WHERE status = 'pending' ORDER BY outbox_id LOOP
        UPDATE outbox SET status = 'sent', attempts = attempts + 1, sent_at = now()
        WHERE outbox_id = id;
    END LOOP;
END $$"""

CASES = [
    # orders
    Case("INSERT 1,000 orders, one statement (POST /orders/batch)",
         """INSERT INTO orders (user_id, order_name, schedule_time, next_run_at)
            SELECT %(user)s, 'new ' || i, now() + interval '1 day', now() + interval '1 day'
            FROM generate_series(1, 1000) AS i""",
         ("orders_audit_inserted", "rollup_orders_inserted"), vacuum=ORDERS_WRITTEN),
    Case("UPDATE 1,000 orders scheduled -> processing (a batch's runs start)",
         """UPDATE orders SET status = 'processing', updated_at = now()
            WHERE order_id = ANY(%(ids)s)""",
         ORDER_UPDATE, (AUDIT_ALONE, AUDIT_CASCADE, ROLLUP_ALONE, ORDER_UPDATE), ORDERS_WRITTEN),
    Case("UPDATE 1,000 orders -> cancelled, owner without webhook endpoint",
         CANCEL, ORDER_UPDATE, (AUDIT_ALONE, AUDIT_CASCADE, ROLLUP_ALONE, ORDER_UPDATE),
         ORDERS_WRITTEN),
    Case("UPDATE 1,000 orders -> cancelled, owner with an endpoint (1,000 webhook events)",
         CANCEL, ORDER_UPDATE, (AUDIT_CASCADE, ORDER_UPDATE),
         (*ORDERS_WRITTEN, "webhook_events", "webhook_deliveries", "webhook_sequences"),
         owner="hooked"),
    Case("UPDATE 1,000 orders' upcoming_until only (bookkeeping, as the upkeep)",
         """UPDATE orders SET upcoming_until = upcoming_until + interval '1 hour'
            WHERE order_id = ANY(%(ids)s)""",
         ORDER_UPDATE, (AUDIT_ALONE, AUDIT_CASCADE, ROLLUP_ALONE, ORDER_UPDATE), ORDERS_WRITTEN),
    Case("UPDATE 1,000 orders' priority (an operator's SQL)",
         "UPDATE orders SET priority = 'high' WHERE order_id = ANY(%(ids)s)",
         ("orders_relevel_on_priority", JOB_SCHEDULED, *ORDER_UPDATE),
         (("orders_relevel_on_priority",), ("orders_relevel_on_priority", JOB_SCHEDULED),
          AUDIT_CASCADE, ROLLUP_ALONE,
          ("orders_relevel_on_priority", JOB_SCHEDULED, *ORDER_UPDATE)),
         (*ORDERS_WRITTEN, "procrastinate_jobs", "procrastinate_events", "account_queue")),
    Case("UPDATE 1,000 orders' paused_at (pausing by SQL; 24 upcoming runs each)",
         """UPDATE orders SET paused_at = now(), paused_by = 'bench'
            WHERE order_id = ANY(%(ids)s)""",
         ("orders_upcoming_on_pause", *ORDER_UPDATE),
         (("orders_upcoming_on_pause",), AUDIT_CASCADE, ROLLUP_ALONE,
          ("orders_upcoming_on_pause", *ORDER_UPDATE)),
         (*ORDERS_WRITTEN, "upcoming_runs")),
    Case("DELETE 1,000 orders (cascading to their requests and upcoming runs)",
         "DELETE FROM orders WHERE order_id = ANY(%(ids)s)",
         ("orders_audit_deleted", EV_HOOKS, "rollup_orders_deleted"),
         (("orders_audit_deleted",), ("orders_audit_deleted", EV_HOOKS),
          ("rollup_orders_deleted",), ("orders_audit_deleted", EV_HOOKS, "rollup_orders_deleted")),
         (*ORDERS_WRITTEN, "upcoming_runs", "provider_requests")),
    # order_events (written by the audit triggers; inserted directly here)
    Case("INSERT 1,000 order_events (-> cancelled), owner without endpoint",
         EVENTS_CANCELLED, (EV_HOOKS,), vacuum=("order_events",)),
    Case("INSERT 1,000 order_events (-> cancelled), owner with an endpoint",
         EVENTS_CANCELLED, (EV_HOOKS,),
         vacuum=("order_events", "webhook_events", "webhook_deliveries", "webhook_sequences"),
         owner="hooked"),
    # order_executions
    Case("INSERT 1,000 order_executions (a batch's runs), owner without endpoint",
         RUNS, (RUN_HOOKS, RUN_ROLLUP), vacuum=("order_executions", "rollup_deltas")),
    Case("INSERT 1,000 order_executions, owner with an endpoint (1,000 events)",
         RUNS, (RUN_HOOKS, RUN_ROLLUP), ((RUN_HOOKS,), (RUN_HOOKS, RUN_ROLLUP)),
         ("order_executions", "rollup_deltas", "webhook_events", "webhook_deliveries",
          "webhook_sequences"), owner="hooked"),
    # provider_requests
    Case("UPDATE 1,000 provider_requests pending -> fulfilled, owner without endpoint",
         ANSWERS, ("provider_requests_webhooks",), vacuum=("provider_requests",)),
    Case("UPDATE 1,000 provider_requests pending -> fulfilled, owner with an endpoint",
         ANSWERS, ("provider_requests_webhooks",),
         vacuum=("provider_requests", "webhook_events", "webhook_deliveries", "webhook_sequences"),
         owner="hooked"),
    # procrastinate_jobs
    Case("INSERT 1,000 execute_order jobs (procrastinate_defer_jobs_v1), account queued",
         DEFER, JOB_INSERT, vacuum=("procrastinate_jobs", "procrastinate_events")),
    Case("INSERT 1,000 execute_order jobs and COMMIT (NOTIFY works at commit)",
         DEFER, JOB_INSERT, ((JOB_NOTIFY,), JOB_INSERT),
         ("procrastinate_jobs", "procrastinate_events"), commit=True,
         cleanup="DELETE FROM procrastinate_jobs WHERE queueing_lock LIKE 'next:%'"),
    Case("UPDATE 1,000 jobs todo -> doing (Procrastinate's fetch, one at a time)",
         "UPDATE procrastinate_jobs SET status = 'doing' WHERE id = ANY(%(jobs)s)",
         ("procrastinate_trigger_status_events_update_v1",),
         vacuum=("procrastinate_jobs", "procrastinate_events")),
    Case("UPDATE 1,000 running jobs' abort_requested (aborting jobs)",
         "UPDATE procrastinate_jobs SET abort_requested = true WHERE id = ANY(%(jobs)s)",
         ("procrastinate_jobs_notify_queue_job_aborted_v1",
          "procrastinate_trigger_abort_requested_events_v1"),
         vacuum=("procrastinate_jobs", "procrastinate_events"),
         prepare="UPDATE procrastinate_jobs SET status = 'doing' WHERE id = ANY(%(jobs)s)"),
    Case("DELETE 1,000 finished jobs (job_finish_many: procrastinate_finish_job_v1 each)",
         """SELECT count(procrastinate_finish_job_v1(id, 'succeeded', true))
            FROM unnest(%(jobs)s::bigint[]) AS id""",
         ("procrastinate_trigger_delete_jobs_v1",),
         vacuum=("procrastinate_jobs", "procrastinate_events")),
    # job_errors
    Case("INSERT 1,000 job_errors one at a time, order given (the worker)",
         JOB_ERRORS_ONE_BY_ONE, ("job_errors_fill_order", "rollup_job_errors_inserted"),
         vacuum=("job_errors", "rollup_deltas")),
    Case("INSERT 1,000 job_errors, one statement, order_id missing (SQL by hand)",
         """INSERT INTO job_errors (job_id, task_name, attempt, error, worker)
            SELECT id, 'execute_order', 1, 'RuntimeError: bench', 'bench'
            FROM unnest(%(jobs)s::bigint[]) AS id""",
         ("job_errors_fill_order", "rollup_job_errors_inserted"),
         vacuum=("job_errors", "rollup_deltas")),
    # outbox
    Case("INSERT 1,000 mails, one statement (features queue theirs set-based)",
         """INSERT INTO outbox (kind, recipient, subject, body, created_at, next_attempt_at)
            SELECT 'customer_notice', 'n' || i || '@bench.invalid', 'Your order', 'Answered.',
                   now(), now()
            FROM generate_series(1, 1000) AS i""",
         ("rollup_outbox_inserted",), vacuum=("outbox", "rollup_deltas")),
    Case("UPDATE 1,000 mails pending -> sent, one at a time (outbox_mark_sent)",
         MAIL_SENT_ONE_BY_ONE, ("rollup_outbox_updated",), vacuum=("outbox", "rollup_deltas")),
    Case("DELETE 1,000 sent mails, one statement (prune_history)",
         "DELETE FROM outbox WHERE status = 'sent'", ("rollup_outbox_deleted",),
         vacuum=("outbox", "rollup_deltas")),
    # users and account_tiers: one row changed, 1,000 waiting runs or orders follow
    Case("UPDATE 1 account's tier, 1,000 waiting runs re-levelled",
         "UPDATE users SET tier = 'gold' WHERE user_id = %(tiered)s",
         ("users_relevel_on_tier", JOB_SCHEDULED),
         (("users_relevel_on_tier",), ("users_relevel_on_tier", JOB_SCHEDULED)),
         ("users", "procrastinate_jobs", "procrastinate_events", "account_queue")),
    Case("UPDATE 1 tier's priority_boost, its 1,000 waiting runs re-levelled",
         "UPDATE account_tiers SET priority_boost = 2 WHERE tier = 'gold'",
         ("account_tiers_relevel", JOB_SCHEDULED),
         (("account_tiers_relevel",), ("account_tiers_relevel", JOB_SCHEDULED)),
         ("account_tiers", "procrastinate_jobs", "procrastinate_events", "account_queue")),
    Case("UPDATE 1 account paused: its 1,000 orders' 24,000 upcoming runs deleted",
         "UPDATE users SET paused_at = now(), paused_by = 'bench' WHERE user_id = %(pausing)s",
         ("users_upcoming_on_pause",), vacuum=("users", "upcoming_runs")),
    Case("UPDATE 1 account resumed: its 1,000 orders handed back to the upkeep",
         "UPDATE users SET paused_at = NULL, paused_by = NULL WHERE user_id = %(paused)s",
         ("users_upcoming_on_pause", *ORDER_UPDATE),
         (("users_upcoming_on_pause",), ("users_upcoming_on_pause", *ORDER_UPDATE)),
         ("users", *ORDERS_WRITTEN)),
]  # fmt: skip


# --trace: one UPDATE that fires every trigger an UPDATE of an order can fire (owner with an
# endpoint, a waiting job, upcoming runs), each statement the triggers ran logged by auto_explain
# as it finishes (PostgreSQL's contrib module, loaded for this session only).
TRACE = """UPDATE orders SET status = 'cancelled', priority = 'high', paused_at = now(),
                  paused_by = 'bench', updated_at = now()
           WHERE order_id = %(order)s"""
AUTO_EXPLAIN = {
    "auto_explain.log_min_duration": "0",
    "auto_explain.log_nested_statements": "on",
    "auto_explain.log_analyze": "on",
    "auto_explain.log_triggers": "on",
    "auto_explain.log_timing": "off",
    "auto_explain.log_level": "notice",
}


def trace(url: str, params: dict) -> None:
    notices: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.add_notice_handler(lambda diag: notices.append(diag.message_primary or ""))
        conn.execute("LOAD 'auto_explain'")
        for name, value in AUTO_EXPLAIN.items():
            conn.execute("SELECT set_config(%s, %s, false)", (name, value))
        notices.clear()  # only what the traced statement ran
        with conn.transaction(force_rollback=True):
            conn.execute(TRACE, {"order": params["hooked_ids"][0]})
    print(f"\n{' '.join(TRACE.split()).replace('%(order)s', str(params['hooked_ids'][0]))}")
    print("Statements run, in the order they finished (a statement finishes after the ones its")
    print("own triggers ran); 'Trigger' lines: the triggers that statement fired.")
    for number, notice in enumerate(notices, 1):
        lines = notice.splitlines()
        text = next((ln for ln in lines if ln.startswith("Query Text: ")), "?")
        print(f"{number:3}. {' '.join(text.removeprefix('Query Text: ').split())[:94]}")
        for line in lines:
            if line.startswith("Trigger "):
                print(f"       {line}")


def timed(conn: psycopg.Connection, statement: str, params: dict) -> float:
    started = time.perf_counter()
    cursor = conn.execute(statement, params if "%(" in statement else None)
    if cursor.description:
        cursor.fetchall()
    return (time.perf_counter() - started) * 1000


def switch(conn: psycopg.Connection, tables: dict, case: Case, on: tuple[str, ...]) -> None:
    """Every trigger of the case off, then the ones of this mode on again."""
    for name, action in [(n, "DISABLE") for n in case.triggers] + [(n, "ENABLE") for n in on]:
        conn.execute(
            sql.SQL("ALTER TABLE {} {} TRIGGER {}").format(
                sql.Identifier(*tables[name]), sql.SQL(action), sql.Identifier(name)
            )
        )


def measure_once(conn, tables, case: Case, on: tuple[str, ...], params: dict) -> float:
    if not case.commit:
        with conn.transaction(force_rollback=True):
            if case.prepare:
                conn.execute(case.prepare, params)
            switch(conn, tables, case, on)
            return timed(conn, case.statement, params)
    with conn.transaction():
        switch(conn, tables, case, on)
    started = time.perf_counter()
    with conn.transaction():
        timed(conn, case.statement, params)
    elapsed = (time.perf_counter() - started) * 1000
    with conn.transaction():
        conn.execute(case.cleanup)
    return elapsed


def measure(conn, tables, case: Case, params: dict, repeats: int) -> dict:
    assert case.vacuum, case.title  # a bare VACUUM would take the whole database
    modes = ((), *case.rows())
    samples: dict[tuple[str, ...], list[float]] = {mode: [] for mode in modes}
    try:
        for round_ in range(repeats + 1):  # round 0 warms caches and plans, and is dropped
            shift = round_ % len(modes)
            for mode in modes[shift:] + modes[:shift]:
                ms = measure_once(conn, tables, case, mode, params)
                if round_:
                    samples[mode].append(ms)
            conn.execute(
                sql.SQL("VACUUM {}").format(sql.SQL(", ").join(map(sql.Identifier, case.vacuum)))
            )
    finally:
        if case.commit:  # as shipped again
            with conn.transaction():
                switch(conn, tables, case, case.triggers)
    return {mode: (statistics.median(values), iqr(values)) for mode, values in samples.items()}


def iqr(values: list[float]) -> float:
    """The spread of the middle half of the samples: differences below it are noise."""
    if len(values) < 2:
        return 0.0
    q1, _, q3 = statistics.quantiles(values, n=4)
    return q3 - q1


def setup(url: str) -> dict:
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        with conn.transaction():
            for statement in SETUP:
                conn.execute(statement, {"users": list(USERS), "events": EVENTS})
        conn.execute("VACUUM ANALYZE")
        params: dict = {}
        for row in conn.execute(ACCOUNTS):
            params |= {row["name"]: row["user_id"], f"{row['name']}_ids": row["ids"],
                       f"{row['name']}_jobs": row["jobs"]}  # fmt: skip
        return params


def case_params(params: dict, case: Case) -> dict:
    owner = case.owner
    return params | {
        "user": params[owner],
        "ids": params[f"{owner}_ids"],
        "jobs": params[f"{owner}_jobs"],
    }


def label(case: Case, mode: tuple[str, ...]) -> str:
    if len(mode) > 1 and set(mode) == set(case.triggers):
        return "all of them (as shipped)"
    return " + ".join(mode)


def print_table(results: list[tuple[Case, dict]]) -> None:
    print(f"\n{'median ms per 1,000 rows':<58} {'with':>8} {'without':>8} {'diff':>8} "
          f"{'ratio':>6} {'iqr':>6}")  # fmt: skip
    for case, medians in results:
        base, base_iqr = medians[()]
        print(f"\n{case.title}")
        print(f"  {'baseline: the triggers below off':<56} {'':>8} {base:8.2f} {'':>8} {'':>6} "
              f"{base_iqr:6.2f}")  # fmt: skip
        for mode in case.rows():
            with_, spread = medians[mode]
            name = label(case, mode)
            if len(name) > 56:  # a long cascade: the figures go on a line of their own
                print(f"  {name}")
                name = ""
            print(
                f"  {name:<56} {with_:8.2f} {base:8.2f} {with_ - base:+8.2f} "
                f"{with_ / base:6.2f} {spread:6.2f}"
            )


def check_coverage(tables: dict, enabled: dict) -> list[str]:
    measured = {name for case in CASES for mode in case.rows() for name in mode}
    problems = [f"trigger {name} is not measured" for name in sorted(set(tables) - measured)]
    problems += [f"trigger {name} is not in the schema" for name in sorted(measured - set(tables))]
    problems += [f"trigger {name} is not enabled ({state})"
                 for name, state in enabled.items() if state != "O"]  # fmt: skip
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="3 repetitions")
    parser.add_argument("--trace", action="store_true", help="the firing order of one UPDATE")
    args = parser.parse_args()
    repeats = 3 if args.quick else args.repeats
    started = time.monotonic()
    with bench_database() as (url, description):
        print(f"database: {description}", flush=True)
        params = setup(url)
        if args.trace:
            trace(url, params)
            return
        with psycopg.connect(url, autocommit=True, prepare_threshold=None) as conn:
            found = conn.execute(TRIGGERS).fetchall()
            tables = {name: (schema, table) for name, schema, table, _ in found}
            problems = check_coverage(tables, {name: state for name, _, _, state in found})
            ours = sum(not name.startswith("procrastinate_") for name in tables)
            theirs = len(tables) - ours
            print(f"{len(tables)} triggers in the schema ({ours} ours, {theirs} Procrastinate's); "
                  f"{repeats} repetitions", flush=True)  # fmt: skip
            results = []
            for case in CASES:
                results.append((case, measure(conn, tables, case, case_params(params, case),
                                              repeats)))  # fmt: skip
    print_table(results)
    print(f"\n{time.monotonic() - started:.0f} s in all")
    for problem in problems:
        print(f"coverage: {problem}", file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
