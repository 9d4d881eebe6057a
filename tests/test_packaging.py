"""The deployment files name real entry points (Docker cannot run here, so they are parsed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

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
    assert 'orders = "orders.cli:main"' in (ROOT / "pyproject.toml").read_text()


def test_env_example_documents_every_setting():
    """Every environment variable the settings read appears in .env.example with a comment."""
    from orders.config import Settings

    example = (ROOT / ".env.example").read_text()
    for field in Settings.model_fields.values():
        assert f"{field.alias}=" in example, field.alias
