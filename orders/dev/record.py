"""Where a running `orders dev` says what it started, so that a second terminal works as is.

`orders dev` writes `.data/dev.json` (its pid, database URL, API address, status log and mail
folder) and removes it when it stops. With DATABASE_URL unset, and ORDERS_ENV unset or `dev`
(never when ORDERS_ENV=production is set), every `orders` command uses the recorded database
while that `orders dev` process is alive: `orders stats` just works beside `make dev`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parents[2]


def data_dir() -> Path:
    return Path(os.environ.get("ORDERS_DEV_DATA", PROJECT_DIR / ".data"))


def record_path() -> Path:
    return data_dir() / "dev.json"


def write(info: dict[str, Any]) -> None:
    path = record_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": os.getpid(), **info}, indent=2) + "\n", encoding="utf-8")


def remove() -> None:
    record_path().unlink(missing_ok=True)


def running() -> dict[str, Any] | None:
    """The record of an `orders dev` that is still running, else None."""
    try:
        info = json.loads(record_path().read_text(encoding="utf-8"))
        os.kill(int(info["pid"]), 0)  # signal 0: only asks whether the process exists
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return info
