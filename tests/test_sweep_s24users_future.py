"""Sweep s24 "users" (4): a time option in the future exits 1 wherever it is given.

A write's `--at` in the future was refused as a rule (exit 1: time order, README "Exit
codes"), while a read's `--as-of` and a report's or statement's `--generated-at` in the future
exited 2 (invalid input), though each moment was read fine: only its order with now is wrong.
Every time option now refuses a moment in the future the same way: exit 1, one line naming the
option, the moment in UTC and now; nothing written, no file.
"""

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import CURATOR, GOLDEN, OU_PI, fingerprint

NOW = "2026-05-02T00:00:00Z"
AHEAD = "2026-05-02T12:00:00+02:00"  # ten hours ahead, typed with an offset
AHEAD_UTC = "2026-05-02T10:00:00Z"


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    """A copy of a small ledger with a signed checkpoint (OU's loan L-1)."""
    return Path(shutil.copy(GOLDEN / "ledger-statement-big-mass-layout10.db", tmp_path / "l.db"))


@pytest.mark.parametrize(
    ("actor", "args", "option"),
    [
        (OU_PI, ["custody", "history", "--loan", "L-1", "--as-of", AHEAD], "--as-of"),
        (CURATOR, ["report", "custody", "--loan", "L-1", "--as-of", AHEAD, "--out", "{o}"],
         "--as-of"),
        (CURATOR, ["report", "return", "--loan", "L-1", "--generated-at", AHEAD, "--out", "{o}"],
         "--generated-at"),
        (OU_PI, ["report", "statement", "--pi", OU_PI, "--generated-at", AHEAD, "--out", "{d}"],
         "--generated-at"),
        (OU_PI, ["loans", "consume", "L-1", "--sample", "CE5C0000YJYX091", "--technique", "SIMS",
                 "--mass", "1 mg", "--non-destructive", "--at", AHEAD], "--at"),
    ],
)  # fmt: skip
def test_every_time_option_refuses_the_future_with_exit_1(
    ledger: Path, tmp_path: Path, actor: str, args: list[str], option: str
) -> None:
    out, folder = tmp_path / "r.pdf", tmp_path / "st"
    typed = [a.format(o=out, d=folder) for a in args]
    env = {"SAMPLELOANS_DB": str(ledger), "SAMPLELOANS_NOW": NOW}
    before = fingerprint(ledger)
    result = CliRunner().invoke(app, ["--as", actor, *typed], env=env)
    assert result.exit_code == 1, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"Error: {option}: {AHEAD_UTC} is in the future (now is {NOW}); ")
    assert not out.exists() and not folder.exists()
    assert fingerprint(ledger) == before


def test_init_at_in_the_future_exits_1_and_makes_no_ledger(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    env = {"SAMPLELOANS_DB": str(db), "SAMPLELOANS_NOW": NOW}
    result = CliRunner().invoke(
        app, ["init", "--curator-email", CURATOR, "--curator-name", "Li Na", "--at", AHEAD],
        env=env,
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"Error: --at: {AHEAD_UTC} is in the future")
    assert not db.exists()
