"""Sweep s18 (the whole round, as a curator): an extension stays within the agreement's term.

`loans extend` checked the agreement was in force when the extension was granted, its number
and the length of one extension, but not where the new due date fell: under a 13-month
agreement signed on 31 Aug 2025 (in force until 30 Sep 2026), a loan due 28 Feb 2026 was
extended twice by 6 months to 28 Feb 2027, five months after the agreement had ended. The
extension is now refused (exit 1, nothing written) when the new due date is after the end of
the agreement's term; a due date on the last moment of the term is still granted. The import
goes through the same service, so an imported `loan.extended` follows the same rule.
"""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.cli_steps import ok, refused
from tests.conftest import OU_PI

pytestmark = pytest.mark.usefixtures("cli_env", "engine")

CODE = "CE5C0000YJYX070"
EXTEND = ("loans", "extend", "L-1", "--approver", "curator@naoc.example", "--reason", "beam time")


@pytest.fixture(autouse=True)
def later_clock(cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's clock after the issue, before any due date."""
    monkeypatch.setenv("SAMPLELOANS_NOW", "2026-02-20T12:00:00Z")


def issued_under_a_13_month_agreement(runner: CliRunner) -> None:
    """AG-OU signed 31 Aug 2025 12:00 for 13 months (until 30 Sep 2026 12:00), two extensions of
    up to 6 months; L-1 issued the same moment for 6 months: due 28 Feb 2026 12:00."""
    ok(
        runner, "agreements", "add", "AG-OU", "--institution", "OU", "--term", "13 months",
        "--max-mass", "1 g", "--purpose", "research", "--max-loan-period", "6 months",
        "--max-extensions", "2", "--max-extension-period", "P6M", "--at", "2025-08-30",
    )  # fmt: skip
    ok(runner, "agreements", "sign", "AG-OU", "--signed-by", "LESEC", "--at", "2025-08-31T12:00Z")
    request = ("loans", "request", "L-1", "--agreement", "AG-OU", "--pi", OU_PI, "--sample", CODE)
    ok(runner, *request, "--period", "6 months", "--at", "2025-08-31T12:00Z")
    ok(runner, "loans", "approve", "L-1", "--at", "2025-08-31T12:00Z")
    out = ok(runner, "loans", "issue", "L-1", "--at", "2025-08-31T12:00Z")
    assert "due 2026-02-28 12:00 UTC" in out, out  # 31 Aug + 6 months: the end of February


def test_an_extension_past_the_agreement_end_is_refused(runner: CliRunner, db_path: Path) -> None:
    issued_under_a_13_month_agreement(runner)
    out = ok(runner, *EXTEND, "--period", "6 months")
    assert "now due 2026-08-28 12:00 UTC" in out, out
    message = refused(runner, db_path, *EXTEND, "--period", "6 months")
    assert message == (
        "Error: --period: extending loan L-1 by 6 months makes it due 2027-02-28 12:00 UTC, after "
        "agreement AG-OU ends on 2026-09-30 12:00 UTC; grant a --period of at most 33 days, or "
        "record the return\n"
    )


def test_an_extension_to_the_last_moment_of_the_term_is_granted(runner: CliRunner) -> None:
    """28 Feb 12:00 + 7 months = 28 Sep; + 1 month 2 days would pass the end: the bound is the
    term's end itself, in days."""
    issued_under_a_13_month_agreement(runner)
    ok(runner, *EXTEND, "--period", "6 months")  # due 2026-08-28 12:00
    out = ok(runner, *EXTEND, "--period", "33 days")  # due 2026-09-30 12:00: the term's end
    assert "now due 2026-09-30 12:00 UTC" in out, out


def test_a_loan_due_at_the_term_end_gets_no_extension(
    runner: CliRunner, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A loan issued late in the term is due at its end already: no period fits, and the line
    does not suggest a shorter one. (Before s19 the loan was issued due after the term's end;
    an issue may no longer make a loan due after it, so it is issued due at the end itself.)"""
    issued_under_a_13_month_agreement(runner)
    ok(runner, *EXTEND, "--period", "6 months")  # L-1 not overdue: OU may borrow again
    monkeypatch.setenv("SAMPLELOANS_NOW", "2026-04-05T00:00:00Z")
    ok(runner, "samples", "register", "CE5C0000YJYX900", "--mission", "CE-5", "--mass", "2 mg",
       "--origin", "scoop", "--material", "basalt", "--form", "rock fragment", "--purpose",
       "research", "--location", "NAOC N2 cabinet C", "--at", "2026-03-01")  # fmt: skip
    request = ("loans", "request", "L-2", "--agreement", "AG-OU", "--pi", OU_PI)
    ok(runner, *request, "--sample", "CE5C0000YJYX900", "--period", "P6M", "--at", "2026-03-02")
    ok(runner, "loans", "approve", "L-2", "--at", "2026-03-03")
    out = ok(runner, "loans", "issue", "L-2", "--at", "2026-03-30T12:00Z")
    assert "due 2026-09-30 12:00 UTC" in out, out  # the term's end
    args = ("loans", "extend", "L-2", "--approver", "curator@naoc.example", "--reason", "y")
    message = refused(runner, db_path, *args, "--period", "P1D")
    assert message == (
        "Error: --period: extending loan L-2 by 1 day makes it due 2026-10-01 12:00 UTC, after "
        "agreement AG-OU ends on 2026-09-30 12:00 UTC; record the return\n"
    )


def test_the_loan_shows_the_due_date_it_kept(runner: CliRunner, db_path: Path) -> None:
    """After the refusal, the loan is still due where the first extension put it."""
    issued_under_a_13_month_agreement(runner)
    ok(runner, *EXTEND, "--period", "6 months")
    refused(runner, db_path, *EXTEND, "--period", "2 months")
    shown = runner.invoke(app, ["--as", "curator@naoc.example", "loans", "show", "L-1", "--json"])
    assert shown.exit_code == 0, shown.stderr
    loan = json.loads(shown.stdout)
    assert loan["due_at"] == "2026-08-28T12:00:00Z" and loan["extensions_granted"] == 1, loan
