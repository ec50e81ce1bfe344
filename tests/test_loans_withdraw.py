"""`loans withdraw`: a loan requested or approved but never issued is closed with its reason.

Before it existed a curator had no way to end a request the PI withdrew or the lender declined:
`loans close` wants a settled loan, so such a loan stayed "requested" or "approved" forever.
"""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from sampleloans.services import loans
from tests.conftest import CURATOR, OU_PI, Run, fingerprint
from tests.factories import approved_loan, issued_loan, signed_agreement
from tests.test_i15_events_export import head_of

S1 = "CE5C0200YJFM00112"

pytestmark = pytest.mark.usefixtures("cli_env")


def cli(runner: CliRunner, *args: str, actor: str = CURATOR) -> tuple[int, str, str]:
    """Invoke the CLI as `actor`: exit code, stdout, stderr."""
    result = runner.invoke(app, ["--as", actor, *args])
    assert "Traceback" not in result.output
    return result.exit_code, result.stdout, result.stderr


def test_an_approved_loan_withdrawn_is_closed_with_its_reason(runner: CliRunner, run: Run) -> None:
    signed_agreement(run, "OU")
    approved_loan(run)
    code, out, err = cli(runner, "loans", "withdraw", "L-1", "--reason", "declined by the board")
    assert code == 0, err
    assert out.startswith("Loan L-1 withdrawn and closed; nothing was issued (event ")
    shown = json.loads(cli(runner, "loans", "show", "L-1", "--json")[1])
    assert shown["status"] == "closed" and shown["issued_at"] is None
    assert [item["custody_state"] for item in shown["items"]] == ["withdrawn"]
    table = cli(runner, "loans", "show", "L-1")[1]
    assert "(withdrawn before issue: declined by the board)" in table
    history = json.loads(cli(runner, "custody", "history", "--loan", "L-1", "--json")[1])
    last = history["events"][-1] if isinstance(history, dict) else history[-1]
    assert last["kind"] == "loan.withdrawn"
    assert last["description"] == "loan L-1 withdrawn before issue: declined by the board"
    # nothing left the vault: the sample is lent on another loan at once
    code, _out, err = cli(
        runner, "loans", "request", "L-2", "--agreement", "AG-OU", "--pi", OU_PI, "--sample", S1
    )
    assert code == 0, err
    assert cli(runner, "verify")[0] == 0


def test_a_requested_loan_can_be_withdrawn_too(run: Run) -> None:
    signed_agreement(run, "OU")
    run(loans.request_loan, number="L-1", agreement="AG-OU", pi=OU_PI, samples=[S1])
    envelope = run(loans.withdraw_loan, number="L-1", reason="the PI withdrew it")
    assert envelope.reason == "the PI withdrew it"


@pytest.mark.parametrize(
    ("args", "actor", "exit_code", "message"),
    [
        (
            ["loans", "withdraw", "L-1", "--reason", " "],
            CURATOR,
            2,
            "Error: --reason: must not be empty; it is required: give a value\n",
        ),
        (
            ["loans", "withdraw", "L-1", "--reason", "mine"],
            OU_PI,
            4,
            None,  # a researcher does not withdraw loans: only a curator does
        ),
        (
            ["loans", "close", "L-1"],
            CURATOR,
            1,
            "Error: loan L-1 is approved; cannot close: a loan never issued is not settled or "
            "closed but withdrawn ('loans withdraw')\n",
        ),
    ],
)
def test_refusals_write_nothing(
    runner: CliRunner,
    run: Run,
    db_path: Path,
    args: list[str],
    actor: str,
    exit_code: int,
    message: str | None,
) -> None:
    signed_agreement(run, "OU")
    approved_loan(run)
    before = fingerprint(db_path)
    code, out, err = cli(runner, *args, actor=actor)
    assert code == exit_code, err
    assert out == "" and err.startswith("Error: ") and err.count("\n") == 1
    if message is not None:
        assert err == message
    assert fingerprint(db_path) == before


def test_an_issued_loan_cannot_be_withdrawn(runner: CliRunner, run: Run, db_path: Path) -> None:
    signed_agreement(run, "OU")
    issued_loan(run)
    before = fingerprint(db_path)
    code, _out, err = cli(runner, "loans", "withdraw", "L-1", "--reason", "changed our mind")
    assert code == 1
    assert err == (
        "Error: loan L-1 is issued; cannot withdraw: only a loan not yet issued can be withdrawn"
        " (once issued, its samples come back through 'loans return' and 'loans accept-return')\n"
    )
    assert fingerprint(db_path) == before


def test_a_withdrawn_loan_takes_no_further_step(runner: CliRunner, run: Run) -> None:
    signed_agreement(run, "OU")
    approved_loan(run)
    run(loans.withdraw_loan, number="L-1", reason="declined")
    for args in (["loans", "issue", "L-1"], ["loans", "withdraw", "L-1", "--reason", "again"]):
        code, _out, err = cli(runner, *args)
        assert code == 1 and err.startswith("Error: loan L-1 was withdrawn (closed, never "), err


def test_a_withdrawal_survives_export_and_restore(
    runner: CliRunner, run: Run, db_path: Path, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    signed_agreement(run, "OU")
    approved_loan(run)
    run(loans.withdraw_loan, number="L-1", reason="declined")
    exported = tmp_path / "events.jsonl"
    assert cli(runner, "export", "--events", str(exported))[0] == 0
    assert '"kind":"loan.withdrawn"' in exported.read_text(encoding="utf-8")
    fresh = tmp_path / "fresh" / "ledger.db"
    fresh.parent.mkdir()
    result = runner.invoke(
        app, ["--db", str(fresh), "--as", CURATOR, "restore", "--events", str(exported)]
    )
    assert result.exit_code == 0, result.stderr
    assert head_of(fresh) == head_of(db_path)
