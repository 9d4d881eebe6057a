"""The soak's invariant checker: what the API says, the tables, the audit trail, the JSON log
file and the execution rows must all tell the same story. Each check returns
(name, passed, detail)."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

Result = tuple[str, bool, str]

ORDERS = """
SELECT o.order_id, o.user_id, o.status::text AS status, o.is_recurring, o.max_executions,
       o.executions_count,
       count(e.*) FILTER (WHERE e.outcome = 'succeeded') AS runs,
       count(DISTINCT e.run_number) FILTER (WHERE e.outcome = 'succeeded') AS distinct_runs,
       coalesce(max(e.run_number) FILTER (WHERE e.outcome = 'succeeded'), 0) AS last_run
FROM orders o LEFT JOIN order_executions e USING (order_id)
GROUP BY o.order_id
"""
STATUS_EVENTS = """
SELECT event_id, order_id, from_status::text AS from_status, to_status::text AS to_status
FROM order_events WHERE event_type IN ('created', 'status_changed', 'deleted')
"""
LAST_EVENT = """
SELECT DISTINCT ON (order_id) order_id, to_status::text AS to_status
FROM order_events WHERE to_status IS NOT NULL ORDER BY order_id, event_id DESC
"""


def query(url: str, sql: str, params=None) -> list[dict]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute(sql, params).fetchall()


def wait_quiet(url: str, timeout: float) -> bool:
    """Wait until no order is scheduled or processing (every run done); False on timeout."""
    deadline = time.monotonic() + timeout
    sql = "SELECT count(*) AS n FROM orders WHERE status IN ('scheduled', 'processing')"
    while query(url, sql)[0]["n"]:
        if time.monotonic() > deadline:
            return False
        time.sleep(1)
    return True


def wait_log_written(url: str, timeout: float) -> bool:
    """Wait until the workers' status-log writer has passed every audit event."""
    deadline = time.monotonic() + timeout
    sql = (
        "SELECT (SELECT horizon FROM status_log_cursor) > "
        "coalesce((SELECT max(txid) FROM order_events), '0'::xid8) AS done"
    )
    while not query(url, sql)[0]["done"]:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


def executions_between(url: str, start: datetime, end: datetime) -> int:
    sql = (
        "SELECT count(*) AS n FROM order_executions WHERE outcome = 'succeeded' "
        "AND finished_at BETWEEN %s AND %s"
    )
    return query(url, sql, (start, end))[0]["n"]


def check_all(url: str, log_file: Path, clients) -> list[Result]:
    orders = {r["order_id"]: r for r in query(url, ORDERS)}
    wait_log_written(url, timeout=60)
    return [
        accounted_for(orders, clients),
        api_agrees(orders, clients),
        client_expectations(orders, clients),
        executed_once(orders),
        audit_matches_table(orders, query(url, LAST_EVENT)),
        audit_matches_log(query(url, STATUS_EVENTS), log_file),
    ]


def accounted_for(orders: dict, clients) -> Result:
    acked = {i for c in clients for i in c.orders}
    lost, phantom = acked - set(orders), set(orders) - acked
    detail = f"{len(acked)} acknowledged, {len(lost)} lost, {len(phantom)} unacknowledged in table"
    return "every acknowledged order is in the table", not lost and not phantom, detail


def api_agrees(orders: dict, clients) -> Result:
    """Each account's full GET /orders listing equals its rows in the table."""
    mismatched, seen = 0, 0
    for account in (a for c in clients for a in c.accounts):
        listed, cursor = {}, None
        while True:
            path = "/orders?limit=200" + (f"&cursor={cursor}" if cursor else "")
            status, page, _ = account.call("GET", path)
            assert status == 200, page
            listed |= {o["order_id"]: (o["status"], o["executions_count"]) for o in page["orders"]}
            if not (cursor := page["next_cursor"]):
                break
        user_id = account.call("GET", "/auth/me")[1]["user_id"]
        table = {
            i: (o["status"], o["executions_count"])
            for i, o in orders.items()
            if o["user_id"] == user_id
        }
        mismatched += listed != table
        seen += len(listed)
    return "API listing equals the table", mismatched == 0, f"{seen} orders listed"


def client_expectations(orders: dict, clients) -> Result:
    """Deleted orders are cancelled; every other order completed (none failed, none stuck)."""
    wrong = Counter()
    for i, mine in ((i, o) for c in clients for i, o in c.orders.items()):
        expected = "cancelled" if mine["deleted"] else "completed"
        status = orders.get(i, {}).get("status")
        # A delete answered 409 leaves the order to finish; an accepted one must have cancelled.
        if status != expected and not (status == "completed" and not mine["deleted"]):
            wrong[f"{expected}->{status}"] += 1
    statuses = Counter(o["status"] for o in orders.values())
    return "orders end as their clients expect", not wrong, f"{dict(statuses)} {dict(wrong)}"


def executed_once(orders: dict) -> Result:
    """Runs 1..n each succeeded exactly once, n = executions_count; recurring ones ran max times."""
    bad = [
        o["order_id"]
        for o in orders.values()
        if not (o["runs"] == o["distinct_runs"] == o["last_run"] == o["executions_count"])
        or (
            o["status"] == "completed"
            and o["is_recurring"]
            and o["executions_count"] != o["max_executions"]
        )
        or (o["status"] == "completed" and o["executions_count"] < 1)
    ]
    runs = sum(o["runs"] for o in orders.values())
    return "every execution counted once", not bad, f"{runs} runs; wrong: {bad[:10]}"


def audit_matches_table(orders: dict, last_events: list[dict]) -> Result:
    last = {e["order_id"]: e["to_status"] for e in last_events}
    wrong = [i for i, o in orders.items() if last.get(i) != o["status"]]
    return "latest audit status equals the order's", not wrong, f"wrong: {wrong[:10]}"


def audit_matches_log(events: list[dict], log_file: Path) -> Result:
    """Every status event is one line of the log file with the same change, and vice versa."""
    lines = [json.loads(line) for line in log_file.read_text().splitlines() if line.strip()]
    logged = Counter(line["event_id"] for line in lines)
    by_id = {line["event_id"]: line for line in lines}
    audit = {e["event_id"]: e for e in events}
    missing = sorted(set(audit) - set(logged))
    extra = sorted(set(logged) - set(audit))
    twice = sorted(i for i, n in logged.items() if n > 1)
    differ = [
        i
        for i, e in audit.items()
        if i in by_id
        and (by_id[i]["order_id"], by_id[i]["from"], by_id[i]["to"])
        != (e["order_id"], e["from_status"], e["to_status"])
    ]
    ok = not (missing or extra or twice or differ)
    detail = (
        f"{len(audit)} events, {len(lines)} lines; missing {missing[:10]}, "
        f"extra {extra[:10]}, twice {twice[:10]}, differ {differ[:10]}"
    )
    return "every status change in audit and log", ok, detail
