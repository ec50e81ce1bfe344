"""Full `verify` of one ledger file by several code trees, alternating, against the raw chain
recompute (issue 13 point 5, issue 15 point 3).

`python -m bench.verify_cpu --ledger COPY.db --tree OLD --tree NEW [--runs 2]`: each run
verifies the file once with each tree (a child process with the tree first on its path, in the
tree's folder) and recomputes the chain with sqlite3 + hashlib (`bench.__main__.raw_chain`),
and prints per tree the wall and CPU seconds (the child and every process it waited for: the
chain and the half replay beside), both against the raw chain's, and the peak RSS. `verify`
only reads the file; give it a copy all the same. On a shared machine compare the CPU figures.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.__main__ import raw_chain

VERIFY = (
    "import json, sys\n"
    "from sampleloans import db\n"
    "from sampleloans.services.verify import verify\n"
    "engine = db.open_engine(db.url_for_path(sys.argv[1]))\n"
    "found = verify(engine)\n"
    "print(json.dumps({'ok': found.ok, 'events': found.events, 'file': db.__file__}))\n"
)


def verify_in(tree: Path, ledger: Path) -> dict[str, float | str]:
    """Wall and CPU seconds and peak RSS of a full `verify` of `ledger` by the code of `tree`."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    start = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-c", VERIFY, str(ledger)], cwd=tree, env=env, stdout=subprocess.PIPE
    )
    assert child.stdout is not None
    output = child.stdout.read()
    _pid, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"verify with {tree} failed (status {status})")
    answer = json.loads(output)
    if not answer["ok"] or not str(answer["file"]).startswith(str(tree)):
        raise SystemExit(f"verify with {tree}: {answer}")
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "peak_mb": usage.ru_maxrss / 1024,
        "events": answer["events"],
    }


def main() -> None:
    """Alternate the trees' verify and the raw chain; print each figure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ledger", type=Path, required=True)
    parser.add_argument("--tree", type=Path, action="append", required=True)
    parser.add_argument("--runs", type=int, default=1)
    options = parser.parse_args()
    for run in range(1, options.runs + 1):
        for tree in options.tree:
            start_cpu = time.process_time()
            chain_s = raw_chain(options.ledger)
            chain_cpu = time.process_time() - start_cpu
            found = verify_in(tree.resolve(), options.ledger)
            print(
                f"run {run} {tree}: verify {found['wall']:.1f} s wall, {found['cpu']:.1f} s CPU, "
                f"peak {found['peak_mb']:.0f} MB, {found['events']} events; raw chain "
                f"{chain_s:.2f} s wall, {chain_cpu:.2f} s CPU; verify / raw chain "
                f"{float(found['wall']) / chain_s:.2f}× wall, "
                f"{float(found['cpu']) / chain_cpu:.2f}× CPU",
                flush=True,
            )


if __name__ == "__main__":
    main()
