"""A one-round smoke run of `python -m bench.asof_cpu` on the demo ledger (as both ledgers)."""

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import demo_in_a_process


def test_asof_cpu_prints_each_command_big_against_demo(tmp_path: Path) -> None:
    ledger = demo_in_a_process(tmp_path / "demo")
    result = subprocess.run(
        [sys.executable, "-m", "bench.asof_cpu", "--big", str(ledger), "--demo", str(ledger),
         "--big-loan", "L-2025-UoC", "--big-now", "2026-04-28T09:00:00Z",
         "--work", str(tmp_path / "work"), "--runs", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parent.parent,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("custody history --as-of", "report custody --as-of", "verify-document (as of)"):
        ratio = r"big / demo CPU: ratio [0-9.]+ \(goal ≤ 1.1\) .* peak on big \d+ MB"
        line = rf"^{re.escape(name)} {ratio}"
        assert re.search(line, result.stdout, re.M), result.stdout
    assert (tmp_path / "work" / "as-of-big.pdf").read_bytes().startswith(b"%PDF")
