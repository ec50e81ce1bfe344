"""Smoke run of the benchmark runner at tiny scale: every figure printed with a ratio."""

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import demo_copy

FIGURES = (
    "bulk ingest events/s",
    "--help cold",
    "status cold, big ledger",
    "loans show cold, big ledger",
    "custody history cold, big ledger",
    "loans consume cold, big ledger",
    "verify",
    "overdue",
    "balance (collection)",
    "custody report",
)


def test_bench_tiny_prints_every_figure(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--scale", "tiny", "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,  # a guard against a hang only: ~30 s of CPU, minutes of wall under load
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for name in FIGURES:
        assert re.search(rf"^{re.escape(name)}.*: ratio [0-9.e+-]+ ", result.stdout, re.M), name
    assert "heavy modules loaded by --help: []" in result.stdout
    assert "FULL SCAN" not in result.stdout
    assert "PostgreSQL rows: skipped at --scale tiny" in result.stdout  # the reason is printed


def test_cold_cpu_prints_each_command_against_the_floor(tmp_path: Path) -> None:
    """`python -m bench.cold_cpu` on the demo ledger, one round: a ratio per command."""
    folder = tmp_path / "demo"
    demo_copy(folder)  # the demo is not what is tested: the test process's one, copied
    result = subprocess.run(
        [sys.executable, "-m", "bench.cold_cpu", "--ledger", str(folder / "ledger.db"),
         "--loan", "L-2025-UoC", "--runs", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parent.parent,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("status", "loans show", "custody history"):
        assert re.search(rf"^{name} cold CPU / floor: ratio [0-9.]+ \(goal", result.stdout, re.M)
