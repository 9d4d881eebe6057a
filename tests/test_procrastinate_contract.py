"""Everything orders relies on inside Procrastinate, checked against the installed version: each
check fails naming what changed and what of ours to re-check.

- Python: the private Worker methods and attributes tasks/supervision/procrastinate_internals.py
  uses (the only module allowed to: a source scan below checks that).
- SQL: every Procrastinate function and type we call (wherever that SQL lives), the columns of
  their tables we read, every index, trigger and constraint of ours on their tables, and those of
  theirs we rely on.

When this fails after an upgrade: read Procrastinate's changelog and new migrations, re-check the
use named in the message, then record the new signature or hash here and move the pin in
pyproject.toml to the newly tested minor.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import re
import tomllib
import uuid
from importlib.metadata import version
from pathlib import Path
from typing import NamedTuple

import psycopg
import pytest
from packaging.specifiers import SpecifierSet
from psycopg import sql
from psycopg.rows import dict_row

ROOT = Path(__file__).resolve().parent.parent
PIN = "procrastinate~=3.10.0"
CONTAINED = "tasks/supervision/procrastinate_internals.py"
VERSION = version("procrastinate")


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - a fingerprint, not security


# -- the pin -----------------------------------------------------------------------------------


def test_the_pin_is_the_tested_minor_and_installed():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pins = [d for d in pyproject["project"]["dependencies"] if d.startswith("procrastinate")]
    assert pins == [PIN], f"pyproject.toml pins {pins}, the contract was checked for {PIN}"
    assert VERSION in SpecifierSet(PIN.removeprefix("procrastinate")), (
        f"procrastinate {VERSION} is installed, outside {PIN}: run make install"
    )


# -- Python: private Worker methods and attributes ----------------------------------------------


class Override(NamedTuple):
    signature: str
    caller: str  # the Worker method that calls it
    call: str  # ... with this text, `count` times
    count: int
    source_md5: str
    ours: str  # what to re-check, and why we override it


OVERRIDES = {
    "_run_loop": Override(
        "(self)", "run", "self._run_loop()", 1, "f097e77f738148faa3f612a85678b9dd",
        "InternalsWorker._run_loop: `alongside` (control: liveness lock, heartbeat, rescue) "
        "from after registration, before the first fetch, until after unregistering",
    ),
    "_fetch_and_process_jobs": Override(
        "(self)", "_run_loop", "await self._fetch_and_process_jobs()", 2,
        "0eb87951d2d6d475dc75614c910cb9b6",
        "InternalsWorker._fetch_and_process_jobs: paused queues narrow self.queues, which the "
        "fetch must read each round; a skipped round clears _new_job_event as a fetch does",
    ),
    "_start_side_tasks": Override(
        "(self) -> 'list[asyncio.Task[Any]]'", "_run_loop", "self._start_side_tasks()", 1,
        "619d9714fd7b7f849fb3ad9065ddb917",
        "InternalsWorker._start_side_tasks: the executor and status log as monitored side tasks",
    ),
    "_shutdown": Override(
        "(self, side_tasks: 'list[asyncio.Task[Any]]')", "_run_loop",
        "await self._shutdown(side_tasks=side_tasks)", 1, "92db76363302f9db034b9842cf69ab17",
        "InternalsWorker._shutdown: the executor finishes its batches before side tasks are "
        "cancelled and the worker unregistered (worker_processes cascade)",
    ),
    "_periodic_deferrer": Override(
        "(self)", "_start_side_tasks", "self._periodic_deferrer()", 1,
        "91c4b0972179803ac43eb94d9f3c7c19",
        "InternalsWorker._periodic_deferrer: restarted after a transient error instead of "
        "stopping the worker",
    ),
    "_persist_job_status": Override(
        "(self, job: 'jobs.Job', status: 'jobs.Status', retry_decision: "
        "'retry.RetryDecision | None', context: 'job_context.JobContext', "
        "job_result: 'job_context.JobResult | None')",
        "_process_job", "self._persist_job_status(", 1, "70a84ac052786010a7b8d92bd73f350c",
        "InternalsWorker._persist_job_status: a job's end written again after a transient error",
    ),
}
# Private Worker attributes we read or write: {name: (texts in Worker's methods, why)}.
ATTRIBUTES = {
    "_new_job_event": (
        {
            "__init__": "self._new_job_event = asyncio.Event()",
            "_run_loop": "self._new_job_event.wait()",
            "_fetch_and_process_jobs": "self._new_job_event.clear()",
            "_handle_notification": "self._new_job_event.set()",
        },
        "InternalsWorker.wake sets it (control's alarm, resumed queues); a skipped paused "
        "round clears it",
    ),
}
# Public behaviour we rely on instead of an override: Procrastinate waits the interval before
# its first beat, so NEVER_BEAT means it never beats (the control connection does).
HEARTBEAT = ("_update_heartbeat", "await asyncio.sleep(self.update_heartbeat_interval)")


def _worker_class():
    from procrastinate import worker

    return worker.Worker


def _ours() -> list[type]:
    from tasks.supervision.worker import OrdersWorker

    Worker = _worker_class()
    return [c for c in OrdersWorker.__mro__ if c is not Worker and issubclass(c, Worker)]


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def changed(name: str, ours: str) -> str:
    return f"Worker.{name} changed in procrastinate {VERSION}: re-read it, re-check {ours}"


def test_the_overridden_private_worker_methods_are_the_listed_ones():
    Worker = _worker_class()
    overridden = {
        name: cls.__qualname__
        for cls in _ours()
        for name in vars(cls)
        if _private(name) and hasattr(Worker, name)
    }
    unlisted = {n: c for n, c in overridden.items() if n not in OVERRIDES}
    assert not unlisted, f"overrides of Worker's private methods not in OVERRIDES: {unlisted}"
    gone = set(OVERRIDES) - set(overridden)
    assert not gone, f"listed in OVERRIDES but no longer overridden (drop them): {sorted(gone)}"


@pytest.mark.parametrize("name", sorted(OVERRIDES))
def test_each_overridden_worker_method_is_as_checked(name):
    Worker = _worker_class()
    expected = OVERRIDES[name]
    assert hasattr(Worker, name), f"Worker.{name} is gone in procrastinate {VERSION}: " + (
        expected.ours
    )
    method = getattr(Worker, name)
    signature = str(inspect.signature(method))
    assert signature == expected.signature, (
        f"{changed(name, expected.ours)}: signature {signature}"
    )
    caller = inspect.getsource(getattr(Worker, expected.caller))
    assert caller.count(expected.call) == expected.count, (
        f"{changed(name, expected.ours)}: Worker.{expected.caller} no longer calls "
        f"`{expected.call}` {expected.count}x"
    )
    assert md5(inspect.getsource(method)) == expected.source_md5, changed(name, expected.ours)


@pytest.mark.parametrize("name", sorted(ATTRIBUTES))
def test_each_private_worker_attribute_is_used_as_checked(name):
    Worker = _worker_class()
    uses, why = ATTRIBUTES[name]
    for method, text in uses.items():
        assert text in inspect.getsource(getattr(Worker, method)), (
            f"Worker.{name} changed in procrastinate {VERSION}: Worker.{method} no longer has "
            f"`{text}`; re-check {why}"
        )


def test_procrastinate_waits_the_heartbeat_interval_before_beating():
    method, text = HEARTBEAT
    source = inspect.getsource(getattr(_worker_class(), method))
    assert text in source and source.index(text) < source.index("job_manager.update_heartbeat("), (
        f"Worker.{method} changed in procrastinate {VERSION}: re-check NEVER_BEAT in {CONTAINED}"
        " (the control connection beats; Procrastinate must not)"
    )


def _contained_private_names() -> set[str]:
    """Underscore attributes of `self` the contained module uses that Worker has."""
    Worker = _worker_class()
    init = inspect.getsource(Worker.__init__)
    attributes = set(re.findall(r"self\.(_\w+)\s*(?::[^=]+)?=", init))
    tree = ast.parse((ROOT / CONTAINED).read_text())
    used = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and _private(node.attr)
    }
    return {n for n in used if hasattr(Worker, n) or n in attributes}


def test_the_contained_module_uses_only_the_listed_private_names_and_documents_them():
    from tasks.supervision import procrastinate_internals

    listed = set(OVERRIDES) | set(ATTRIBUTES)
    used = _contained_private_names()
    assert used <= listed, f"{CONTAINED} uses private names not listed here: {used - listed}"
    undocumented = {n for n in listed if f"Worker.{n}" not in procrastinate_internals.__doc__}
    assert not undocumented, f"{CONTAINED}'s docstring does not explain {sorted(undocumented)}"


# -- Python: nothing else touches Procrastinate's internals -------------------------------------

# Procrastinate modules other code may import (public, if not all exported at the top level).
PUBLIC_MODULES = {"procrastinate", "procrastinate.exceptions", "procrastinate.jobs"}


def _procrastinate_private_names() -> tuple[set[str], set[str]]:
    """(methods, attributes): the underscore names defined on Procrastinate's classes."""
    import procrastinate

    methods, attributes = set(), set()
    for path in Path(procrastinate.__file__).parent.rglob("*.py"):
        for cls in ast.walk(ast.parse(path.read_text())):
            if not isinstance(cls, ast.ClassDef):
                continue
            for node in ast.walk(cls):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _private(
                    node.name
                ):
                    methods.add(node.name)
                elif (
                    isinstance(node, ast.Attribute)
                    and isinstance(node.ctx, ast.Store)
                    and _private(node.attr)
                ):
                    attributes.add(node.attr)
    return methods, attributes


