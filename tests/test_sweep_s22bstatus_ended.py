"""One read model of a loan's end across `status`, `loans show` and `balance` (sweep s22b).

Found: a loan returned and closed still said "due 2026-…" in `status` (a date that no longer
binds); a withdrawn loan was just "closed" in `status`, and `loans show` said "withdrawn before
issue" without the recorded reason; `status --json` items lacked the `source` (and the mass
terms) that `loans show --json` and `balance --json` items have; and a requested, never issued
item's source read "issued".
"""

import json

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from sampleloans.services import loans
from tests.conftest import CURATOR, Run
from tests.factories import approved_loan, returned_loan, signed_agreement

pytestmark = pytest.mark.usefixtures("cli_env")

REASON = "declined: sample class not available"


def ok(runner: CliRunner, *args: str) -> str:
    """Run the CLI as the curator; it must succeed without a traceback; its stdout."""
    result = runner.invoke(app, ["--as", CURATOR, *args])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result.stdout


def _status_lines(runner: CliRunner) -> list[str]:
    return ok(runner, "status", "--loan", "L-1").splitlines()


def test_a_returned_loan_says_when_it_came_back_not_a_due_date(runner: CliRunner, run: Run) -> None:
    signed_agreement(run, "OU")
    returned_loan(run)
    line = _status_lines(runner)[1]
    assert "due" not in line, line
    assert line.startswith("  held 0 µg; returned 20"), line
    assert line.endswith(" UTC"), line


def test_a_closed_loan_says_returned_settled_and_closed(runner: CliRunner, run: Run) -> None:
    signed_agreement(run, "OU")
    returned_loan(run)
    ok(runner, "loans", "settle", "L-1", "--obligations", "report received")
    ok(runner, "loans", "close", "L-1")
    lines = _status_lines(runner)
    assert lines[0].endswith(": closed"), lines
    assert "due" not in lines[1], lines
    assert "; returned " in lines[1] and "; settled " in lines[1], lines
    assert "; closed " in lines[1], lines
    standing = json.loads(ok(runner, "status", "--loan", "L-1", "--json"))["loans"][0]
    # the due date stays in the JSON (it is a fact); the end is there beside it
    assert standing["due_at"] is not None
    assert standing["returned_at"] and standing["settled_at"] and standing["closed_at"]
    shown = json.loads(ok(runner, "loans", "show", "L-1", "--json"))
    assert shown["returned_at"] == standing["returned_at"]
    assert "returned " in ok(runner, "loans", "show", "L-1")


def test_a_withdrawn_loan_says_withdrawn_and_why_everywhere(runner: CliRunner, run: Run) -> None:
    signed_agreement(run, "OU")
    approved_loan(run)
    run(loans.withdraw_loan, number="L-1", reason=REASON)
    lines = _status_lines(runner)
    assert lines[0].endswith(": withdrawn"), lines
    assert lines[1].startswith("  nothing issued; withdrawn 20"), lines
    assert lines[1].endswith(f": {REASON}"), lines
    shown = ok(runner, "loans", "show", "L-1")
    assert f"(withdrawn before issue: {REASON})" in shown
    assert "closed (withdrawn)" in shown
    for args in (("status", "--loan", "L-1", "--json"), ("loans", "show", "L-1", "--json")):
        data = json.loads(ok(runner, *args))
        view = data["loans"][0] if "loans" in data else data
        assert view["withdrawn_reason"] == REASON


def test_a_requested_item_is_requested_not_issued(runner: CliRunner, run: Run) -> None:
    signed_agreement(run, "OU")
    approved_loan(run)
    table = ok(runner, "loans", "show", "L-1")
    row = next(line for line in table.splitlines() if "CE5C0200YJFM00112" in line)
    assert "requested" in row and "issued" not in row, row
    shown = json.loads(ok(runner, "loans", "show", "L-1", "--json"))
    standing = json.loads(ok(runner, "status", "--loan", "L-1", "--json"))["loans"][0]
    balance = json.loads(ok(runner, "balance", "--loan", "L-1", "--json"))
    sources = {
        "loans show": [i["source"] for i in shown["items"]],
        "status": [i["source"] for i in standing["items"]],
        "balance": [r["source"] for r in balance["item_balance"]["rows"]],
    }
    assert sources == {key: ["requested"] for key in sources}, sources


def test_an_item_has_one_shape_in_status_loans_show_and_balance(
    runner: CliRunner, run: Run
) -> None:
    signed_agreement(run, "OU")
    returned_loan(run)
    shown = json.loads(ok(runner, "loans", "show", "L-1", "--json"))["items"][0]
    standing = json.loads(ok(runner, "status", "--loan", "L-1", "--json"))["loans"][0]
    balance = json.loads(ok(runner, "balance", "--loan", "L-1", "--json"))
    row = balance["item_balance"]["rows"][0]
    assert standing["items"][0] == shown
    assert {k: v for k, v in row.items() if k != "balanced"} == shown


def test_postgresql_says_the_same_end(demo_url: str) -> None:
    """The same read model on PostgreSQL: a closed loan's end, a withdrawn loan's reason."""
    env = {"SAMPLELOANS_NOW": "2026-12-01T09:00:00Z", "COLUMNS": "200"}

    def pg(*args: str) -> str:
        result = CliRunner().invoke(app, ["--db", demo_url, "--as", CURATOR, *args], env=env)
        assert result.exit_code == 0, result.output
        return result.stdout

    closed = pg("status", "--loan", "L-2025-IPGP").splitlines()[1]
    assert closed == (
        "  held 0 µg; returned 2025-10-08 10:00 UTC; settled 2025-10-20 10:00 UTC; "
        "closed 2025-10-21 10:00 UTC"
    ), closed
    pg("loans", "withdraw", "L-2025-Brown", "--reason", REASON)
    standing = json.loads(pg("status", "--loan", "L-2025-Brown", "--json"))["loans"][0]
    assert standing["withdrawn_reason"] == REASON
    assert f"(withdrawn before issue: {REASON})" in pg("loans", "show", "L-2025-Brown")
