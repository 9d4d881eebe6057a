"""The README runs as written: its runnable blocks (```sh run=<id>) are pasted, in order, into
one shell in the project folder, as a new user would in a second terminal, against a service
started with `make dev` (on free ports, with a throwaway data folder); every answer is checked."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.cluster import free_port
from tests.workers import wait_until

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"^```sh run=([\w-]+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def readme_blocks() -> list[tuple[str, str]]:
    return BLOCK.findall((ROOT / "README.md").read_text(encoding="utf-8"))


@dataclass
class Answer:
    out: str
    err: str
    rc: int

    def json(self) -> list:
        """Every JSON document printed, in order (curl prints one per request)."""
        decoder, docs, text = json.JSONDecoder(), [], self.out.strip()
        while text:
            doc, end = decoder.raw_decode(text)
            docs.append(doc)
            text = text[end:].lstrip()
        return docs


class Shell:
    """One bash, fed block after block like a terminal; each block's output kept apart."""

    def __init__(self, env: dict[str, str], folder: Path):
        self.folder = folder
        self.bash = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def run(self, name: str, script: str, timeout: float = 120) -> Answer:
        out, err = self.folder / f"{name}.out", self.folder / f"{name}.err"
        self.bash.stdin.write(f'{{\n{script}\n}} </dev/null >{out} 2>{err}\necho "@@ $?"\n')
        self.bash.stdin.flush()
        deadline = time.monotonic() + timeout
        line = self.bash.stdout.readline()  # blocks until the block is done
        assert time.monotonic() < deadline and line.startswith("@@"), line
        return Answer(out.read_text(), err.read_text(), int(line.split()[1]))

    def close(self) -> None:
        self.bash.stdin.close()
        self.bash.wait(timeout=30)


