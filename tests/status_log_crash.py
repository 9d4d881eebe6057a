"""A status-log writer process that SIGKILLs itself at a chosen point of its Nth page.

    python -m tests.status_log_crash URL PATH --page N --when after-fsync|mid-write

`after-fsync`: the page is written and fsynced, the database not yet told (the worst moment
for a duplicate). `mid-write`: half of the page's bytes are written (a torn last line).
Exits 3 if the backlog ends before page N (the test then fails on the exit code).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

from orders.operations import status_log


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("path", type=Path)
    parser.add_argument("--page", type=int, required=True)
    parser.add_argument("--when", choices=["after-fsync", "mid-write"], required=True)
    parser.add_argument("--lines", type=int, default=5000)
    args = parser.parse_args()
    pages, original = 0, status_log._append

    def append(file, events):
        nonlocal pages
        pages += 1
        if pages < args.page:
            return original(file, events)
        if args.when == "mid-write":
            lines = (json.dumps(status_log.line_of(e), separators=(",", ":")) for e in events)
            data = "".join(f"{line}\n" for line in lines).encode()
            file.write(data[: len(data) // 2 + 7])  # + 7: never on a line boundary
            file.flush()
        else:
            original(file, events)
        os.kill(os.getpid(), signal.SIGKILL)

    status_log._append = append
    paging = status_log.Paging(lines=args.lines, max_pages=1000)
    with psycopg.connect(args.url, autocommit=True, row_factory=dict_row) as conn:
        while status_log.write_pending(conn, args.path, paging):
            pass
    return 3


if __name__ == "__main__":
    raise SystemExit(main())
