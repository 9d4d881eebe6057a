"""`orders db migrate`: both schemas, recorded, idempotent, tamper-evident, safe in parallel."""

from __future__ import annotations

import shutil
import threading

import psycopg
import pytest
from psycopg import sql

from orders.migrate import SQL_DIR, MigrationError, migrate, procrastinate_migrations


@pytest.fixture
def empty_url(server_url):
    """A brand-new empty database."""
    with psycopg.connect(f"{server_url}/postgres", autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS migrate_me WITH (FORCE)")
        conn.execute("CREATE DATABASE migrate_me")
    return f"{server_url}/migrate_me"


def versions(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]


def test_fresh_database_gets_everything_recorded(empty_url):
    """Procrastinate's shipped migrations and every sql/ file are recorded with checksums."""
    migrate(empty_url)

    recorded = versions(empty_url)
    assert {m.version for m in procrastinate_migrations()} <= set(recorded)
    assert {p.name for p in SQL_DIR.glob("[0-9]*.sql")} <= set(recorded)
    with psycopg.connect(empty_url) as conn:
        assert conn.execute("SELECT to_regclass('procrastinate_jobs')").fetchone()[0]


def test_second_run_is_a_noop(empty_url):
    """Running migrate twice applies nothing the second time."""
    migrate(empty_url)

    assert migrate(empty_url) == []


def test_edited_applied_migration_is_refused(empty_url, tmp_path):
    """Changing a file after it was applied stops the run with a clear message."""
    folder = tmp_path / "sql"
    shutil.copytree(SQL_DIR, folder)
    migrate(empty_url, folder)
    first = sorted(folder.glob("0001_*.sql"))[0]
    first.write_text(first.read_text() + "\n-- sneaky edit\n")

    with pytest.raises(MigrationError, match="already applied but the file has changed"):
        migrate(empty_url, folder)


def test_new_migration_file_is_applied_in_its_own_transaction(empty_url, tmp_path):
    """A failing new file rolls back alone; files before it stay applied."""
    folder = tmp_path / "sql"
    shutil.copytree(SQL_DIR, folder)
    migrate(empty_url, folder)
    (folder / "9998_good.sql").write_text("CREATE TABLE good_one (x int);")
    (folder / "9999_bad.sql").write_text("CREATE TABLE bad_one (x int); SELECT 1/0;")

    with pytest.raises(psycopg.errors.DivisionByZero):
        migrate(empty_url, folder)

    recorded = versions(empty_url)
    assert "9998_good.sql" in recorded and "9999_bad.sql" not in recorded
    with psycopg.connect(empty_url) as conn:
        assert conn.execute("SELECT to_regclass('bad_one')").fetchone()[0] is None


def test_concurrent_migrations_are_serialised(empty_url):
    """Four processes migrating at once: one applies, the others wait and find nothing to do."""
    results, errors = [], []

    def run():
        try:
            results.append(migrate(empty_url))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert sorted(len(r) > 0 for r in results) == [False, False, False, True]


def test_tables_are_commented_for_operators(db):
    """Every table of ours carries a COMMENT for people reading the schema in psql."""
    rows = db.execute(
        sql.SQL("""
        SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname NOT LIKE 'procrastinate%%'
          AND obj_description(c.oid, 'pg_class') IS NULL""")
    ).fetchall()

    assert rows == []
