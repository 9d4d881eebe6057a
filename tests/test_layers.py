"""Import-time rules: the worker's modules read no settings and connect nowhere when imported,
and the API never imports the worker. Each check runs in a fresh interpreter, so what other
tests imported or patched cannot hide a violation."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from bench.cluster import free_port

PROJECT = Path(__file__).resolve().parents[1]

NO_SETTINGS_NO_CONNECTION = """
import importlib, pkgutil
import psycopg, psycopg_pool
from orders.settings import Settings

def refuse(what):
    def fail(*args, **kwargs):
        raise AssertionError(f"{what} at import")
    return fail

Settings.__init__ = refuse("Settings()")
psycopg.connect = psycopg.Connection.connect = refuse("a connection")
psycopg.AsyncConnection.connect = refuse("an async connection")
psycopg_pool.ConnectionPool.open = psycopg_pool.AsyncConnectionPool.open = refuse("a pool")
import tasks
names = [m.name for m in pkgutil.walk_packages(tasks.__path__, "tasks.")]
for name in names:
    importlib.import_module(name)
assert "tasks.supervision.worker" in names and "tasks.jobs.mail" in names, names
print(len(names))
"""

NO_TASKS_IN_THE_API = """
import sys
import orders.web.app
print(sorted(m for m in sys.modules if m == "tasks" or m.startswith("tasks.")))
"""


def run_python(code: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """Outside the project folder (no .env, no `orders dev` record), against a closed port."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORDERS_", "DATABASE_"))}
    env |= {"PYTHONPATH": str(PROJECT), "ORDERS_DEV_DATA": str(tmp_path)}
    env["DATABASE_URL"] = f"postgresql://nobody@127.0.0.1:{free_port()}/nothing"
    argv = [sys.executable, "-c", textwrap.dedent(code)]
    return subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)


def test_importing_the_worker_builds_no_settings_and_opens_no_connection(tmp_path):
    done = run_python(NO_SETTINGS_NO_CONNECTION, tmp_path)

    assert done.returncode == 0, done.stderr
    assert int(done.stdout) >= 10  # every module of tasks/ was imported


def test_the_api_imports_no_worker_module(tmp_path):
    done = run_python(NO_TASKS_IN_THE_API, tmp_path)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
