"""The named-query loader: every `-- name: x` block of every .sql file in the `orders` package.

Each feature keeps its SQL beside its code (orders/scheduling/orders.sql, ...); a name is
entity-then-verb and unique across the package, followed by a one-line purpose.
"""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE_DIR = Path(__file__).parent.parent
_HEADER = re.compile(r"^-- name: (\w+)\n-- (.+)$", re.MULTILINE)


def load_queries(directory: Path = PACKAGE_DIR) -> dict[str, str]:
    """Read every `-- name: x` block of every .sql file under `directory` into {name: sql}."""
    queries: dict[str, str] = {}
    for path in sorted(directory.rglob("*.sql")):
        text = path.read_text(encoding="utf-8")
        headers = list(_HEADER.finditer(text))
        for header, nxt in zip(headers, [*headers[1:], None], strict=True):
            end = nxt.start() if nxt else len(text)
            name = header.group(1)
            if name in queries:
                raise ValueError(f"query {name!r} is defined twice ({path.name})")
            queries[name] = text[header.end() : end].strip().rstrip(";")
    return queries


Q = load_queries()
