"""Where a running `orders dev` says what it started, so that a second terminal works as is.

`orders dev` writes `.data/dev.json` (its pid, database URL, API address, status log and mail
folder) and removes it when it stops. With DATABASE_URL unset, and ORDERS_ENV unset or `dev`
(never when ORDERS_ENV=production is set), every `orders` command uses the recorded database
while that `orders dev` process is alive: `orders stats` just works beside `make dev`.
The folder is ORDERS_DEV_DATA (Settings.dev_data_dir), passed in by the callers.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parents[2]
DEFAULT_DATA_DIR = PROJECT_DIR / ".data"


def record_path(data: Path) -> Path:
    return data / "dev.json"


def write(data: Path, info: dict[str, Any]) -> None:
    path = record_path(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": os.getpid(), **info}, indent=2) + "\n", encoding="utf-8")


def remove(data: Path) -> None:
    record_path(data).unlink(missing_ok=True)


def running(data: Path) -> dict[str, Any] | None:
    """The record of an `orders dev` that is still running, else None."""
    try:
        info = json.loads(record_path(data).read_text(encoding="utf-8"))
        os.kill(int(info["pid"]), 0)  # signal 0: only asks whether the process exists
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return info
