"""Apply Procrastinate's schema, then our numbered migrations in sql/, each recorded once.

Every file runs in its own transaction. A session-level advisory lock makes concurrent
`orders db migrate` runs wait for each other instead of racing.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import psycopg
from procrastinate.schema import SchemaManager
from psycopg.rows import tuple_row

from orders.db import Q

log = logging.getLogger(__name__)

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
PROCRASTINATE_DIR = Path(SchemaManager.get_migrations_path())
LOCK_KEY = 0x0_0DE5_0001  # arbitrary, constant: "orders migrate"


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    version: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def _files(directory: Path, prefix: str, pattern: str) -> list[Migration]:
    return [
        Migration(prefix + p.name, p.read_text(encoding="utf-8"))
        for p in sorted(directory.glob(pattern))
    ]


def procrastinate_migrations() -> list[Migration]:
    return _files(PROCRASTINATE_DIR, "procrastinate/", "*.sql")


def our_migrations(directory: Path = SQL_DIR) -> list[Migration]:
    return _files(directory, "", "[0-9][0-9][0-9][0-9]_*.sql")


def migrate(url: str, directory: Path = SQL_DIR) -> list[str]:
    """Bring the database at `url` up to date; return the versions applied now."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(Q["migration_lock"], {"key": LOCK_KEY})
        try:
            conn.execute(Q["schema_migrations_create"])
            applied = dict(conn.execute(Q["schema_migrations_list"]).fetchall())
            done = _apply_procrastinate(conn, applied)
            for migration in our_migrations(directory):
                if _needs(migration, applied):
                    _apply(conn, migration.sql, [migration])
                    done.append(migration.version)
            return done
        finally:
            conn.execute(Q["migration_unlock"], {"key": LOCK_KEY})


def pending_migrations(conn: psycopg.Connection) -> list[str]:
    """Shipped migrations this database has not applied, or applied from a different file."""
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(Q["schema_migrations_exists"])
        if not cur.fetchone()[0]:
            return ["schema_migrations"]
        applied = dict(cur.execute(Q["schema_migrations_list"]).fetchall())
    shipped = procrastinate_migrations() + our_migrations()
    return [m.version for m in shipped if applied.get(m.version) != m.checksum]


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


def _apply_procrastinate(conn: psycopg.Connection, applied: dict[str, str]) -> list[str]:
    """A fresh database gets schema.sql (all migrations in one); an older one the missing files."""
    shipped = procrastinate_migrations()
    if not any(v.startswith("procrastinate/") for v in applied):
        _apply(conn, SchemaManager.get_schema(), shipped)
        return ["procrastinate/schema.sql"]
    pending = [m for m in shipped if _needs(m, applied)]
    for migration in pending:
        _apply(conn, migration.sql, [migration])
    return [m.version for m in pending]


def _apply(conn: psycopg.Connection, sql: str, record: list[Migration]) -> None:
    with conn.transaction():
        conn.execute(sql)  # no parameters: sent as-is, several statements allowed
        for migration in record:
            conn.execute(
                Q["schema_migration_insert"],
                {"version": migration.version, "checksum": migration.checksum},
            )
    log.info("applied %s", record[0].version if len(record) == 1 else "procrastinate schema")
