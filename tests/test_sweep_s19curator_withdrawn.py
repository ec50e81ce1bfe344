"""Sweep s19 (the whole round, as a curator): a step asked of a withdrawn loan says it was
withdrawn, not what a finished loan went through.

A withdrawn loan is closed without ever being issued; any later step was refused with the
words written for a loan that went the whole way: `loans issue` said "it has already been
issued", `loans ship` "it has already been shipped", `loans receive` "its shipment has
already been received", `loans settle` "it is already settled", and `loans withdraw` again
"only a loan not yet issued can be withdrawn" — each untrue of a loan whose samples never
left the vault. Each refusal (exit 1, nothing written) now says the loan was withdrawn, and
what to do: request a new loan for its samples. The rule is the ledger's (`require_loan_
transition`), so an imported step is refused in the same words.
"""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.cli_steps import ok, refused, signed_ou_agreement
from tests.conftest import CURATOR, OU_PI, fingerprint

pytestmark = pytest.mark.usefixtures("cli_env", "engine")

CODE = "CE5C0000YJYX070"
WITHDRAWN = "Error: loan L-1 was withdrawn (closed, never issued); cannot "
STAYS = (
    "nothing of it left the vault and it stays closed; for its samples, request a new loan "
    "('loans request')\n"
)


@pytest.fixture
def withdrawn(runner: CliRunner, cli_env: dict[str, str], engine: object) -> None:
    """L-1 requested, approved and withdrawn (declined by the lender)."""
    signed_ou_agreement(runner)
    ok(runner, "loans", "request", "L-1", "--agreement", "AG-OU", "--pi", OU_PI, "--sample", CODE)
    ok(runner, "loans", "approve", "L-1")
    ok(runner, "loans", "withdraw", "L-1", "--reason", "declined by the lender")


@pytest.mark.usefixtures("withdrawn")
@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("approve", "L-1"), f"approve: {STAYS}"),
        (("issue", "L-1"), f"issue: {STAYS}"),
        (("ship", "L-1", "--container", "box", "--seal", "S-1"), f"ship: {STAYS}"),
        (("receive", "L-1", "--seal-intact", "--condition", "ok"), f"receive: {STAYS}"),
        (("return", "L-1", "--container", "box", "--seal", "S-2"),
         f"release it for return: {STAYS}"),
        (("settle", "L-1", "--obligations", "none"),
         "settle: it is already withdrawn and closed\n"),
        (("close", "L-1"), "close: it is already withdrawn and closed\n"),
        (("withdraw", "L-1", "--reason", "again"),
         "withdraw: it is already withdrawn and closed\n"),
    ],
)  # fmt: skip
def test_a_step_of_a_withdrawn_loan_says_it_was_withdrawn(
    runner: CliRunner, db_path: Path, args: tuple[str, ...], words: str
) -> None:
    message = refused(runner, db_path, "loans", *args, code=1)
    assert message == WITHDRAWN + words, message


@pytest.mark.usefixtures("withdrawn")
def test_an_imported_issue_of_a_withdrawn_loan_says_it_was_withdrawn(
    runner: CliRunner, db_path: Path, tmp_path: Path
) -> None:
    line = {"kind": "loan.issued", "actor": CURATOR, "payload": {"number": "L-1"}}
    history = tmp_path / "issue.jsonl"
    history.write_text(json.dumps(line) + "\n", encoding="utf-8")
    before = fingerprint(db_path)
    result = runner.invoke(app, ["--as", CURATOR, "import", str(history)])
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(
        "issue.jsonl line 1: loan L-1 was withdrawn (closed, never issued); cannot issue: "
    ), result.stderr
    assert fingerprint(db_path) == before


def test_a_loan_closed_after_settling_still_says_closed() -> None:
    """The withdrawn words are only for a loan never issued (the ledger's own rule)."""
    from types import SimpleNamespace

    from sampleloans.errors import Conflict
    from sampleloans.ledger.checks import require_loan_transition

    closed = SimpleNamespace(
        number="L-2", status="closed", issued_at="2025-04-01", last_event_at=None
    )
    with pytest.raises(Conflict, match=r"^loan L-2 is closed; cannot issue: it has already been"):
        require_loan_transition(closed, "issue")
