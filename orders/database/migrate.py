"""Apply Procrastinate's schema, then our numbered migrations in sql/, each recorded once.

Two kinds of migration file:
- `NNNN_x.sql` runs in its own transaction: all of it or none of it.
- `NNNN_x.concurrent.sql` runs outside a transaction, one statement at a time, for what
  PostgreSQL only does that way (`CREATE INDEX CONCURRENTLY`: builds an index on a big table
  without blocking its writes). Its statements must be idempotent (see orders.database.sqlsplit): a
  file that failed halfway runs again from its start, and an index left INVALID by a failed
  build is dropped before it is built again.

Every statement waits at most `lock_timeout` for a lock, so a migration stuck behind a long
transaction gives up before the queue of writers waiting behind *it* grows; it then retries
with backoff. A session-level advisory lock (taken by polling, see _wait_for_lock) makes concurrent
`orders db migrate` runs wait for each other instead of racing.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import procrastinate
import psycopg
from psycopg import sql
from psycopg.rows import tuple_row

from orders.database import Q
from orders.database.sqlsplit import index_built_by, not_idempotent, split_statements

log = logging.getLogger(__name__)

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"
# Procrastinate's schema and migrations, through the public App.schema_manager (never opened).
SCHEMA = procrastinate.App(connector=procrastinate.PsycopgConnector()).schema_manager
PROCRASTINATE_DIR = Path(SCHEMA.get_migrations_path())
LOCK_KEY = 0x0_0DE5_0001  # arbitrary, constant: "orders migrate"
CONCURRENT = ".concurrent.sql"
LOCK_POLL_SECONDS = 0.2
RETRYABLE = (psycopg.errors.LockNotAvailable, psycopg.errors.DeadlockDetected)
# Files renamed after release, {old name: new name}. The text stays as it was, so the checksum
# recorded under the old name still vouches for the file under the new one.
RENAMED = {"0063_upcoming_runs_index.concurrent.sql": "0069_upcoming_runs_index.concurrent.sql"}


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Locking:
    """How long migration statements wait for locks (seconds), and how often they retry."""

    lock_timeout: float = 5.0
    index_lock_timeout: float = (
        600.0  # index builds wait for older transactions; never blocks writes
    )
    attempts: int = 20
    backoff: float = 0.5

    def wait(self, attempt: int) -> float:
        return min(self.backoff * 2 ** (attempt - 1), 30.0)


@dataclass(frozen=True)
class Migration:
    version: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    @property
    def concurrent(self) -> bool:
        return self.version.endswith(CONCURRENT)


def _files(directory: Path, prefix: str, pattern: str) -> list[Migration]:
    return [
        Migration(prefix + p.name, p.read_text(encoding="utf-8"))
        for p in sorted(directory.glob(pattern))
    ]


def procrastinate_migrations() -> list[Migration]:
    return _files(PROCRASTINATE_DIR, "procrastinate/", "*.sql")


def our_migrations(directory: Path = SQL_DIR) -> list[Migration]:
    return _files(directory, "", "[0-9][0-9][0-9][0-9]_*.sql")


def migrate(url: str, directory: Path = SQL_DIR, locking: Locking | None = None) -> list[str]:
    """Bring the database at `url` up to date; return the versions applied now."""
    locking = locking or Locking()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(Q["migration_session"])  # no statement limit: a migration takes its time
        _wait_for_lock(conn)
        try:
            conn.execute(Q["schema_migrations_create"])
            _record_renames(conn)
            applied = dict(conn.execute(Q["schema_migrations_list"]).fetchall())
            done = _apply_procrastinate(conn, applied, locking)
            for migration in our_migrations(directory):
                if _needs(migration, applied):
                    _apply_one(conn, migration, locking)
                    done.append(migration.version)
            return done
        finally:
            conn.execute(Q["migration_unlock"], {"key": LOCK_KEY})


def _wait_for_lock(conn: psycopg.Connection) -> None:
    """Take the migration lock, polling: a session blocked in pg_advisory_lock() would be a
    transaction that a concurrent index build waits for, while it waits for the build."""
    while not conn.execute(Q["migration_try_lock"], {"key": LOCK_KEY}).fetchone()[0]:
        time.sleep(LOCK_POLL_SECONDS)


def pending_migrations(conn: psycopg.Connection) -> list[str]:
    """Shipped migrations this database has not applied, or applied from a different file."""
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(Q["schema_migrations_exists"])
        if not cur.fetchone()[0]:
            return ["schema_migrations"]
        applied = _renamed(dict(cur.execute(Q["schema_migrations_list"]).fetchall()))
    shipped = procrastinate_migrations() + our_migrations()
    return [m.version for m in shipped if applied.get(m.version) != m.checksum]


def _record_renames(conn: psycopg.Connection) -> None:
    """Record each renamed file applied under its old name under its new one too. The old row
    stays: the previous release, still serving during an upgrade, looks for it (its /readyz)."""
    with conn.transaction():
        for old, new in RENAMED.items():
            conn.execute(Q["schema_migration_rename"], {"old": old, "new": new})


def _renamed(applied: dict[str, str]) -> dict[str, str]:
    """`applied` as _record_renames will leave it: /readyz may run before `orders db migrate`."""
    for old, new in RENAMED.items():
        if old in applied:
            applied.setdefault(new, applied[old])
    return applied


def _needs(migration: Migration, applied: dict[str, str]) -> bool:
    recorded = applied.get(migration.version)
    if recorded is None:
        return True
    if recorded != migration.checksum:
        raise MigrationError(
            f"migration {migration.version} was already applied but the file has changed since "
            f"(checksum {recorded[:12]} recorded, {migration.checksum[:12]} now). Applied "
            "migrations are immutable: restore the file and write a new migration instead."
        )
    return False


def _apply_procrastinate(
    conn: psycopg.Connection, applied: dict[str, str], locking: Locking
) -> list[str]:
    """A fresh database gets schema.sql (all migrations in one); an older one the missing files."""
    shipped = procrastinate_migrations()
    if not any(v.startswith("procrastinate/") for v in applied):
        _retrying(
            "procrastinate schema",
            locking,
            lambda: _apply(conn, SCHEMA.get_schema(), shipped, locking),
        )
        return ["procrastinate/schema.sql"]
    pending = [m for m in shipped if _needs(m, applied)]
    for migration in pending:
        _apply_one(conn, migration, locking)
    return [m.version for m in pending]


def _apply_one(conn: psycopg.Connection, migration: Migration, locking: Locking) -> None:
    if migration.concurrent:
        _apply_concurrent(conn, migration, locking)
    else:
        _retrying(
            migration.version, locking, lambda: _apply(conn, migration.sql, [migration], locking)
        )


def _apply(conn: psycopg.Connection, text: str, record: list[Migration], locking: Locking) -> None:
    with conn.transaction():
        conn.execute(Q["migration_lock_timeout"], {"ms": _ms(locking.lock_timeout), "local": True})
        conn.execute(text)  # no parameters: sent as-is, several statements allowed
        _record(conn, record)
    log.info("applied %s", record[0].version if len(record) == 1 else "procrastinate schema")


def _apply_concurrent(conn: psycopg.Connection, migration: Migration, locking: Locking) -> None:
    """Each statement on its own (autocommit), retried; recorded once all of them succeeded."""
    statements = split_statements(migration.sql)
    unsafe = not_idempotent(statements)
    if unsafe:
        raise MigrationError(
            f"{migration.version} runs outside a transaction, so each statement must be safe to "
            f"run again (CREATE INDEX CONCURRENTLY IF NOT EXISTS, DROP INDEX CONCURRENTLY IF "
            f"EXISTS, COMMENT ON, ...); not: {unsafe[0][:80]!r}"
        )
    conn.execute(
        Q["migration_lock_timeout"], {"ms": _ms(locking.index_lock_timeout), "local": False}
    )
    try:
        for statement in statements:
            what = f"{migration.version}: {statement.splitlines()[0][:60]}"
            _retrying(what, locking, lambda s=statement: _run_concurrent(conn, s))
    finally:
        conn.execute(Q["migration_lock_timeout"], {"ms": "0", "local": False})
    with conn.transaction():
        _record(conn, [migration])
    log.info("applied %s", migration.version)


def _run_concurrent(conn: psycopg.Connection, statement: str) -> None:
    index = index_built_by(statement)
    if index is not None and conn.execute(Q["index_is_invalid"], {"name": index}).fetchone()[0]:
        log.warning("dropping index %s left INVALID by an earlier failed build", index)
        conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.Identifier(index)))
    conn.execute(statement)


def _retrying(what: str, locking: Locking, action: Callable[[], None]) -> None:
    """Run `action`; when it timed out waiting for a lock (or lost a deadlock), wait and rerun."""
    for attempt in range(1, locking.attempts + 1):
        try:
            action()
            return
        except RETRYABLE as exc:
            if attempt == locking.attempts:
                raise MigrationError(
                    f"{what}: could not get its locks in {attempt} attempts ({exc}). A long "
                    "transaction holds them (see pg_stat_activity); run `orders db migrate` again."
                ) from exc
            wait = locking.wait(attempt)
            log.warning("%s: %s; retrying in %.1f s (attempt %d)", what, exc, wait, attempt)
            time.sleep(wait)


def _record(conn: psycopg.Connection, record: list[Migration]) -> None:
    for migration in record:
        conn.execute(
            Q["schema_migration_insert"],
            {"version": migration.version, "checksum": migration.checksum},
        )


def _ms(seconds: float) -> str:
    return str(int(seconds * 1000))
