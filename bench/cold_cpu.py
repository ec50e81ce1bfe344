"""Cold read commands on CPU: a fresh process's user + system time against the import floor,
the runs interleaved (issue 12's cold rows, measured so that the machine's drift cancels).

Usage: python -m bench.cold_cpu --ledger BIG.db --loan L-000002 [--runs 11] [--tree DIR …]

The wall-clock rows of `python -m bench` time the floor (`import typer, rich.table, sqlmodel`
in a fresh interpreter) once, then each command: on a shared 2-core machine a single floor
measurement swings by a third between runs. Here every round runs the floor and each command
once, in turn, and the medians of their CPU times are compared. With several `--tree`
checkouts (old and new code), each command runs once per tree per round, through
`PYTHONPATH`, so an old / new comparison shares the same rounds.
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path

FLOOR = "import typer, rich.table, sqlmodel"
CURATOR = "curator@naoc.example"
NOW = "2025-06-01T09:00:00+00:00"  # the bench ledger's clock (bench/generate.py)
GOAL = 1.25


def commands(loan: str) -> dict[str, list[str]]:
    """The cold read commands of the bench's cold rows, on one loan."""
    return {
        "status": ["status", "--loan", loan],
        "loans show": ["loans", "show", loan],
        "custody history": ["custody", "history", "--loan", loan],
    }


def cpu_seconds(code: str, env: dict[str, str]) -> float:
    """User + system CPU of `python -P -c code` in a fresh process (-P: the working directory
    is not put first on the path, so that `--tree`'s PYTHONPATH decides which code runs)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    command = [sys.executable, "-P", "-c", code]
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def entry(args: list[str]) -> str:
    """The console script's own entry point, run with `args`."""
    argv = ["sampleloans", *args]
    return f"import sys; sys.argv = {argv!r}; from sampleloans.cli import main; main()"


def measure(ledger: Path, loan: str, trees: list[Path | None], runs: int) -> dict[str, list[float]]:
    """CPU seconds per run of the floor and of each command on each tree, interleaved."""
    base = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    base.update(SAMPLELOANS_DB=str(ledger), SAMPLELOANS_USER=CURATOR, SAMPLELOANS_NOW=NOW)
    found: dict[str, list[float]] = {"floor": []}
    for _ in range(runs):
        found["floor"].append(cpu_seconds(FLOOR, base))
        for tree in trees:
            env = base if tree is None else {**base, "PYTHONPATH": str(tree)}
            for name, args in commands(loan).items():
                label = name if tree is None else f"{name} ({tree.name})"
                found.setdefault(label, []).append(cpu_seconds(entry(args), env))
    return found


def main() -> None:
    """Print each command's median CPU, its ratio to the floor's, and the goal."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ledger", type=Path, required=True)
    parser.add_argument("--loan", default="L-000002")
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--tree", type=Path, action="append", default=[])
    options = parser.parse_args()
    trees: list[Path | None] = list(options.tree) or [None]
    found = measure(options.ledger, options.loan, trees, options.runs)
    floor = statistics.median(found.pop("floor"))
    print(f"floor ({FLOOR}): {floor * 1000:.0f} ms CPU, median of {options.runs}")
    for label, seconds in found.items():
        median = statistics.median(seconds)
        ratio = median / floor
        print(
            f"{label} cold CPU / floor: ratio {ratio:.3g} (goal ≤ {GOAL}) | "
            f"ours {median * 1000:.0f} ms | floor {floor * 1000:.0f} ms",
            flush=True,
        )


if __name__ == "__main__":
    main()
