"""Small assertions shared by the API tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from orders.operations.status_log import write_pending


def assert_error(response, status: int, code: str | None = None) -> dict:
    """The response is the one JSON error shape with this status (and code)."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    error = response.json["error"]
    assert error["status"] == status and error["message"]
    if code:
        assert error["code"] == code
    return error


def in_(seconds: float) -> str:
    """An ISO timestamp `seconds` from now, with its UTC offset."""
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


def jobs_of(db, order_id: int) -> list[dict]:
    """The Procrastinate jobs that were deferred for an order, oldest first."""
    return db.execute(
        "SELECT id, status, scheduled_at FROM procrastinate_jobs "
        "WHERE args->>'order_id' = %s ORDER BY id",
        (str(order_id),),
    ).fetchall()


def fail_executions_of(db, order_id: int) -> None:
    """Fault injection in the database: successful runs of this order raise."""
    db.execute("""CREATE OR REPLACE FUNCTION fail_run() RETURNS trigger LANGUAGE plpgsql AS
                  $$ BEGIN RAISE EXCEPTION 'provider unreachable'; END $$""")
    db.execute(
        sql.SQL("""CREATE TRIGGER fail_run BEFORE INSERT ON order_executions FOR EACH ROW
                   WHEN (NEW.order_id = {} AND NEW.outcome = 'succeeded')
                   EXECUTE FUNCTION fail_run()""").format(sql.Literal(order_id))
    )


def slow_executions(db, seconds: float, times: int = 1) -> None:
    """Fault injection: the next `times` runs hang for `seconds` inside their transaction."""
    db.execute("CREATE TABLE slow_budget (n int)")
    db.execute("INSERT INTO slow_budget VALUES (%s)", (times,))
    db.execute(
        sql.SQL("""CREATE FUNCTION slow_run() RETURNS trigger LANGUAGE plpgsql AS $$
                   BEGIN
                     IF (SELECT n FROM slow_budget) > 0 THEN
                       PERFORM pg_sleep({});
                     END IF;
                     RETURN NEW;
                   END $$""").format(sql.Literal(seconds))
    )
    db.execute(
        "CREATE TRIGGER slow_run BEFORE INSERT ON order_executions FOR EACH ROW "
        "EXECUTE FUNCTION slow_run()"
    )


# Per order: its status and runs, to check that each ran exactly as often as it should.
SUMMARY = """
SELECT o.order_id, o.status, o.is_recurring, o.executions_count,
       count(e.*) FILTER (WHERE e.outcome = 'succeeded') AS runs,
       count(DISTINCT e.run_number) FILTER (WHERE e.outcome = 'succeeded') AS distinct_runs,
       count(e.*) FILTER (WHERE e.outcome = 'failed') AS failed_runs
FROM orders o LEFT JOIN order_executions e USING (order_id)
GROUP BY o.order_id ORDER BY o.order_id
"""


def flush_status_log(database_url: str, path) -> list[dict]:
    """Run one pass of the status-log writer (what workers do every second); all lines."""
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        write_pending(conn, path)
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def plan_scans(db, query: str, params: dict) -> set[str]:
    """Tables the plan of `query` reads sequentially."""
    plan = db.execute(f"EXPLAIN (FORMAT JSON) {query}", params).fetchone()
    found, todo = set(), [plan["QUERY PLAN"][0]["Plan"]]
    while todo:
        node = todo.pop()
        if node["Node Type"] == "Seq Scan":
            found.add(node["Relation Name"])
        todo += node.get("Plans", [])
    return found
