""" "As of" commands on CPU: the big ledger against the demo's, the runs interleaved (issue 13,
point 1: a typical loan as of a moment costs ≤ 1.1× the same on the demo ledger, ≤ 200 MB).

Usage: python -m bench.asof_cpu --big BIG.db --demo DEMO.db --work DIR [--runs 7] [--tree DIR …]
(`--big-loan`, `--big-now`: another ledger as the big one, e.g. the demo's in the smoke test)

Each round runs, on each ledger and each tree (`--tree`: a checkout put first on
`PYTHONPATH`, so that old and new code share the same rounds), `custody history --as-of`,
`report custody --as-of` and `verify-document` of such a report, each in a fresh process, and
takes its user + system CPU and its peak RSS (the child's own VmHWM). The moment is the date of
the loan's middle event, as `python -m bench` takes it. Nothing is written to either ledger:
the reports go to `--work`, and `verify-document` of an "as of" report rebuilds it whatever the
ledger's head.
"""

import argparse
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
from pathlib import Path

GOAL = 1.1
PEAK_GOAL_MB = 200
BIG_LOAN, BIG_NOW = "L-000002", "2025-06-01T09:00:00+00:00"  # bench/generate.py
DEMO_LOAN, DEMO_NOW = "L-2025-UoC", "2026-04-28T09:00:00Z"  # sampleloans/demo.py
PEAK = (
    "\ndef _peak() -> None:\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmHWM:'):\n"
    "            print('peak_kb', line.split()[1], file=sys.stderr)\n"
)


def mid_loan_moment(path: Path, loan: str) -> str:
    """The date of the middle event of a loan (read only)."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        dates = [
            r[0]
            for r in con.execute(
                "SELECT e.occurred_at FROM event_subject s JOIN ledger_event e ON e.seq = s.seq "
                "WHERE s.subject_type = 'loan' AND s.subject_key = ? ORDER BY s.seq",
                (loan,),
            )
        ]
    finally:
        con.close()
    return dates[len(dates) // 2]


def entry(args: list[str]) -> str:
    """The console script's entry point run with `args`, printing its peak RSS at exit."""
    argv = ["sampleloans", *args]
    return (
        f"import sys{PEAK}sys.argv = {argv!r}\nfrom sampleloans.cli import main\n"
        "try:\n    main()\nfinally:\n    _peak()\n"
    )


def run(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """CPU seconds (user + system) and peak RSS in MB of one fresh process of the command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        # -P: the working directory is not put first on sys.path, so that `--tree`'s
        # PYTHONPATH decides which code runs even from a checkout's root
        [sys.executable, "-P", "-c", entry(args)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {done.returncode}: {done.stderr[-500:]}")
    peak_kb = next(int(line.split()[1]) for line in done.stderr.splitlines() if "peak_kb" in line)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return cpu, peak_kb / 1024


def commands(loan: str, moment: str, pdf: Path) -> dict[str, list[str]]:
    """The "as of" commands on one loan; `pdf` is the report that `verify-document` checks."""
    report = ["report", "custody", "--loan", loan, "--as-of", moment]
    return {
        "custody history --as-of": ["custody", "history", "--loan", loan, "--as-of", moment],
        "report custody --as-of": [*report, "--out", str(pdf) + ".new"],
        "verify-document (as of)": ["verify-document", str(pdf)],
    }


def measure(
    ledgers: dict[str, tuple[Path, str, str]], work: Path, trees: list[Path | None], runs: int
) -> dict[tuple[str, str, str], list[tuple[float, float]]]:
    """(command, ledger, tree) → (CPU seconds, peak MB) per round, every run interleaved;
    `ledgers`: name → (path, loan, clock)."""
    base = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    plans = {}
    for name, (path, loan, now) in ledgers.items():
        env = {**base, "SAMPLELOANS_DB": str(path), "SAMPLELOANS_NOW": now}
        env["SAMPLELOANS_USER"] = "curator@naoc.example"
        pdf = work / f"as-of-{name}.pdf"
        listed = commands(loan, mid_loan_moment(path, loan), pdf)
        pdf.unlink(missing_ok=True)
        run([*listed["report custody --as-of"][:-1], str(pdf)], env)  # the report to verify
        plans[name] = (env, listed, pdf)
    found: dict[tuple[str, str, str], list[tuple[float, float]]] = {}
    for _ in range(runs):
        for tree in trees:
            label = "" if tree is None else tree.name
            for name, (env, listed, pdf) in plans.items():
                tree_env = env if tree is None else {**env, "PYTHONPATH": str(tree)}
                for command, args in listed.items():
                    Path(str(pdf) + ".new").unlink(missing_ok=True)  # `--out` never overwrites
                    found.setdefault((command, name, label), []).append(run(args, tree_env))
    return found


def main() -> None:
    """Print, per command and tree, the median CPU on each ledger, big / demo, and big's peak."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big", type=Path, required=True)
    parser.add_argument("--demo", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True, help="where the reports are written")
    parser.add_argument("--big-loan", default=BIG_LOAN)
    parser.add_argument("--big-now", default=BIG_NOW)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--tree", type=Path, action="append", default=[])
    options = parser.parse_args()
    options.work.mkdir(parents=True, exist_ok=True)
    trees: list[Path | None] = list(options.tree) or [None]
    ledgers = {
        "big": (options.big, options.big_loan, options.big_now),
        "demo": (options.demo, DEMO_LOAN, DEMO_NOW),
    }
    found = measure(ledgers, options.work, trees, options.runs)
    for tree in trees:
        label = "" if tree is None else tree.name
        for command in commands("", "", Path()):
            big = [cpu for cpu, _ in found[(command, "big", label)]]
            demo = [cpu for cpu, _ in found[(command, "demo", label)]]
            peak = max(mb for _, mb in found[(command, "big", label)])
            ratio = statistics.median(big) / statistics.median(demo)
            print(
                f"{command}{f' ({label})' if label else ''} big / demo CPU: ratio {ratio:.3g} "
                f"(goal ≤ {GOAL}) | big {statistics.median(big) * 1000:.0f} ms, demo "
                f"{statistics.median(demo) * 1000:.0f} ms, median of {options.runs} | peak on "
                f"big {peak:.0f} MB (goal ≤ {PEAK_GOAL_MB})",
                flush=True,
            )


if __name__ == "__main__":
    main()