@dataclass
class Dev:
    process: subprocess.Popen
    data: Path
    port: int
    log_file: Path
    banner: list[str]


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture
def dev() -> Iterator[Dev]:
    """`make dev`, as the README says, in its own process group (Ctrl-C reaches all of it)."""
    data = Path(tempfile.mkdtemp(prefix="orders-readme-"))
    data.chmod(0o755)  # the server user (when we are root) must reach the data folder
    port, log_file = free_port(), data / "orders.log"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "ORDERS_ENV")}
    env |= {"ORDERS_DEV_DATA": str(data), "ORDERS_DEV_PG_PORT": str(free_port())}
    env |= {"ORDERS_LOG_FILE": str(log_file)}
    process = subprocess.Popen(  # -o: never reinstall the venv here (make test did)
        ["make", "--no-print-directory", "-o", ".venv/bin/orders", "dev", f"PORT={port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    banner: list[str] = []  # everything it prints (its API and worker log there too)
    reader = threading.Thread(target=lambda: banner.extend(process.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 120
        while not http_ok(f"http://127.0.0.1:{port}/readyz"):
            assert process.poll() is None, "".join(banner)
            assert time.monotonic() < deadline, "the API did not come up"
            time.sleep(0.2)
        yield Dev(process, data, port, log_file, banner)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)  # Ctrl-C
            try:
                process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        shutil.rmtree(data, ignore_errors=True)


# ---- what each block must answer ---------------------------------------------------------


def dev_url(ctx: dict) -> str:
    return ctx["try-path"].out.strip()


def check_path(a: Answer, ctx: dict) -> None:
    assert a.rc == 0, a.err
    assert re.fullmatch(r"postgresql://\S+/orders", a.out.strip()), a.out


def check_signup(a: Answer, ctx: dict) -> None:
    (user,) = a.json()
    assert user["email"] == "ada@example.com" and user["role"] == "customer"


def check_login(a: Answer, ctx: dict) -> None:
    (me,) = a.json()
    assert me["email"] == "ada@example.com"


def check_create(a: Answer, ctx: dict) -> None:
    (order,) = a.json()
    assert (order["order_name"], order["status"], order["max_executions"]) == (
        "coffee",
        "scheduled",
        3,
    )


def check_list(a: Answer, ctx: dict) -> None:
    filtered, everything = a.json()
    assert [o["order_name"] for o in filtered["orders"]] == ["coffee"]
    assert [o["order_name"] for o in everything["orders"]] == ["coffee"]


def check_daily(a: Answer, ctx: dict) -> None:
    order, history = a.json()
    assert order["timezone"] == "Europe/Paris" and order["repeat_unit"] == "days"
    assert order["next_run_at"] == "2030-03-30T06:30:00Z"  # 07:30 CET
    assert [e["event_type"] for e in history["events"]] == ["created"]


def check_refused(a: Answer, ctx: dict) -> None:
    (error,) = a.json()
    assert error["error"]["status"] == 422
    assert error["error"]["details"][0]["field"] == "cron"


def check_sessions(a: Answer, ctx: dict) -> None:
    status, rest = a.out.split("\n", 1)
    ended, me = Answer(rest, "", 0).json()
    assert status == "204"
    assert ended["error"]["status"] == 401 and "ended" in ended["error"]["message"]
    assert me["email"] == "ada@example.com"


def check_export(a: Answer, ctx: dict) -> None:
    assert a.rc == 0 and '"account": {' in a.out and '"email": "ada@example.com"' in a.out


def check_provider_order(a: Answer, ctx: dict) -> None:
    first, rest = a.out.split("\n", 1)
    (order,) = Answer(rest, "", 0).json()
    assert re.fullmatch(r"provider \d+: Acme <orders@acme.example>", first)
    assert order["provider_id"] and order["order_name"] == "soap"
    wait_until(  # the README says the worker runs it at once; the next block needs its request
        dev_url(ctx), "SELECT count(*) AS n FROM provider_requests", lambda r: r[0]["n"] == 1, 60
    )


def check_digest(a: Answer, ctx: dict) -> None:
    assert a.rc == 0, a.err
    assert "queued 1 provider digests and 0 customer notices (1 requests)" in a.out
    assert "sent 1, failed 0" in a.out
    (mail,) = (ctx["dev"].data / "mail").glob("*.eml")
    assert "orders@acme.example" in mail.read_text() and "soap" in mail.read_text()


def check_cli(a: Answer, ctx: dict) -> None:
    assert a.rc == 0, a.err
    assert "scheduled" in a.out and "live workers 1" in a.out  # stats
    assert "croissants" in a.out and "coffee" in a.out  # orders list, orders show
    assert re.search(r"order \d+ cancelled", a.out)
    assert re.search(r"user \d+: ops@example.com \(admin\)", a.out)


def check_sql(a: Answer, ctx: dict) -> None:
    assert a.rc == 0, a.err
    header = [c.strip() for c in a.out.splitlines()[0].split("|")]
    assert header == ["order_id", "order_name", "next_run_at", "job_status"]
    assert re.search(r"^\(\d+ rows?\)$", a.out, re.MULTILINE)
    assert "croissants" not in a.out  # cancelled by the CLI block: no longer due


EXPECT: dict[str, Callable[[Answer, dict], None]] = {
    "try-path": check_path,
    "try-signup": check_signup,
    "try-login": check_login,
    "order-create": check_create,
    "order-list": check_list,
    "order-daily": check_daily,
    "order-refused": check_refused,
    "account-sessions": check_sessions,
    "account-export": check_export,
    "provider-order": check_provider_order,
    "provider-digest": check_digest,
    "cli": check_cli,
    "sql": check_sql,
}


def test_every_runnable_block_has_a_check():
    assert [name for name, _ in readme_blocks()] == list(EXPECT)


def test_the_readme_runs_as_written(dev, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "ORDERS_ENV")}
    env |= {"ORDERS_DEV_DATA": str(dev.data), "PATH": "/usr/bin:/bin:/usr/local/bin"}
    shell, ctx = Shell(env, tmp_path), {"dev": dev}
    try:
        for name, script in readme_blocks():
            pasted = script.replace("localhost:8000", f"localhost:{dev.port}")
            ctx[name] = answer = shell.run(name, pasted)
            EXPECT[name](answer, ctx)
    finally:
        shell.close()

    assert f"status log: {dev.log_file}" in "".join(dev.banner)  # make dev says where it is
    wait_until(  # ... and it is written there (about once a second)
        dev_url(ctx),
        "SELECT count(*) AS n FROM order_events WHERE to_status = 'completed'",
        lambda rows: (
            dev.log_file.exists() and sum(1 for _ in dev.log_file.open()) >= rows[0]["n"] >= 1
        ),
        30,
    )
    os.killpg(dev.process.pid, signal.SIGINT)  # Ctrl-C (make itself reports "Interrupt")
    dev.process.wait(timeout=90)
    deadline = time.monotonic() + 90  # orders dev stops the API, the worker, then PostgreSQL
    while (dev.data / "dev.json").exists() or (dev.data / "postgres/postmaster.pid").exists():
        assert time.monotonic() < deadline, "orders dev did not stop everything"
        time.sleep(0.2)
