"""Sweep s22, the world's accidents: a Ctrl-C that lands after a write committed.

A Ctrl-C between the commit and the confirmation line said `nothing that was not yet committed
was recorded …: run the command again`; the write was recorded, and the rerun it asked for
recorded it twice (`loans consume`: the same micrograms consumed twice). Now the line says the
write was committed and to check the ledger before running it again. A Ctrl-C before the
commit, or in a command that only builds a new ledger (`demo`, `init`: a killed one leaves
none), still asks for the rerun. `SAMPLELOANS_CRASH_AT=POINT:INT` sends the Ctrl-C exactly there.
"""

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from sampleloans import crashpoints
from sampleloans.interrupts import INTERRUPTED_EXIT, INTERRUPTED_LINE
from tests.conftest import CURATOR, fingerprint

NOW = "2026-05-01T10:00:00Z"
AFTER_COMMIT = (
    "Error: interrupted (Ctrl-C) after it committed: what it recorded is kept, whatever was "
    "printed: check the ledger ('custody history', 'checkpoint list') before running it again"
)
CONSUME = [
    *("loans", "consume", "L-2025-OU", "--sample", "CE5C0300YJFM00307"),
    *("--technique", "EPMA", "--mass", "1mg", "--destructive"),
]
MOVE = ["samples", "move", "CE5C0000YJBP005", "--location", "Shelf 9"]


def cli(ledger: Path, args: list[str], crash_at: str | None) -> "subprocess.CompletedProcess[str]":
    """The real console entry point, interrupted at `crash_at` if given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAMPLELOANS_")}
    env.update(SAMPLELOANS_DB=str(ledger), SAMPLELOANS_USER=CURATOR, SAMPLELOANS_NOW=NOW)
    if crash_at is not None:
        env[crashpoints.ENV_VAR] = crash_at
    return subprocess.run(
        [sys.executable, "-m", "sampleloans", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ledger.parent,
        timeout=300,
    )


def events(ledger: Path) -> int:
    """How many events the ledger holds (raw sqlite3)."""
    with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True) as connection:
        return int(connection.execute("SELECT count(*) FROM ledger_event").fetchone()[0])


@pytest.mark.parametrize("args", [CONSUME, MOVE], ids=["consume", "move"])
def test_a_ctrl_c_after_the_commit_says_it_committed(ledger: Path, args: list[str]) -> None:
    """Before: '… run the command again', and the rerun recorded the write a second time."""
    count = events(ledger)
    done = cli(ledger, args, "after_commit:INT")
    assert done.returncode == INTERRUPTED_EXIT, done.stderr
    assert done.stderr.splitlines() == [AFTER_COMMIT]
    assert events(ledger) == count + 1
    check = cli(ledger, ["verify"], None)
    assert check.returncode == 0 and "verify: OK" in check.stdout, check.stdout


def test_a_ctrl_c_before_the_commit_still_asks_for_the_rerun(ledger: Path) -> None:
    before = fingerprint(ledger)
    done = cli(ledger, CONSUME, "before_commit:INT")
    assert done.returncode == INTERRUPTED_EXIT, done.stderr
    assert done.stderr.splitlines() == [INTERRUPTED_LINE]
    assert fingerprint(ledger) == before


@pytest.mark.parametrize("command", ["demo", "init"])
def test_a_new_ledger_stopped_after_an_inner_commit_is_not_kept_and_says_so(
    tmp_path: Path, command: str
) -> None:
    """The demo and init build in a private place: their commits there are not the user's."""
    target = tmp_path / "new.db"
    args = ["--db", str(target), command]
    if command == "init":
        args += ["--curator-email", "li@naoc.example", "--curator-name", "Li Chen"]
    done = cli(tmp_path / "unused.db", args, "after_commit:INT")
    assert done.returncode == INTERRUPTED_EXIT, done.stderr
    assert done.stderr.splitlines() == [INTERRUPTED_LINE]
    assert not target.exists()
