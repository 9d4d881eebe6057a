"""The import-linter contracts in pyproject.toml hold, and they catch a breach."""

from __future__ import annotations

import shutil
import site
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Run import-linter without site's .pth files, so the editable install's finder does not
# point `orders` back at this checkout: the copy under tmp_path is what gets analysed.
RUNNER = """
import sys
sys.path[:0] = [sys.argv[1], *sys.argv[2].split(":")]
from importlinter.cli import lint_imports
sys.exit(lint_imports(config_filename=sys.argv[1] + "/pyproject.toml"))
"""


def lint(tree: Path) -> subprocess.CompletedProcess:
    paths = ":".join(site.getsitepackages())
    argv = [sys.executable, "-S", "-c", RUNNER, str(tree), paths]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=tree)


def copy_tree(tmp_path: Path) -> Path:
    for name in ("orders", "tasks"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def test_the_contracts_hold(tmp_path):
    result = lint(copy_tree(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" in result.stdout and " 0 broken" in result.stdout


def test_a_feature_that_imports_the_worker_breaks_them(tmp_path):
    tree = copy_tree(tmp_path)
    (tree / "orders" / "scheduling" / "breach.py").write_text("import tasks.jobs.app\n")
    result = lint(tree)
    assert result.returncode != 0
    assert "orders.scheduling.breach -> tasks.jobs.app" in result.stdout


def test_a_feature_that_imports_flask_breaks_them(tmp_path):
    tree = copy_tree(tmp_path)
    (tree / "orders" / "accounts" / "breach.py").write_text("import flask\n")
    result = lint(tree)
    assert result.returncode != 0
    assert "orders.accounts.breach -> flask" in result.stdout
