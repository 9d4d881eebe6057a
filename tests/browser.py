"""A real headless browser for the dashboard tests: Playwright driving Chromium.

Chromium is found as ORDERS_CHROMIUM, or Debian's `chromium` on PATH (`.ci/run` installs it),
or Playwright's own download (`playwright install chromium`). Without any the test fails
and says so: it is never skipped.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from playwright.sync_api import Browser, Error, sync_playwright
from werkzeug.serving import make_server

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def chromium_path() -> str | None:
    """None: let Playwright use its own download."""
    return os.environ.get("ORDERS_CHROMIUM") or next(
        filter(None, map(shutil.which, CANDIDATES)), None
    )


@contextmanager
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        try:
            launched = pw.chromium.launch(executable_path=chromium_path(), headless=True)
        except Error as exc:
            pytest.fail(
                "no Chromium to drive: install Debian's `chromium` (apt-get install chromium), "
                f"set ORDERS_CHROMIUM, or run `playwright install chromium` ({exc.message[:200]})"
            )
        try:
            yield launched
        finally:
            launched.close()


@contextmanager
def serve(app) -> Iterator[str]:
    """The Flask app on a real loopback HTTP server in a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
