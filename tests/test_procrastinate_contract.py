"""What orders relies on inside Procrastinate, checked against the installed version: it fails
loudly when an upgrade changes any of it. The batch executor (tasks/executor/runs.py) claims,
finishes and
defers execution jobs with Procrastinate's SQL functions and its jobs table directly, and the
worker's control connection LISTENs on its channel and calls its heartbeat and retry functions.

When this fails after an upgrade: read the new migration, re-check each use named below, then
record the new source hashes (and widen the version pin in pyproject.toml)."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version
from pathlib import Path

from packaging.specifiers import SpecifierSet

# Each function, its arguments, the md5 of its source, and where orders calls it.
FUNCTIONS = {
    "procrastinate_defer_jobs_v1": (
        "jobs procrastinate_job_to_defer_v1[]",
        "cda05c8fd075e6bddc6009a469277f0a",
        "job_defer_next_runs: next runs, ids in input order",
    ),
    "procrastinate_finish_job_v1": (
        "job_id bigint, end_status procrastinate_job_status, delete_job boolean",
        "26122e175ba53dd730dbebfc4fcfcc96",
        "job_finish_many: delete a todo job in the run's transaction",
    ),
    "procrastinate_retry_job_v2": (
        "job_id bigint, retry_at timestamp with time zone, new_priority integer, "
        "new_queue_name character varying, new_lock character varying",
        "b6ef705ce25cc95d9e874edb7b16c649",
        "job_retry_orphaned: a dead worker's running job back to todo",
    ),
    "procrastinate_update_heartbeat_v1": (
        "worker_id bigint",
        "3be7254d443daa709bf935899e2f8e22",
        "worker_heartbeat, on the control connection",
    ),
    "procrastinate_fetch_job_v2": (
        "target_queue_names character varying[], p_worker_id bigint",
        "6e0906e2a5765ba6712446c4b6cdc383",
        "planned per call on the worker's pool (session_configure_worker_pool)",
    ),
    "procrastinate_notify_queue_job_inserted_v1": (
        "",
        "b7d5e772d5a8bd7146c945b20ff463cf",
        "tasks/supervision/control.py LISTENs on procrastinate_queue_v1#orders",
    ),
}
JOB_COLUMNS = {
    "id": "bigint",
    "queue_name": "character varying",
    "task_name": "character varying",
    "priority": "integer",
    "queueing_lock": "text",
    "args": "jsonb",
    "status": "USER-DEFINED",
    "scheduled_at": "timestamp with time zone",
    "attempts": "integer",
    "worker_id": "bigint",
}


def test_the_installed_version_is_within_the_tested_range():
    pyproject = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    pin = next(d for d in pyproject["project"]["dependencies"] if d.startswith("procrastinate"))
    specifier = SpecifierSet(re.sub(r"^procrastinate", "", pin))
    assert any(s.operator in ("<", "<=") for s in specifier), f"{pin}: pin an upper bound"
    assert version("procrastinate") in specifier, (version("procrastinate"), pin)


def test_the_functions_orders_calls_are_unchanged(db):
    for name, (arguments, source_md5, use) in FUNCTIONS.items():
        row = db.execute(
            "SELECT pg_get_function_identity_arguments(oid) AS arguments, md5(prosrc) AS md5 "
            "FROM pg_proc WHERE proname = %s",
            (name,),
        ).fetchone()
        assert row is not None, f"{name} is gone ({use})"
        assert (row["arguments"], row["md5"]) == (arguments, source_md5), f"{name} changed: {use}"


def test_the_jobs_table_and_its_queueing_lock_are_as_used(db):
    columns = {
        r["column_name"]: r["data_type"]
        for r in db.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'procrastinate_jobs'"
        )
    }
    statuses = db.execute("SELECT enum_range(NULL::procrastinate_job_status)::text AS s").fetchone()
    index = db.execute(
        "SELECT indexdef FROM pg_indexes WHERE indexname = %s",
        ("procrastinate_jobs_queueing_lock_idx_v1",),
    ).fetchone()
    assert {name: columns.get(name) for name in JOB_COLUMNS} == JOB_COLUMNS
    assert statuses["s"] == "{todo,doing,succeeded,failed,cancelled,aborting,aborted}"
    assert "UNIQUE" in index["indexdef"] and "(status = 'todo'" in index["indexdef"]


def test_batch_defer_returns_ids_in_the_order_given(db):
    """job_defer_next_runs maps the returned ids to orders by position."""
    from orders.database import Q

    user = db.execute(
        "INSERT INTO users (email, password_hash) VALUES ('c@example.com', 'x') RETURNING user_id"
    ).fetchone()["user_id"]
    order_ids = [
        r["order_id"]
        for r in db.execute(
            "INSERT INTO orders (user_id, order_name, schedule_time, next_run_at) "
            "SELECT %s, 'o' || n, now(), now() FROM generate_series(1, 50) n RETURNING order_id",
            (user,),
        )
    ][::-1]
    params = {"order_ids": order_ids, "run_at": [None] * 50}

    ids = db.execute(Q["job_defer_next_runs"], params).fetchone()["job_ids"]

    rows = db.execute(
        "SELECT id, (args ->> 'order_id')::bigint AS order_id FROM procrastinate_jobs"
    )
    order_of = {r["id"]: r["order_id"] for r in rows}
    assert [order_of[i] for i in ids] == order_ids


# Procrastinate's Worker methods tasks/supervision/pausing.py relies on, with the md5 of their
# source.
WORKER_METHODS = {
    "_fetch_and_process_jobs": "0eb87951d2d6d475dc75614c910cb9b6",
    "_run_loop": "f097e77f738148faa3f612a85678b9dd",
}


def test_the_worker_fetches_with_self_queues_each_round():
    """tasks/supervision/pausing.py narrows `self.queues` before each fetch round (paused queues):
    the
    worker must fetch with `self.queues` inside `_fetch_and_process_jobs`, call that after every
    wake-up from its run loop, and clear `_new_job_event` after a round (we clear it when we
    skip one, else a worker whose queues are all paused would spin)."""
    import hashlib
    import inspect

    from procrastinate import worker

    fetch = inspect.getsource(worker.Worker._fetch_and_process_jobs)
    loop = inspect.getsource(worker.Worker._run_loop)
    hashes = {
        name: hashlib.md5(  # noqa: S324 - a fingerprint of source text, not security
            inspect.getsource(getattr(worker.Worker, name)).encode()
        ).hexdigest()
        for name in WORKER_METHODS
    }
    assert "fetch_job(" in fetch and "queues=self.queues" in fetch
    assert "self._new_job_event.clear()" in fetch
    assert loop.count("await self._fetch_and_process_jobs()") == 2
    assert "self._new_job_event.wait()" in loop
    assert "self.queues = queues" in inspect.getsource(worker.Worker.__init__)
    changed = "Procrastinate's fetch loop changed: re-check tasks/supervision/pausing.py"
    assert hashes == WORKER_METHODS, changed
