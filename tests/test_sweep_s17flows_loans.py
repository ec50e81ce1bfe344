"""Sweep "a curator's less common flows": frozen samples and extensions past the limit.

A step refused because a sample is frozen said "resolve it first" without naming the incident
or the command that resolves it; an extension past the agreement's number said "1
extension(s)".
"""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import demo_copy, fingerprint

CURATOR = "curator@naoc.example"
NOW = "2026-04-28T10:00:00Z"
LOAN = "L-2025-UoC"  # received, due 2026-10-25 08:00 UTC
HELD = "CE5C0000YJYX052"  # held on it
VAULT = "CE5C0000YJYX070"  # in the vault


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


def refused(db: Path, *args: str) -> str:
    """Run a command that must be refused as a rule: exit 1, one line, nothing written."""
    before = fingerprint(db)
    code, out, err = invoke(db, *args)
    assert code == 1, (out, err)
    assert err.startswith("Error: ") and err.count("\n") == 1, err
    assert fingerprint(db) == before
    return err


@pytest.mark.parametrize(
    "step",
    [
        ("samples", "split", VAULT, "--child", "-01=1mg"),
        ("samples", "transfer", VAULT, "--to", "MNHN", "--reference", "gift"),
        ("loans", "request", "L-2026-X", "--agreement", "AG-2025-OU",
         "--pi", "anand@open.example", "--sample", VAULT),
        ("loans", "consume", LOAN, "--sample", HELD, "--technique", "SIMS", "--mass", "1mg",
         "--destructive"),
        ("loans", "return", LOAN, "--container", "c", "--seal", "R-9", "--sample", HELD,
         "--released-by", "Carsten Münker"),
    ],
    ids=["split", "transfer", "request", "consume", "return"],
)  # fmt: skip
def test_a_frozen_sample_names_its_incident_and_the_command_that_resolves_it(
    ledger: Path, step: tuple[str, ...]
) -> None:
    """Typed as printed, the command in the refusal resolves the incident; then the step
    goes through."""
    code = VAULT if VAULT in step else HELD
    out = ok(ledger, "incidents", "report", "--sample", code, "--kind", "damage",
             "--description", "cracked")  # fmt: skip
    seq = out.split("Incident ")[1].split()[0]
    err = refused(ledger, *step)
    hint = f"'incidents resolve {seq} --resolution …'"
    assert f"open incident {seq}" in err and hint in err, err
    ok(ledger, "incidents", "resolve", seq, "--resolution", "checked: intact")
    ok(ledger, *step)


def test_settling_with_an_open_incident_names_the_command(ledger: Path) -> None:
    """The settle refusal gives the same command."""
    ok(ledger, "loans", "consume", LOAN, "--sample", HELD, "--technique", "SIMS",
       "--mass", "30.2mg", "--destructive")  # fmt: skip
    ok(ledger, "incidents", "report", "--sample", "CE5C0800YJFM00102-01", "--kind", "loss",
       "--description", "spilt", "--mass-lost", "800mg")  # fmt: skip
    err = refused(ledger, "loans", "settle", LOAN, "--obligations", "papers")
    assert "'incidents resolve " in err and " --resolution …'" in err


def test_past_the_agreements_extensions_the_refusal_counts_in_words(ledger: Path) -> None:
    """The demo's UoC loan has used its one extension: the line says so without '(s)'."""
    err = refused(
        ledger, "loans", "extend", LOAN, "--period", "1 month", "--approver", CURATOR,
        "--reason", "beam time",
    )  # fmt: skip
    assert err == (
        f"Error: loan {LOAN} has used 1 of the 1 extension agreement AG-2025-UoC allows\n"
    )
    assert "(s)" not in err
