"""Split a migration file into statements, and tell which statements are safe to run again.

A `.concurrent.sql` migration runs outside a transaction, one statement at a time (PostgreSQL
refuses `CREATE INDEX CONCURRENTLY` inside one). If it fails halfway, the statements before the
failure stay done and the whole file runs again on the next `orders db migrate`, so every one
of its statements must be idempotent: only the forms below are accepted.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(
    r"""--[^\n]*            # line comment
      | /\*.*?\*/           # block comment
      | '(?:[^']|'')*'      # string
      | "(?:[^"]|"")*"      # quoted identifier
      | (\$\w*\$).*?\1      # dollar-quoted body
      | ;                   # end of a statement
    """,
    re.VERBOSE | re.DOTALL,
)

IDEMPOTENT = re.compile(
    r"""^(CREATE\s+(UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+IF\s+NOT\s+EXISTS\s
         |DROP\s+INDEX\s+CONCURRENTLY\s+IF\s+EXISTS\s
         |REINDEX\s+(\(.*?\)\s+)?INDEX\s+CONCURRENTLY\s
         |COMMENT\s+ON\s
         |ANALYZE\b
         |ALTER\s+TABLE\s+\S+\s+VALIDATE\s+CONSTRAINT\s)""",
    re.VERBOSE | re.IGNORECASE | re.DOTALL,
)

CREATE_INDEX = re.compile(
    r"^CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+IF\s+NOT\s+EXISTS\s+(\w+)\s",
    re.IGNORECASE,
)


def split_statements(sql: str) -> list[str]:
    """The statements of `sql`, without comments around them; `;` inside strings, quoted
    identifiers, comments and dollar-quoted bodies does not end a statement."""
    statements, start = [], 0
    for match in _TOKEN.finditer(sql):
        if match.group(0) == ";":
            statements.append(sql[start : match.start()])
            start = match.end()
    statements.append(sql[start:])
    return [s for s in (_strip_comments(s) for s in statements) if s]


_LEADING_COMMENTS = re.compile(r"\A(?:\s+|--[^\n]*|/\*.*?\*/)*", re.DOTALL)


def _strip_comments(statement: str) -> str:
    """Drop comments before a statement (a file's header, a statement's why) and spaces."""
    return _LEADING_COMMENTS.sub("", statement).strip()


def not_idempotent(statements: list[str]) -> list[str]:
    """The statements that could not safely run a second time."""
    return [s for s in statements if not IDEMPOTENT.match(s)]


def index_built_by(statement: str) -> str | None:
    """The index name a `CREATE INDEX CONCURRENTLY IF NOT EXISTS name ON ...` builds."""
    match = CREATE_INDEX.match(statement)
    return match.group(1) if match else None
