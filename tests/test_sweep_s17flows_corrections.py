"""Sweep "a curator's less common flows": a correction of a correction.

`custody correct N --mass` on a mass correction said the event "records no mass" (it records
two) and pointed at `--text`; the way to change a corrected mass again is to correct the
original event, which the refusal now names as a command that works when typed.
"""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import demo_copy, fingerprint

CURATOR = "curator@naoc.example"
NOW = "2026-04-28T10:00:00Z"
LOAN = "L-2025-UoC"
HELD = "CE5C0000YJYX052"  # 30.200 mg held on it


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    """A fresh demo ledger."""
    demo_copy(tmp_path / "demo")
    return tmp_path / "demo" / "ledger.db"


def invoke(db: Path, *args: str) -> tuple[int, str, str]:
    """The CLI as the curator: exit code, stdout, stderr."""
    env = {"SAMPLELOANS_USER": CURATOR, "SAMPLELOANS_NOW": NOW, "COLUMNS": "200", "NO_COLOR": "1"}
    result = CliRunner().invoke(app, ["--db", str(db), *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def ok(db: Path, *args: str) -> str:
    """Run a command that must succeed; its output."""
    code, out, err = invoke(db, *args)
    assert code == 0, (args, out, err)
    return out


def event_number(out: str) -> str:
    """The event number a write command printed last: '… (event 123).'."""
    return out.rsplit("event ", 1)[1].split(")")[0].split(";")[0].strip(".\n")


def test_correcting_a_mass_correction_names_the_command_that_does_it(ledger: Path) -> None:
    """Exit 2, one line naming the original event; the command it gives, typed, records the
    new mass, and balance, loans show and custody history agree on it."""
    consume = ("loans", "consume", LOAN, "--sample", HELD, "--technique", "SIMS", "--mass", "1mg")
    consumed = event_number(ok(ledger, *consume, "--destructive"))
    first = event_number(
        ok(ledger, "custody", "correct", consumed, "--mass", "2mg", "--reason", "scale")
    )
    before = fingerprint(ledger)
    code, out, err = invoke(ledger, "custody", "correct", first, "--mass", "3mg", "--reason", "x")
    assert code == 2 and err.startswith("Error: ") and err.count("\n") == 1, (out, err)
    assert "records no mass" not in err
    assert f"'custody correct {consumed} --mass … --reason …'" in err
    assert fingerprint(ledger) == before
    ok(ledger, "custody", "correct", consumed, "--mass", "3mg", "--reason", "again")
    balance = ok(ledger, "balance", "--loan", LOAN)
    assert "8.000 mg" in balance  # 5 mg from the demo + 3 mg now
    shown = ok(ledger, "loans", "show", LOAN)
    assert "27.200 mg" in shown  # 30.200 mg − 3 mg
    history = ok(ledger, "custody", "history", "--loan", LOAN)
    assert "2.000 mg → 3.000 mg" in history
    ok(ledger, "verify")
