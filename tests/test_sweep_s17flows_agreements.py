"""Sweep "a curator's less common flows": an agreement through its whole life.

An agreement ended (expired or terminated) while still pending was never in force: issuing a
loan under it printed a Python traceback (an assertion that only a signed agreement reaches
that message). And a new loan could be requested under an agreement that had already ended,
so the request waited for an issue that could never come.
"""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import demo_copy, fingerprint

CURATOR = "curator@naoc.example"
NOW = "2026-04-28T10:00:00Z"


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    """A fresh demo ledger (its Brown and SBU agreements are pending, their loans approved)."""
    demo_copy(tmp_path / "demo")
    return tmp_path / "demo" / "ledger.db"


def invoke(db: Path, *args: str, now: str = NOW) -> tuple[int, str, str]:
    """The CLI as the curator: exit code, stdout, stderr."""
    env = {"SAMPLELOANS_USER": CURATOR, "SAMPLELOANS_NOW": now, "COLUMNS": "200", "NO_COLOR": "1"}
    result = CliRunner().invoke(app, ["--db", str(db), *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def refused(db: Path, *args: str) -> str:
    """Run a command that must be refused as a rule: exit 1, one line, nothing written."""
    before = fingerprint(db)
    code, out, err = invoke(db, *args)
    assert code == 1, (out, err)
    assert err.startswith("Error: ") and err.count("\n") == 1, err
    assert "Traceback" not in out + err
    assert fingerprint(db) == before
    return err


@pytest.mark.parametrize("end", ["expire", "terminate"])
def test_issuing_under_an_agreement_ended_before_it_was_signed_is_one_line(
    ledger: Path, end: str
) -> None:
    """No traceback: the line says the agreement was never signed and how it ended."""
    code, _out, err = invoke(ledger, "agreements", end, "AG-2025-Brown", "--reason", "withdrawn")
    assert code == 0, err
    err = refused(ledger, "loans", "issue", "L-2025-Brown")
    assert "AG-2025-Brown" in err and "never signed" in err and "L-2025-Brown" in err
    assert ("expired" if end == "expire" else "terminated") in err


@pytest.mark.parametrize("agreement", ["AG-2025-OU", "AG-2025-SBU"], ids=["signed", "pending"])
def test_no_loan_is_requested_under_an_agreement_that_has_ended(
    ledger: Path, agreement: str
) -> None:
    """A request after the agreement ended is refused, naming it and when it ended."""
    code, _out, err = invoke(ledger, "agreements", "terminate", agreement, "--reason", "breach")
    assert code == 0, err
    pi = "anand@open.example" if agreement == "AG-2025-OU" else "glotch@stonybrook.example"
    err = refused(
        ledger,
        "loans", "request", "L-2026-NEW", "--agreement", agreement, "--pi", pi,
        "--sample", "CE5C0000YJYX070",
    )  # fmt: skip
    assert agreement in err and "terminated" in err and "2026-04-28 10:00 UTC" in err


def test_a_request_dated_before_the_agreement_ended_is_still_recorded(ledger: Path) -> None:
    """The rule looks at the request's own date: one entered after the fact, from before the
    end, is recorded."""
    code, _out, err = invoke(ledger, "agreements", "terminate", "AG-2025-OU", "--reason", "breach")
    assert code == 0, err
    code, out, err = invoke(
        ledger,
        "loans", "request", "L-2026-OLD", "--agreement", "AG-2025-OU",
        "--pi", "anand@open.example", "--sample", "CE5C0000YJYX070",
        "--at", "2026-04-20T10:00:00Z",
    )  # fmt: skip
    assert code == 0, (out, err)
    assert "L-2026-OLD requested" in out


@pytest.mark.parametrize("end", ["expire", "terminate"])
def test_a_loan_under_an_ended_agreement_is_not_extended(ledger: Path, end: str) -> None:
    """Its loan stays tracked and due as it was; an extension under the ended terms is
    refused, naming the agreement, when it ended and what to do."""
    code, _out, err = invoke(ledger, "agreements", end, "AG-2025-OU", "--reason", "breach")
    assert code == 0, err
    err = refused(
        ledger,
        "loans", "extend", "L-2025-OU", "--period", "6 months",
        "--approver", CURATOR, "--reason", "beam time",
    )  # fmt: skip
    assert "AG-2025-OU" in err and "not in force" in err and "L-2025-OU" in err
    assert "until 2026-04-28 10:00 UTC" in err and "'loans recall'" in err
    code, shown, err = invoke(ledger, "loans", "show", "L-2025-OU")
    assert code == 0 and "2026-05-05 08:00 UTC" in shown, err


def test_an_extension_entered_after_the_fact_from_before_the_end_is_recorded(
    ledger: Path,
) -> None:
    """The rule judges the extension at its own date (`--at`), when the agreement was in
    force."""
    code, out, err = invoke(
        ledger,
        "loans", "extend", "L-2025-OU", "--period", "6 months",
        "--approver", CURATOR, "--reason", "beam time", "--at", "2026-04-27T10:00:00Z",
    )  # fmt: skip
    assert code == 0, (out, err)
    code, _out, err = invoke(ledger, "agreements", "terminate", "AG-2025-OU", "--reason", "x")
    assert code == 0, err