def _our_private_names(tree: ast.AST) -> set[str]:
    """Underscore names a module defines itself (its own methods and attributes)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
    return names


def _violations(path: Path, methods: set[str], attributes: set[str]) -> list[str]:
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules = [node.module]
            if node.module == "procrastinate":
                modules += [f"procrastinate.{a.name}" for a in node.names if a.name.islower()]
        else:
            modules = []
        found += [
            f"line {node.lineno}: imports {m}"
            for m in modules
            if m.split(".")[0] == "procrastinate" and m not in PUBLIC_MODULES
        ]
    ours = _our_private_names(tree)
    found += [
        f"line {node.lineno}: .{node.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr in methods | attributes
        and node.attr not in ours
    ]
    found += [  # overriding one of their private methods
        f"line {node.lineno}: def {node.name}"
        for cls in ast.walk(tree)
        if isinstance(cls, ast.ClassDef)
        for node in cls.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in methods
    ]
    return found


def test_no_other_module_touches_procrastinate_internals():
    methods, attributes = _procrastinate_private_names()
    offenders = {}
    for top in ("orders", "tasks", "bench"):
        for path in sorted((ROOT / top).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if relative != CONTAINED and (found := _violations(path, methods, attributes)):
                offenders[relative] = found
    assert not offenders, (
        f"Procrastinate internals used outside {CONTAINED} (move them there and list them "
        f"here): {offenders}"
    )


# -- SQL: functions, types and names ------------------------------------------------------------


class Function(NamedTuple):
    arguments: str
    result: str
    source_md5: str
    use: str


FUNCTIONS = {
    "procrastinate_defer_jobs_v1": Function(
        "jobs procrastinate_job_to_defer_v1[]", "bigint[]", "cda05c8fd075e6bddc6009a469277f0a",
        "orders/scheduling/executions.sql job_defer_next_runs (ids in input order); "
        "sql/0062_pause.sql orders_defer_resumed",
    ),
    "procrastinate_finish_job_v1": Function(
        "job_id bigint, end_status procrastinate_job_status, delete_job boolean", "void",
        "26122e175ba53dd730dbebfc4fcfcc96",
        "orders/scheduling/executions.sql job_finish_many; orders/operations/workers.sql "
        "job_abort_orphaned",
    ),
    "procrastinate_retry_job_v2": Function(
        "job_id bigint, retry_at timestamp with time zone, new_priority integer, "
        "new_queue_name character varying, new_lock character varying", "void",
        "b6ef705ce25cc95d9e874edb7b16c649",
        "orders/operations/workers.sql job_retry_orphaned: a dead worker's job back to todo",
    ),
    "procrastinate_cancel_job_v1": Function(
        "job_id bigint, abort boolean, delete_job boolean", "bigint",
        "c0d697b1888adf16d461d95a4bd62a91",
        "orders/accounts/accounts.sql account_jobs_cancel",
    ),
    "procrastinate_update_heartbeat_v1": Function(
        "worker_id bigint", "void", "3be7254d443daa709bf935899e2f8e22",
        "orders/operations/workers.sql worker_heartbeat, on the control connection",
    ),
    "procrastinate_fetch_job_v2": Function(
        "target_queue_names character varying[], p_worker_id bigint", "procrastinate_jobs",
        "6e0906e2a5765ba6712446c4b6cdc383",
        "bench/costs.py; planned per call on the worker's pool (session_configure_worker_pool)",
    ),
    "procrastinate_notify_queue_job_inserted_v1": Function(
        "", "trigger", "b7d5e772d5a8bd7146c945b20ff463cf",
        "the NOTIFY on 'procrastinate_queue_v1#<queue>' that tasks/supervision/control.py "
        "LISTENs to and sql/0062_pause.sql sends",
    ),
}
# Composite types: their attributes; enums: their values.
TYPES = {
    "procrastinate_job_to_defer_v1": (
        "queue_name character varying, task_name character varying, priority integer, "
        "lock text, queueing_lock text, args jsonb, scheduled_at timestamp with time zone",
        "the rows we pass to procrastinate_defer_jobs_v1",
    ),
}
ENUMS = {
    "procrastinate_job_status": (
        "{todo,doing,succeeded,failed,cancelled,aborting,aborted}",
        "statuses our SQL, views and indexes compare with",
    ),
    "procrastinate_job_event_type": (
        "{deferred,started,deferred_for_retry,failed,succeeded,cancelled,abort_requested,"
        "aborted,scheduled,retried}",
        "bench/history.py inserts events; operator views read them",
    ),
}
# NOTIFY channels: {prefix: the function whose source builds it}.
CHANNELS = {"procrastinate_queue_v1": "procrastinate_notify_queue_job_inserted_v1"}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_each_procrastinate_function_we_call_is_unchanged(db, name):
    expected = FUNCTIONS[name]
    rows = db.execute(
        "SELECT pg_get_function_identity_arguments(oid) AS arguments, "
        "pg_get_function_result(oid) AS result, md5(prosrc) AS md5 "
        "FROM pg_proc WHERE proname = %s ORDER BY oid",
        (name,),
    ).fetchall()
    found = [(r["arguments"], r["result"], r["md5"]) for r in rows]
    assert found, f"{name} is gone in procrastinate {VERSION}: re-check {expected.use}"
    assert found == [tuple(expected[:3])], (
        f"{name} changed in procrastinate {VERSION} (arguments, result, md5 of each overload: "
        f"{found}): re-read it, re-check {expected.use}"
    )


def test_the_procrastinate_types_we_use_are_unchanged(db):
    for name, (attributes, use) in TYPES.items():
        row = db.execute(
            "SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' "
            "ORDER BY attnum) AS a FROM pg_attribute "
            "WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped",
            (name,),
        ).fetchone()
        assert row["a"] == attributes, f"type {name} changed ({row['a']}): re-check {use}"
    for name, (values, use) in ENUMS.items():
        row = db.execute(
            "SELECT (SELECT array_agg(enumlabel ORDER BY enumsortorder) FROM pg_enum "
            "WHERE enumtypid = to_regtype(%s))::text AS v",
            (name,),
        ).fetchone()
        assert row["v"] == values, f"enum {name} changed ({row['v']}): re-check {use}"


def test_the_notify_channels_we_listen_on_are_built_as_we_expect(db):
    for prefix, function in CHANNELS.items():
        source = db.execute(
            "SELECT prosrc FROM pg_proc WHERE proname = %s", (function,)
        ).fetchone()["prosrc"]
        assert f"'{prefix}#' || NEW.queue_name" in source, (
            f"{function} no longer notifies '{prefix}#<queue>': re-check "
            "tasks/supervision/control.py ORDERS_CHANNEL and sql/0062_pause.sql"
        )


def _our_texts() -> dict[str, str]:
    """Our SQL (orders/**/*.sql, sql/NNNN_*.sql) and Python (orders/, tasks/, bench/)."""
    paths = [*ROOT.glob("orders/**/*.sql"), *ROOT.glob("sql/[0-9]*.sql")]
    paths += [p for top in ("orders", "tasks", "bench") for p in (ROOT / top).rglob("*.py")]
    return {p.relative_to(ROOT).as_posix(): p.read_text() for p in paths}


def test_every_versioned_procrastinate_name_in_our_code_is_listed():
    listed = (
        set(FUNCTIONS) | set(TYPES) | set(ENUMS) | set(CHANNELS)
        | {name for _, _, name in THEIRS}
    )
    unlisted = {}
    for path, text in _our_texts().items():
        for name in set(re.findall(r"\bprocrastinate_\w+_v\d+\b", text)) - listed:
            unlisted.setdefault(name, []).append(path)
    assert not unlisted, (
        f"Procrastinate SQL names used but not checked by this contract: {unlisted}"
    )


# -- SQL: the columns of their tables we use ------------------------------------------------------

COLUMNS = {
    "procrastinate_jobs": {
        "id": "int8", "queue_name": "varchar", "task_name": "varchar", "priority": "int4",
        "lock": "text", "queueing_lock": "text", "args": "jsonb",
        "status": "procrastinate_job_status", "scheduled_at": "timestamptz",
        "attempts": "int4", "abort_requested": "bool", "worker_id": "int8",
    },
    "procrastinate_workers": {"id": "int8", "last_heartbeat": "timestamptz"},
    "procrastinate_events": {
        "id": "int8", "job_id": "int8", "type": "procrastinate_job_event_type",
        "at": "timestamptz",
    },
}


def test_the_columns_we_use_are_there_with_their_types(db):
    for table, expected in COLUMNS.items():
        found = {
            r["column_name"]: r["udt_name"]
            for r in db.execute(
                "SELECT column_name, udt_name FROM information_schema.columns "
                "WHERE table_schema = 'public' AND table_name = %s",
                (table,),
            )
        }
        diff = {c: (t, found.get(c)) for c, t in expected.items() if found.get(c) != t}
        assert not diff, f"{table} columns changed, {{column: (expected, found)}}: {diff}"


def test_our_views_read_only_listed_columns(db):
    rows = db.execute(
        "SELECT DISTINCT view_name, table_name, column_name "
        "FROM information_schema.view_column_usage "
        "WHERE table_schema = 'public' AND table_name LIKE 'procrastinate%'"
    )
    unlisted = sorted(
        (r["view_name"], f"{r['table_name']}.{r['column_name']}")
        for r in rows
        if r["column_name"] not in COLUMNS.get(r["table_name"], {})
    )
    assert not unlisted, f"views read Procrastinate columns not in COLUMNS: {unlisted}"


# -- SQL: our objects on their tables, and theirs we rely on ------------------------------------

OBJECTS = """
SELECT 'index' AS kind, t.relname AS table_name, i.relname AS name, pg_get_indexdef(i.oid) AS def
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
WHERE t.relname LIKE 'procrastinate%'
UNION ALL
SELECT 'trigger', t.relname, g.tgname, pg_get_triggerdef(g.oid)
FROM pg_trigger g JOIN pg_class t ON t.oid = g.tgrelid
WHERE NOT g.tgisinternal AND t.relname LIKE 'procrastinate%'
UNION ALL
SELECT 'constraint', t.relname, k.conname, pg_get_constraintdef(k.oid)
FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid
LEFT JOIN pg_class f ON f.oid = k.confrelid
WHERE t.relname LIKE 'procrastinate%' OR f.relname LIKE 'procrastinate%'
"""
TODO = "WHERE (status = 'todo'::procrastinate_job_status)"
EXECUTE_TODO = (
    "WHERE ((status = 'todo'::procrastinate_job_status) "
    "AND ((task_name)::text = 'execute_order'::text))"
)
# Ours: {(kind, table, name): definition}, from sql/ (the migration that made it last).
OURS = {
    ("index", "procrastinate_jobs", "procrastinate_jobs_todo_scheduled_at_idx"): (
        "CREATE INDEX procrastinate_jobs_todo_scheduled_at_idx ON public.procrastinate_jobs "
        f"USING btree (scheduled_at) {TODO}"
    ),  # sql/0004
    ("index", "procrastinate_jobs", "procrastinate_jobs_order_idx"): (
        "CREATE INDEX procrastinate_jobs_order_idx ON public.procrastinate_jobs USING btree "
        "((((args ->> 'order_id'::text))::bigint), id) "
        "WHERE ((task_name)::text = 'execute_order'::text)"
    ),  # sql/0012
    ("index", "procrastinate_jobs", "procrastinate_jobs_execute_due_idx"): (
        "CREATE INDEX procrastinate_jobs_execute_due_idx ON public.procrastinate_jobs "
        f"USING btree (priority, scheduled_at, id) {EXECUTE_TODO}"
    ),  # sql/0030
    ("index", "procrastinate_jobs", "procrastinate_jobs_queue_due_idx"): (
        "CREATE INDEX procrastinate_jobs_queue_due_idx ON public.procrastinate_jobs "
        f"USING btree (queue_name, scheduled_at) {TODO}"
    ),  # sql/0030
    ("index", "procrastinate_jobs", "procrastinate_jobs_finished_idx"): (
        "CREATE INDEX procrastinate_jobs_finished_idx ON public.procrastinate_jobs USING btree "
        "(id) WHERE (status = ANY (ARRAY['succeeded'::procrastinate_job_status, "
        "'failed'::procrastinate_job_status, 'cancelled'::procrastinate_job_status, "
        "'aborted'::procrastinate_job_status]))"
    ),  # sql/0030
    ("index", "procrastinate_jobs", "procrastinate_jobs_execute_account_idx"): (
        "CREATE INDEX procrastinate_jobs_execute_account_idx ON public.procrastinate_jobs "
        "USING btree (priority, (((args ->> 'user_id'::text))::bigint), scheduled_at, id) "
        f"{EXECUTE_TODO}"
    ),  # sql/0065
    ("trigger", "procrastinate_jobs", "orders_account_queue_on_insert"): (
        "CREATE TRIGGER orders_account_queue_on_insert AFTER INSERT ON public.procrastinate_jobs "
        "REFERENCING NEW TABLE AS new_jobs FOR EACH STATEMENT "
        "EXECUTE FUNCTION account_queue_note_jobs()"
    ),  # sql/0060
    ("constraint", "worker_processes", "worker_processes_worker_id_fkey"): (
        "FOREIGN KEY (worker_id) REFERENCES procrastinate_workers(id) ON DELETE CASCADE"
    ),  # sql/0030
}
# Theirs we rely on: {(kind, table, name): (definition, why)}.
THEIRS = {
    ("index", "procrastinate_jobs", "procrastinate_jobs_queueing_lock_idx_v1"): (
        "CREATE UNIQUE INDEX procrastinate_jobs_queueing_lock_idx_v1 ON public.procrastinate_jobs "
        f"USING btree (queueing_lock) {TODO}",
        "webhook_wake's ON CONFLICT (queueing_lock) WHERE status = 'todo'",
    ),
    ("constraint", "procrastinate_events", "procrastinate_events_job_id_fkey"): (
        "FOREIGN KEY (job_id) REFERENCES procrastinate_jobs(id) ON DELETE CASCADE",
        "deleting finished jobs (retention, job_finish_many) takes their events",
    ),
    ("constraint", "procrastinate_jobs", "procrastinate_jobs_worker_id_fkey"): (
        "FOREIGN KEY (worker_id) REFERENCES procrastinate_workers(id) ON DELETE SET NULL",
        "pruning a dead worker leaves its jobs for the rescue (job_retry_orphaned)",
    ),
    ("trigger", "procrastinate_jobs", "procrastinate_trigger_delete_jobs_v1"): (
        "CREATE TRIGGER procrastinate_trigger_delete_jobs_v1 BEFORE DELETE ON "
        "public.procrastinate_jobs FOR EACH ROW EXECUTE FUNCTION "
        "procrastinate_unlink_periodic_defers_v1()",
        "deleting jobs with periodic defers (retention); bench/triggers.py names it",
    ),
    ("trigger", "procrastinate_jobs", "procrastinate_jobs_notify_queue_job_inserted_v1"): (
        "CREATE TRIGGER procrastinate_jobs_notify_queue_job_inserted_v1 AFTER INSERT ON "
        "public.procrastinate_jobs FOR EACH ROW WHEN ((new.status = "
        "'todo'::procrastinate_job_status)) EXECUTE FUNCTION "
        "procrastinate_notify_queue_job_inserted_v1()",
        "the NOTIFY control.py LISTENs to; bench/triggers.py names it",
    ),
    ("trigger", "procrastinate_jobs", "procrastinate_jobs_notify_queue_job_aborted_v1"): (
        "CREATE TRIGGER procrastinate_jobs_notify_queue_job_aborted_v1 AFTER UPDATE OF "
        "abort_requested ON public.procrastinate_jobs FOR EACH ROW WHEN (((old.abort_requested "
        "= false) AND (new.abort_requested = true) AND (new.status = "
        "'doing'::procrastinate_job_status))) EXECUTE FUNCTION "
        "procrastinate_notify_queue_abort_job_v1()",
        "bench/triggers.py names it (cost of an abort)",
    ),
    ("trigger", "procrastinate_jobs", "procrastinate_trigger_status_events_update_v1"): (
        "CREATE TRIGGER procrastinate_trigger_status_events_update_v1 AFTER UPDATE OF status ON "
        "public.procrastinate_jobs FOR EACH ROW EXECUTE FUNCTION "
        "procrastinate_trigger_function_status_events_update_v1()",
        "events our operator views read; bench/triggers.py names it",
    ),
    ("trigger", "procrastinate_jobs", "procrastinate_trigger_status_events_insert_v1"): (
        "CREATE TRIGGER procrastinate_trigger_status_events_insert_v1 AFTER INSERT ON "
        "public.procrastinate_jobs FOR EACH ROW WHEN ((new.status = "
        "'todo'::procrastinate_job_status)) EXECUTE FUNCTION "
        "procrastinate_trigger_function_status_events_insert_v1()",
        "events our operator views read; bench/triggers.py names it",
    ),
    ("trigger", "procrastinate_jobs", "procrastinate_trigger_scheduled_events_v1"): (
        "CREATE TRIGGER procrastinate_trigger_scheduled_events_v1 AFTER INSERT OR UPDATE ON "
        "public.procrastinate_jobs FOR EACH ROW WHEN (((new.scheduled_at IS NOT NULL) AND "
        "(new.status = 'todo'::procrastinate_job_status))) EXECUTE FUNCTION "
        "procrastinate_trigger_function_scheduled_events_v1()",
        "events our operator views read; bench/triggers.py names it",
    ),
    ("trigger", "procrastinate_jobs", "procrastinate_trigger_abort_requested_events_v1"): (
        "CREATE TRIGGER procrastinate_trigger_abort_requested_events_v1 AFTER UPDATE OF "
        "abort_requested ON public.procrastinate_jobs FOR EACH ROW WHEN ((new.abort_requested "
        "= true)) EXECUTE FUNCTION procrastinate_trigger_abort_requested_events_procedure_v1()",
        "bench/triggers.py names it (cost of an abort)",
    ),
}


def _objects(conn: psycopg.Connection) -> dict[tuple[str, str, str], str]:
    return {(r["kind"], r["table_name"], r["name"]): r["def"] for r in conn.execute(OBJECTS)}


@pytest.fixture
def procrastinate_only(server_url):
    """A database with Procrastinate's schema and nothing of ours."""
    from orders.database.migrate import SCHEMA

    name = f"procrastinate_only_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{server_url}/postgres", autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        with psycopg.connect(f"{server_url}/{name}", row_factory=dict_row) as conn:
            conn.execute(SCHEMA.get_schema())
            yield conn
    finally:
        with psycopg.connect(f"{server_url}/postgres", autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(name)))


