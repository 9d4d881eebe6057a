"""A throwaway PostgreSQL cluster for the test session, from testing.postgresql.

testing.postgresql spawns initdb and postgres itself; as root both refuse to run, so the
subclass runs them as the unprivileged server user (see orders.dev.pgserver) and hands the
cluster's folders to that user first.

On a loaded machine a shutdown or a boot can take far longer than testing.postgresql's 10 s, and
its answer to a slow shutdown (SIGKILL the postmaster, leave the cluster half-dead) used to fail
every later test. Here both wait generously, a shutdown that still hangs escalates to an
immediate shutdown, and `ensure_running()` (called before each database test) brings a stopped
cluster back, so one failing test never cascades.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import testing.postgresql

from orders.dev import pgserver

FAST_UNSAFE = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
PATIENCE_SECONDS = 120.0


class Cluster(testing.postgresql.Postgresql):
    DEFAULT_BOOT_TIMEOUT = PATIENCE_SECONDS

    def initialize_database(self) -> None:
        pgserver.give_to_server_user(Path(self.base_dir))
        pgserver.initdb(Path(self.initdb).parent, Path(self.base_dir) / "data")

    def get_server_commandline(self) -> list[str]:
        return pgserver.as_server_user(super().get_server_commandline())

    def terminate(self, _signal=signal.SIGINT) -> None:
        """Stop the server (SIGINT: fast shutdown; SIGQUIT: immediate) and wait for it; one
        that does not stop in time is shut down immediately, then killed."""
        proc = self.child_process
        if proc is None:
            return
        for signum in (_signal, signal.SIGQUIT, signal.SIGKILL):
            proc.send_signal(signum)
            if _exited(proc, PATIENCE_SECONDS):
                break
        self.child_process = None

    def ensure_running(self) -> None:
        """Start the server if a test left it stopped, and wait until it accepts connections."""
        if not self.is_alive():
            self.child_process = None
            self.start()
        deadline = time.monotonic() + PATIENCE_SECONDS
        while not self.is_server_available():
            if time.monotonic() > deadline:
                raise RuntimeError(
                    "the test cluster does not accept connections:\n" + self.read_bootlog()
                )
            time.sleep(0.1)


def _exited(proc: subprocess.Popen, timeout: float) -> bool:
    try:
        proc.wait(timeout=timeout)
        return True
    except subprocess.TimeoutExpired:
        return False


def start_cluster() -> Cluster:
    bindir = pgserver.find_bindir()  # raises with instructions: a missing server never skips
    return Cluster(
        initdb=str(bindir / "initdb"),
        postgres=str(bindir / "postgres"),
        postgres_args=f"-h 127.0.0.1 -F -c logging_collector=off -c max_connections=300 "
        f"{FAST_UNSAFE}",
    )
