"""The CI-sized soak: one minute of mixed traffic with worker SIGKILLs, then every invariant."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_one_minute_soak_keeps_every_invariant():
    result = subprocess.run(
        [sys.executable, "-m", "bench.soak", "--seconds", "60", "--kill-every", "20"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = result.stdout + result.stderr[-3000:]
    assert result.returncode == 0, report
    invariants = report.split("invariant", 1)[1].splitlines()[1:]
    assert len(invariants) == 6 and all(" ok " in line for line in invariants), report
    assert (
        "worker SIGKILLs" in report and "unexpected answers (error rate)              0 " in report
    )
