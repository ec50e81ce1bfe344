"""Sweep s19 (policy): an issue, like an extension, keeps the loan due within the agreement's term.

`loans extend` refused a new due date after the end of the agreement's term, but `loans issue`
accepted a loan that fell due after that end: under a one-year agreement ending 10 May 2026, a
6-month loan issued on 9 May 2026 was due in November, six months after the terms it was lent
under had ended. The issue is now refused (exit 1, nothing written), naming both dates and what
to do; a loan due on the term's last moment is still issued. `import` goes through the same
service (`issue_loan`), so an imported `loan.issued` follows the same rule.
"""

from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from sampleloans.errors import RuleViolation
from sampleloans.services import loans
from tests.cli_steps import ok, refused
from tests.conftest import CURATOR, OU_PI, Run, fingerprint

pytestmark = pytest.mark.usefixtures("cli_env", "engine")

CODE = "CE5C0000YJYX070"
REQUEST = ("loans", "request", "L-1", "--agreement", "AG-OU", "--pi", OU_PI, "--sample", CODE)


@pytest.fixture(autouse=True)
def later_clock(cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's clock after every date the tests give with --at."""
    monkeypatch.setenv("SAMPLELOANS_NOW", "2027-01-01T00:00:00Z")


def signed_one_year_agreement(runner: CliRunner) -> None:
    """AG-OU signed 10 May 2025 for one year (until 10 May 2026 00:00), loans up to 6 months."""
    ok(
        runner, "agreements", "add", "AG-OU", "--institution", "OU", "--term", "1 year",
        "--max-mass", "1 g", "--purpose", "research", "--max-loan-period", "6 months",
        "--at", "2025-05-01",
    )  # fmt: skip
    ok(runner, "agreements", "sign", "AG-OU", "--signed-by", "LESEC", "--at", "2025-05-10")


def approved_6_month_loan(runner: CliRunner, period: str = "6 months") -> None:
    """Under AG-OU (`signed_one_year_agreement`), L-1 requested and approved in May 2025."""
    signed_one_year_agreement(runner)
    ok(runner, *REQUEST, "--period", period, "--at", "2025-05-12")
    ok(runner, "loans", "approve", "L-1", "--at", "2025-05-13")


def test_an_issue_due_after_the_term_is_refused(runner: CliRunner, db_path: Path) -> None:
    approved_6_month_loan(runner)
    message = refused(runner, db_path, "loans", "issue", "L-1", "--at", "2026-03-01T12:00Z")
    assert message == (
        "Error: loan L-1 issued on 2026-03-01 12:00 UTC for 6 months would be due "
        "2026-09-01 12:00 UTC, after agreement AG-OU ends on 2026-05-10 00:00 UTC; withdraw it "
        "('loans withdraw') and request it again with a --period of at most 69 days, or under "
        "a new agreement ('agreements add')\n"
    )


def test_the_shorter_period_the_refusal_names_is_issued(runner: CliRunner) -> None:
    """The period the line suggests fits: 1 March 12:00 + 69 days = 9 May 12:00."""
    approved_6_month_loan(runner, period="69 days")
    out = ok(runner, "loans", "issue", "L-1", "--at", "2026-03-01T12:00Z")
    assert "due 2026-05-09 12:00 UTC" in out, out


def test_a_loan_due_at_the_term_end_is_issued(runner: CliRunner) -> None:
    approved_6_month_loan(runner)
    out = ok(runner, "loans", "issue", "L-1", "--at", "2025-11-10T00:00Z")
    assert "due 2026-05-10 00:00 UTC" in out, out


def test_less_than_a_day_left_suggests_no_period(runner: CliRunner, db_path: Path) -> None:
    approved_6_month_loan(runner)
    message = refused(runner, db_path, "loans", "issue", "L-1", "--at", "2026-05-09T18:00Z")
    assert message.endswith(
        "withdraw it ('loans withdraw') and request it again under a new agreement "
        "('agreements add')\n"
    ), message
    assert "--period" not in message


def test_the_service_refuses_it_for_import_too(runner: CliRunner, run: Run) -> None:
    """`import` replays `loan.issued` through this service function."""
    approved_6_month_loan(runner)
    with pytest.raises(RuleViolation, match="after agreement AG-OU ends on 2026-05-10"):
        run(loans.issue_loan, number="L-1", occurred_at=datetime(2026, 3, 1, tzinfo=UTC))


def test_a_request_that_could_never_be_issued_is_refused(runner: CliRunner, db_path: Path) -> None:
    """Requested late in the term for the agreement's longest period (the default), even an
    issue at once would fall due after the end: it is refused now, not at the issue."""
    signed_one_year_agreement(runner)

    message = refused(runner, db_path, *REQUEST, "--at", "2026-03-01T12:00Z")
    assert message == (
        "Error: loan L-1 requested on 2026-03-01 12:00 UTC and issued at once for 6 months "
        "would be due 2026-09-01 12:00 UTC, after agreement AG-OU ends on 2026-05-10 00:00 UTC; "
        "request it with a --period of at most 69 days, or under a new agreement "
        "('agreements add')\n"
    )
    ok(runner, *REQUEST, "--period", "69 days", "--at", "2026-03-01T12:00Z")


def test_an_approval_under_an_ended_agreement_is_refused(runner: CliRunner, db_path: Path) -> None:
    """A request under an ended agreement was refused ("it could never be issued"), but the
    approval of one requested before the end was recorded: now refused the same way."""
    approved = ("loans", "approve", "L-1")
    signed_one_year_agreement(runner)

    ok(runner, *REQUEST, "--at", "2025-05-12")
    ok(runner, "agreements", "expire", "AG-OU", "--reason", "ended early", "--at", "2025-06-01")
    message = refused(runner, db_path, *approved, "--at", "2025-06-02")
    assert message == (
        "Error: agreement AG-OU was expired on 2025-06-01 00:00 UTC; loan L-1 cannot be approved "
        "under it (withdraw it ('loans withdraw'); a new agreement is needed: 'agreements add')\n"
    )


def test_an_approval_that_could_never_be_issued_is_refused(
    runner: CliRunner, db_path: Path
) -> None:
    signed_one_year_agreement(runner)

    ok(runner, *REQUEST, "--at", "2025-05-12")
    message = refused(runner, db_path, "loans", "approve", "L-1", "--at", "2026-03-01T12:00Z")
    assert message == (
        "Error: loan L-1 approved on 2026-03-01 12:00 UTC and issued at once for 6 months would "
        "be due 2026-09-01 12:00 UTC, after agreement AG-OU ends on 2026-05-10 00:00 UTC; "
        "withdraw it ('loans withdraw') and request it again with a --period of at most 69 "
        "days, or under a new agreement ('agreements add')\n"
    )
    ok(runner, "loans", "approve", "L-1", "--at", "2025-11-10T00:00Z")  # due at the end at once


def test_an_imported_issue_due_after_the_term_is_refused(
    runner: CliRunner, db_path: Path, tmp_path: Path
) -> None:
    """`import` of a `loan.issued` line goes through the same rule: the line is named, exit 1,
    nothing written."""
    approved_6_month_loan(runner)
    history = tmp_path / "history.jsonl"
    history.write_text(
        '{"kind": "loan.issued", "occurred_at": "2026-03-01T12:00:00Z", '
        f'"actor": "{CURATOR}", "payload": {{"number": "L-1"}}}}\n',
        encoding="utf-8",
    )
    before = fingerprint(db_path)
    result = runner.invoke(app, ["--as", CURATOR, "import", str(history)])
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "history.jsonl line 1: loan L-1 issued on 2026-03-01 12:00 UTC" in result.stderr
    assert "after agreement AG-OU ends on 2026-05-10 00:00 UTC" in result.stderr
    assert fingerprint(db_path) == before
