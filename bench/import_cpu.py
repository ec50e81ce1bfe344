"""The import's CPU per event at several sizes, old and new code interleaved (issue 13 points
3–4), so that the drift of a shared machine's load cancels.

Usage: python -m bench.import_cpu [--events 10000 100000] [--runs 3] [--tree DIR …] [--floor]

Each run imports the bench collection's files at `bench.scaling.shape(N)` (catalogue, then
history, one transaction each, as `python -m bench` does) in a fresh process per tree (code
from `PYTHONPATH`=DIR; without `--tree`, this checkout), and prints the CPU time of that process
spent importing (`time.process_time`: SQLite's work included), per event. `--floor`: the
same-rows raw executemany floor of the first tree, CPU of its replay (`bench.scaling`), once
per size.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import json, sys, time
from pathlib import Path
from bench.scaling import build, shape
work = Path(sys.argv[1])
built = build(work / "ledger.db", shape(int(sys.argv[2])), work)
print(json.dumps({"events": built["events"], "cpu": built["cpu"], "seconds": built["seconds"]}))
"""

FLOOR = """
import json, shutil, sys, time
from pathlib import Path
from bench.scaling import build, replay_writes, shape
work = Path(sys.argv[1])
capture = work / "writes"
built = build(work / "recorded.db", shape(int(sys.argv[2])), work, capture)
before = Path(built["before"])
start = time.process_time()
for fmt in ("csv", "jsonl"):
    replay_writes(before, capture.with_suffix(f".{fmt}"), work)
    shutil.copyfile(work / "same-rows.db", before)
    Path(f"{work / 'same-rows.db'}-wal").unlink(missing_ok=True)
print(json.dumps({"events": built["events"], "floor_cpu": time.process_time() - start}))
"""
"""The floor's CPU includes copying the ledger between the two files (a few ms) and reading
the recorded statements, so it is a little above SQLite's own work: a conservative floor."""


def run_child(code: str, tree: Path | None, events: int) -> dict[str, float]:
    """One child's figures (JSON on its last line), in a fresh scratch folder."""
    # -P below: the working directory must not shadow the tree's code, so the tree (or this
    # checkout) is the path the child imports `sampleloans` and `bench` from
    checkout = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(checkout if tree is None else tree)}
    with tempfile.TemporaryDirectory(prefix="sampleloans-import-cpu-") as work:
        done = subprocess.run(
            [sys.executable, "-P", "-c", code, work, str(events)],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def _label(tree: Path | None) -> str:
    """How a tree is named in the output."""
    return "this checkout" if tree is None else str(tree)


def main(argv: list[str]) -> None:
    """Print CPU µs per event of each tree at each size, interleaved, and their medians."""
    parser = argparse.ArgumentParser(prog="python -m bench.import_cpu")
    parser.add_argument("--events", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tree", type=Path, action="append", default=[])
    parser.add_argument("--floor", action="store_true")
    args = parser.parse_args(argv)
    trees: list[Path | None] = list(args.tree) or [None]
    for events in args.events:
        found: dict[str, list[float]] = {_label(tree): [] for tree in trees}
        for _ in range(args.runs):
            for tree in trees:
                figures = run_child(CHILD, tree, events)
                us = figures["cpu"] / figures["events"] * 1e6
                found[_label(tree)].append(us)
                print(f"{events} events, {_label(tree)}: {us:.1f} CPU µs/event", flush=True)
        for label, values in found.items():
            median = statistics.median(values)
            print(f"{events} events, {label}: median {median:.1f} CPU µs/event", flush=True)
        if args.floor:
            floor = run_child(FLOOR, trees[0], events)
            floor_us = floor["floor_cpu"] / floor["events"] * 1e6
            ratio = floor_us / statistics.median(found[_label(trees[0])])
            print(
                f"{events} events: same-rows floor {floor_us:.1f} CPU µs/event; "
                f"{_label(trees[0])} / floor {ratio:.2f} (goal ≥ 0.5)",
                flush=True,
            )


if __name__ == "__main__":
    main(sys.argv[1:])
