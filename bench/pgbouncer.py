"""A real PgBouncer in transaction mode in front of a PostgreSQL server, for tests and the soak.

PgBouncer refuses to run as root; as root it runs as the PostgreSQL server user (see
orders.dev.pgserver), like the server itself. Any database name is passed through to the server
(`* =`); database `single` is served by one server connection, so two clients are sure to
share it (the prepared-statement hazard of transaction pooling, made deterministic).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.cluster import free_port
from orders.dev import pgserver

HOW_TO_GET = (
    "pgbouncer was not found. Install it (`apt-get install pgbouncer`, `brew install pgbouncer`) "
    "or point ORDERS_PGBOUNCER at the executable; `.ci/run` installs it when missing."
)

CONFIG = """\
[databases]
single = host={host} port={port} dbname=postgres pool_size=1
* = host={host} port={port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {listen}
unix_socket_dir =
auth_type = trust
auth_file = {folder}/userlist.txt
admin_users = postgres
pool_mode = transaction
max_client_conn = 500
default_pool_size = {pool_size}
server_lifetime = 3600
ignore_startup_parameters = extra_float_digits
logfile = {folder}/pgbouncer.log
"""


def find_pgbouncer() -> str:
    """The pgbouncer executable, or a RuntimeError saying how to get it (tests never skip)."""
    chosen = os.environ.get("ORDERS_PGBOUNCER")
    for candidate in [chosen] if chosen else [shutil.which("pgbouncer"), "/usr/sbin/pgbouncer"]:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError(HOW_TO_GET)


class PgBouncer:
    """A running pgbouncer; `url(db)` connects through it, `admin()` to its console."""

    def __init__(self, server_url: str, pool_size: int = 20):
        host_port = server_url.split("@", 1)[1].split("/", 1)[0]
        self.server_host, self.server_port = host_port.rsplit(":", 1)
        self.user = server_url.split("://", 1)[1].split("@", 1)[0]
        self.pool_size, self.port = pool_size, free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="orders-pgbouncer-"))
        self.proc: subprocess.Popen | None = None

    def url(self, database: str) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        executable = find_pgbouncer()
        self._write_config()
        argv = pgserver.as_server_user([executable, str(self.folder / "pgbouncer.ini")])
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        self._wait_listening()

    def _write_config(self) -> None:
        self.folder.chmod(0o755)
        (self.folder / "userlist.txt").write_text(f'"{self.user}" ""\n')
        (self.folder / "pgbouncer.ini").write_text(
            CONFIG.format(
                host=self.server_host,
                port=self.server_port,
                listen=self.port,
                folder=self.folder,
                pool_size=self.pool_size,
            )
        )
        pgserver.give_to_server_user(self.folder)

    def _wait_listening(self, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"pgbouncer exited: {self.log()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"pgbouncer did not listen within {seconds} s: {self.log()[-2000:]}")

    def log(self) -> str:
        path = self.folder / "pgbouncer.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # safe shutdown: waits for running transactions
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


@contextmanager
def pgbouncer(server_url: str, pool_size: int = 20) -> Iterator[PgBouncer]:
    """Run a transaction-mode pgbouncer in front of `server_url` (any database of it)."""
    bouncer = PgBouncer(server_url, pool_size)
    try:
        bouncer.start()
        yield bouncer
    finally:
        bouncer.stop()
