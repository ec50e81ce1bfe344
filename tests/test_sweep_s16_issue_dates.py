"""Sweep s16, dates: an issue outside the agreement's term says when the agreement is in force.

Issuing `--at` a moment before the signing, or after the term ran out (the agreement still
"signed": nobody recorded its expiry), said "agreement AG-OU with OU is not in force (signed)":
a signed agreement not in force, with no date to act on. The refusal now names the moment of
the issue and the term, from its signing to its end.
"""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.cli_steps import ok, refused
from tests.conftest import OU_PI

pytestmark = pytest.mark.usefixtures("cli_env", "engine")

CODE = "CE5C0000YJYX070"
REQUEST = ("loans", "request", "L-1", "--agreement", "AG-OU", "--pi", OU_PI, "--sample", CODE)


@pytest.fixture(autouse=True)
def later_clock(cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's clock after every date the tests give with --at."""
    monkeypatch.setenv("SAMPLELOANS_NOW", "2027-01-01T00:00:00Z")


def requested_under_a_one_year_agreement(runner: CliRunner) -> None:
    """AG-OU drafted 1 May 2025, signed 10 May 2025 for 1 year; L-1 requested and approved
    before the signing."""
    ok(
        runner, "agreements", "add", "AG-OU", "--institution", "OU", "--term", "1 year",
        "--max-mass", "1 g", "--purpose", "research", "--max-loan-period", "6 months",
        "--at", "2025-05-01",
    )  # fmt: skip
    ok(runner, *REQUEST, "--at", "2025-05-02")
    ok(runner, "loans", "approve", "L-1", "--at", "2025-05-03")
    ok(runner, "agreements", "sign", "AG-OU", "--signed-by", "LESEC", "--at", "2025-05-10")


def test_an_issue_before_the_signing_names_the_term(runner: CliRunner, db_path: Path) -> None:
    requested_under_a_one_year_agreement(runner)
    message = refused(runner, db_path, "loans", "issue", "L-1", "--at", "2025-05-05T12:00:00+02:00")
    assert message == (
        "Error: agreement AG-OU with OU is not in force on 2025-05-05 10:00 UTC: in force from "
        "2025-05-10 00:00 UTC until 2026-05-10 00:00 UTC; loan L-1 cannot be issued\n"
    )


def test_an_issue_after_the_term_names_the_term(runner: CliRunner, db_path: Path) -> None:
    requested_under_a_one_year_agreement(runner)
    message = refused(runner, db_path, "loans", "issue", "L-1", "--at", "2026-05-10")
    assert "not in force on 2026-05-10 00:00 UTC: in force from 2025-05-10" in message
    assert "until 2026-05-10 00:00 UTC" in message
    # The last moment of the term is still in force, but a 6-month loan issued then would run
    # past the term's end: it is refused for its due date (s19), not for the term
    message = refused(runner, db_path, "loans", "issue", "L-1", "--at", "2026-05-09T23:59:59Z")
    assert "not in force" not in message and "would be due 2026-11-09 23:59 UTC" in message
    # the last moment a 6-month loan can be issued: due at the term's end itself
    out = ok(runner, "loans", "issue", "L-1", "--at", "2025-11-10T00:00:00Z")
    assert "due 2026-05-10 00:00 UTC" in out, out


def test_an_issue_after_an_expiry_names_the_end(runner: CliRunner, db_path: Path) -> None:
    requested_under_a_one_year_agreement(runner)
    ok(runner, "agreements", "expire", "AG-OU", "--reason", "ended early", "--at", "2025-06-01")
    message = refused(runner, db_path, "loans", "issue", "L-1", "--at", "2025-07-01")
    assert message.endswith(
        "not in force on 2025-07-01 00:00 UTC: in force from 2025-05-10 00:00 UTC until "
        "2025-06-01 00:00 UTC (expired); loan L-1 cannot be issued\n"
    )
    message = refused(runner, db_path, "loans", "issue", "L-1", "--at", "2025-05-05")
    assert "not in force on 2025-05-05 00:00 UTC: in force from 2025-05-10" in message


def test_a_recall_due_at_its_own_moment_is_refused(runner: CliRunner, db_path: Path) -> None:
    """A recall must give the borrower a due date after the recall, as its refusal says: the
    recall's own moment (typed with an offset) was accepted, and the loan was due at once."""
    requested_under_a_one_year_agreement(runner)
    ok(runner, "loans", "issue", "L-1", "--at", "2025-05-11")
    at = ["--at", "2025-06-01T00:00:00Z", "--reason", "audit"]
    same_moment = ["--due", "2025-06-01T02:00+02:00"]
    message = refused(runner, db_path, "loans", "recall", "L-1", *same_moment, *at)
    assert message == (
        "Error: --due: 2025-06-01T00:00:00Z is not after the recall (2025-06-01T00:00:00Z); a "
        "recall must give the borrower a due date after the recall: give one from "
        "2025-06-01T00:00:01Z on\n"
    )  # which, typed, is accepted:
    ok(runner, "loans", "recall", "L-1", "--due", "2025-06-01T00:00:01Z", *at)
