"""Issue 13, point 2: lists stream in bounded memory.

Memory is checked on a child process's peak RSS: ten times the rows must not cost more memory.
The rest of the lists' tests, and the `large` ledgers used here, are `tests/test_i13_lists.py`'s;
these few child processes of 5,000 and 50,000 rows cost as much as all of those together, so
they live in a file of their own that the suite's workers (`--dist loadfile`) run beside it.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_i13_lists import (  # noqa: F401  (`large`, `demo_db`: pytest fixtures by name)
    CURATOR,
    NOW,
    ROOT,
    demo_db,
    large,
)


def peak_rss_mb(db_path: Path, args: list[str]) -> float:
    """Peak RSS (MB) of a fresh process that runs one command, its stdout thrown away."""
    from bench.__main__ import PEAK_MB  # the child's own high-water mark, not ru_maxrss

    probe = (
        "import resource, sys\nfrom sampleloans.cli import main\n"
        + PEAK_MB
        + f"sys.argv = ['sampleloans', *{args!r}]\n"
        "try:\n    main()\nexcept SystemExit as done:\n    assert not done.code, done.code\n"
        "print(peak_mb(), file=sys.stderr)\n"
    )
    env = {**os.environ, "SAMPLELOANS_DB": str(db_path), "SAMPLELOANS_USER": CURATOR,
           "SAMPLELOANS_NOW": NOW}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", probe],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
        check=True,
    )
    return float(done.stderr.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "args",
    [["samples", "list", "--jsonl"], ["samples", "list", "--json"], ["samples", "list"]],
    ids=" ".join,
)
def test_memory_does_not_grow_with_the_rows(
    large: dict[int, Path],  # noqa: F811
    args: list[str],
) -> None:
    small = peak_rss_mb(large[5_000], args)
    big = peak_rss_mb(large[50_000], args)
    assert big / small <= 1.3, f"{args}: {small:.0f} MB at 5k samples, {big:.0f} MB at 50k"
