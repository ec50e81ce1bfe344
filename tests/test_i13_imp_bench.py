"""Smoke run of `python -m bench.import_cpu` at a tiny size: a CPU figure per event for the
tree, and the same-rows floor with its ratio (issue 13 points 3–4; no timing is asserted)."""

import re
import subprocess
import sys
from pathlib import Path


def test_import_cpu_prints_each_size_and_the_floor() -> None:
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        [sys.executable, "-m", "bench.import_cpu", "--events", "400", "--runs", "1", "--floor"],
        capture_output=True,
        text=True,
        timeout=300,  # a guard against a hang only: ~5 s idle
        cwd=root,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(
        r"^400 events, this checkout: median [0-9.]+ CPU µs/event$", result.stdout, re.M
    )
    floor = (
        r"^400 events: same-rows floor [0-9.]+ CPU µs/event; this checkout / floor [0-9.]+ \(goal"
    )
    assert re.search(floor, result.stdout, re.M), result.stdout