def test_our_objects_on_their_tables_are_the_listed_ones(db, procrastinate_only):
    migrated, theirs = _objects(db), _objects(procrastinate_only)
    ours = {key: definition for key, definition in migrated.items() if key not in theirs}
    unlisted = {k: v for k, v in ours.items() if k not in OURS}
    missing = sorted(set(OURS) - set(ours))
    differ = {k: v for k, v in ours.items() if k in OURS and OURS[k] != v}
    assert not unlisted, f"objects of ours on Procrastinate's tables not in OURS: {unlisted}"
    assert not missing, f"in OURS, but the migrations no longer make them: {missing}"
    assert not differ, f"definitions differ from OURS, {{object: found}}: {differ}"
    altered = sorted(k for k, v in theirs.items() if migrated.get(k) != v)
    assert not altered, f"our migrations alter or drop Procrastinate's objects: {altered}"


def test_their_objects_we_rely_on_are_unchanged(procrastinate_only):
    theirs = _objects(procrastinate_only)
    for key, (definition, why) in THEIRS.items():
        assert key in theirs, f"{' '.join(key)} is gone in procrastinate {VERSION}: {why}"
        assert theirs[key] == definition, (
            f"{' '.join(key)} changed in procrastinate {VERSION} ({theirs[key]}): re-check {why}"
        )


# -- behaviour --------------------------------------------------------------------------------


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
