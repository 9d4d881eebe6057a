"""A throwaway PostgreSQL cluster for the test session, from testing.postgresql.

testing.postgresql spawns initdb and postgres itself; as root both refuse to run, so the
subclass runs them as the unprivileged server user (see orders.pgserver) and hands the
cluster's folders to that user first.
"""

from __future__ import annotations

from pathlib import Path

import testing.postgresql

from orders import pgserver

FAST_UNSAFE = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"


class Cluster(testing.postgresql.Postgresql):
    def initialize_database(self) -> None:
        pgserver.give_to_server_user(Path(self.base_dir))
        pgserver.initdb(Path(self.initdb).parent, Path(self.base_dir) / "data")

    def get_server_commandline(self) -> list[str]:
        return pgserver.as_server_user(super().get_server_commandline())


def start_cluster() -> Cluster:
    bindir = pgserver.find_bindir()  # raises with instructions: a missing server never skips
    return Cluster(
        initdb=str(bindir / "initdb"),
        postgres=str(bindir / "postgres"),
        postgres_args=f"-h 127.0.0.1 -F -c logging_collector=off -c max_connections=300 "
        f"{FAST_UNSAFE}",
    )
