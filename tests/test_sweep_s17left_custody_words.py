"""Sweep s17-left: `status` says what is true of a loan issued but not yet shipped, or shipped
and not yet received: the borrower does not hold it yet (before: 'held 20.000 mg' at every
custody state)."""

import json

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from sampleloans.services import loans
from tests.conftest import CURATOR, OU_PI, Run
from tests.factories import issued_loan, signed_agreement

pytestmark = pytest.mark.usefixtures("cli_env")


def _status(*args: str, actor: str = OU_PI) -> str:
    result = CliRunner().invoke(app, ["--as", actor, "status", *args], env={"COLUMNS": "150"})
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result.stdout


def _mass_line(out: str) -> str:
    """The second line of the loan's block: its mass and due date."""
    return out.splitlines()[1].strip()


def test_an_issued_loan_not_yet_shipped_is_not_said_to_be_held(run: Run) -> None:
    signed_agreement(run)
    issued_loan(run)
    line = _mass_line(_status())
    assert line.startswith("20.000 mg issued, not yet shipped; due "), line
    assert "held" not in line
    # a curator reading the same loan sees the same words
    assert _mass_line(_status("--loan", "L-1", actor=CURATOR)) == line


def test_a_shipped_loan_not_yet_received_is_not_said_to_be_held(run: Run) -> None:
    signed_agreement(run)
    issued_loan(run)
    run(loans.ship_loan, number="L-1", container="box", seal_number="S-1")
    line = _mass_line(_status())
    assert line.startswith("20.000 mg shipped, not yet received; due "), line
    # the figures in JSON are unchanged: held_ug is what the borrower is accountable for
    standing = json.loads(_status("--json"))["loans"][0]
    assert standing["held_ug"] == 20_000 and standing["returning_ug"] == 0


def test_a_received_loan_is_held(run: Run) -> None:
    signed_agreement(run)
    issued_loan(run)
    run(loans.ship_loan, number="L-1", container="box", seal_number="S-1")
    run(loans.receive_loan, number="L-1", seal_intact=True, condition="ok")
    assert _mass_line(_status()).startswith("held 20.000 mg; due "), _status()
