"""A real hot standby of the test cluster (pg_basebackup + streaming replication)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.cluster import free_port
from orders.dev import pgserver


def find_basebackup(bindir: Path) -> Path:
    """pg_basebackup beside the server binaries (or beside what they link to)."""
    for folder in (bindir, (bindir / "postgres").resolve().parent):
        if (folder / "pg_basebackup").exists():
            return folder / "pg_basebackup"
    raise RuntimeError(f"pg_basebackup not found beside {bindir}: {pgserver.HOW_TO_GET}")


@contextmanager
def standby(primary_url: str, max_connections: int = 300) -> Iterator[str]:
    """Start a streaming replica of the cluster at `primary_url`; yield its URL (no database
    name). `max_connections` must be at least the primary's, or a standby refuses to start."""
    bindir = pgserver.find_bindir()
    host_port = primary_url.split("@", 1)[1].split("/", 1)[0]
    host, port = host_port.rsplit(":", 1)
    folder = Path(tempfile.mkdtemp(prefix="orders-standby-"))
    folder.chmod(0o755)
    pgserver.give_to_server_user(folder)
    datadir, log = folder / "data", folder / "standby.log"
    argv = [str(find_basebackup(bindir)), "-h", host, "-p", port, "-U", "postgres"]
    argv += ["-D", str(datadir), "-R", "-X", "stream", "--checkpoint=fast", "--no-sync"]
    done = subprocess.run(pgserver.as_server_user(argv), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"pg_basebackup failed: {done.stderr.strip()}")
    log.touch()
    pgserver.give_to_server_user(log)
    listen = free_port()
    options = f"-h 127.0.0.1 -p {listen} -k {datadir} -c max_connections={max_connections}"
    try:
        pgserver.pg_ctl(bindir, datadir, "start", "-l", str(log), "-o", options)
        yield f"postgresql://postgres@127.0.0.1:{listen}"
    finally:
        if (datadir / "postmaster.pid").exists():
            pgserver.stop(bindir, datadir)
        shutil.rmtree(folder, ignore_errors=True)
