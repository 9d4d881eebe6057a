"""`orders db migrate`: both schemas, recorded, idempotent, tamper-evident, safe in parallel."""

from __future__ import annotations

import hashlib
import itertools
import shutil
import threading
import time

import psycopg
import pytest
from psycopg import sql

from orders.database.migrate import (
    RENAMED,
    SQL_DIR,
    Locking,
    MigrationError,
    migrate,
    our_migrations,
    pending_migrations,
    procrastinate_migrations,
)
from orders.database.sqlsplit import split_statements


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


def test_migration_numbers_are_unique_and_increasing():
    """The number alone says the order in which the files run."""
    numbers = [int(m.version[:4]) for m in our_migrations()]

    assert all(a < b for a, b in itertools.pairwise(numbers)), numbers


def test_renamed_files_exist_under_their_new_name_only():
    for old, new in RENAMED.items():
        assert (SQL_DIR / new).exists() and not (SQL_DIR / old).exists(), (old, new)


def as_before_the_rename(conn: psycopg.Connection) -> None:
    """The ledger as a database migrated by the release before the rename has it."""
    for old, new in RENAMED.items():
        conn.execute("UPDATE schema_migrations SET version = %s WHERE version = %s", (old, new))


def test_a_migration_applied_under_its_old_name_is_not_applied_again(database_url):
    """Nothing is pending before or after the next run; the ledger then holds both names (the
    previous release, serving during the upgrade, still finds its own) with one checksum."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        as_before_the_rename(conn)
        assert pending_migrations(conn) == []

        assert migrate(database_url) == []
        assert pending_migrations(conn) == []
        rows = dict(conn.execute("SELECT version, checksum FROM schema_migrations").fetchall())
    for old, new in RENAMED.items():
        assert rows[new] == rows[old] == hashlib.sha256((SQL_DIR / new).read_bytes()).hexdigest()


def test_a_renamed_migration_edited_since_it_was_applied_is_refused(database_url):
    with psycopg.connect(database_url, autocommit=True) as conn:
        as_before_the_rename(conn)
        conn.execute(
            "UPDATE schema_migrations SET checksum = 'edited' WHERE version = ANY(%s)",
            (list(RENAMED),),
        )
        assert sorted(pending_migrations(conn)) == sorted(RENAMED.values())

    with pytest.raises(MigrationError, match="already applied but the file has changed"):
        migrate(database_url)


def test_tables_are_commented_for_operators(db):
    """Every table of ours carries a COMMENT for people reading the schema in psql."""
    rows = db.execute(
        sql.SQL("""
        SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname NOT LIKE 'procrastinate%%'
          AND obj_description(c.oid, 'pg_class') IS NULL""")
    ).fetchall()

    assert rows == []


def copy_with(tmp_path, **files: str):
    """The shipped migrations plus some of a newer release."""
    folder = tmp_path / "sql"
    shutil.copytree(SQL_DIR, folder)
    for name, text in files.items():
        (folder / name.replace("__", ".")).write_text(text)
    return folder


def test_split_statements_respects_quotes_comments_and_bodies():
    text = """-- header; with a semicolon
    COMMENT ON TABLE t IS 'a; b';  /* c; d */
    CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$;
    SELECT "odd;name" FROM t"""

    assert [s.split()[0] for s in split_statements(text)] == ["COMMENT", "CREATE", "SELECT"]


def test_concurrent_file_runs_outside_a_transaction(empty_url, tmp_path):
    folder = copy_with(
        tmp_path,
        **{
            "9990_t.sql": "CREATE TABLE t (x int);",
            "9991_t_x__concurrent.sql": "-- an index, built without blocking writes\n"
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_x_idx ON t (x);\n"
            "COMMENT ON INDEX t_x_idx IS 'why; it exists';",
        },
    )

    applied = migrate(empty_url, folder)

    assert applied[-2:] == ["9990_t.sql", "9991_t_x.concurrent.sql"]
    with psycopg.connect(empty_url) as conn:
        valid = conn.execute(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 't_x_idx'::regclass"
        ).fetchone()
    assert valid == (True,)


def test_a_failed_concurrent_build_is_dropped_and_rebuilt(empty_url, tmp_path):
    """A unique index over duplicates fails and stays INVALID; once the data is fixed, the
    next run drops it and builds it again."""
    folder = copy_with(
        tmp_path,
        **{
            "9990_t.sql": "CREATE TABLE t (x int); INSERT INTO t VALUES (1), (1);",
            "9991_t_x__concurrent.sql": "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "
            "t_x_key ON t (x);",
        },
    )
    with pytest.raises(psycopg.errors.UniqueViolation):
        migrate(empty_url, folder)
    with psycopg.connect(empty_url, autocommit=True) as conn:
        index = "SELECT indisvalid FROM pg_index WHERE indexrelid = 't_x_key'::regclass"
        assert conn.execute(index).fetchone() == (False,)
        conn.execute("DELETE FROM t WHERE ctid = (SELECT max(ctid) FROM t)")

        assert migrate(empty_url, folder) == ["9991_t_x.concurrent.sql"]
        assert conn.execute(index).fetchone() == (True,)


def test_a_concurrent_file_may_only_hold_statements_safe_to_rerun(empty_url, tmp_path):
    folder = copy_with(tmp_path, **{"9991_bad__concurrent.sql": "CREATE TABLE oops (x int);"})

    with pytest.raises(MigrationError, match="safe to run again"):
        migrate(empty_url, folder)


def test_a_migration_waits_for_locks_briefly_and_retries(empty_url, tmp_path):
    """While a long transaction holds a table, the ALTER gives up after lock_timeout and
    retries, so writers queued behind it wait at most that long, never the blocker's time."""
    migrate(empty_url)
    folder = copy_with(tmp_path, **{"9990_note.sql": "ALTER TABLE orders ADD COLUMN note text;"})
    locking = Locking(lock_timeout=0.2, attempts=100, backoff=0.05)
    result: list = []
    with (
        psycopg.connect(empty_url) as blocker,
        psycopg.connect(empty_url, autocommit=True) as writer,
    ):
        blocker.execute("SELECT count(*) FROM orders")  # holds ACCESS SHARE until commit
        thread = threading.Thread(target=lambda: result.append(migrate(empty_url, folder, locking)))
        thread.start()
        waits = []
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:  # writers keep going while the ALTER waits
            started = time.monotonic()
            writer.execute(
                "INSERT INTO login_failures VALUES ('account', %s, 1, now())", (str(started),)
            )
            writer.execute("SELECT count(*) FROM orders")
            waits.append(time.monotonic() - started)
        blocker.commit()
        thread.join(timeout=60)

    assert result == [["9990_note.sql"]]
    assert max(waits) < 1.5, max(waits)  # bounded by lock_timeout (+ a loaded machine)


def test_a_migration_that_never_gets_its_locks_says_why(empty_url, tmp_path):
    migrate(empty_url)
    folder = copy_with(tmp_path, **{"9990_note.sql": "ALTER TABLE orders ADD COLUMN note text;"})
    with psycopg.connect(empty_url) as blocker:
        blocker.execute("SELECT count(*) FROM orders")

        with pytest.raises(MigrationError, match="could not get its locks in 3 attempts"):
            migrate(empty_url, folder, Locking(lock_timeout=0.1, attempts=3, backoff=0.01))
