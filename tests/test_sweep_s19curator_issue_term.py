"""Sweep s19 (the whole round, as a curator): a loan is issued only within its agreement's term.

Under an agreement signed on 1 Jan 2026 for 5 years (in force until 1 Jan 2031), whose longest
loan was 6 years, a loan requested for 6 years was issued on 2 Jan 2026 and made due on 2 Jan
2032, a year after the agreement had ended; an extension to the same date was already refused
(sweep s18). The issue is now refused too (exit 1, nothing written), naming the due date, the
agreement's end and what to do; a loan due on the last moment of the term is still issued. The
import goes through the same service, so an imported `loan.issued` follows the same rule.
"""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.cli_steps import ok, refused
from tests.conftest import CURATOR, OU_PI, fingerprint

pytestmark = pytest.mark.usefixtures("cli_env", "engine")

CODE = "CE5C0000YJYX070"


@pytest.fixture(autouse=True)
def clock(cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's clock on 2 Jan 2026, the day after the agreement is signed."""
    monkeypatch.setenv("SAMPLELOANS_NOW", "2026-01-02T00:00:00Z")


def approved_for(runner: CliRunner, period: str) -> None:
    """AG-OU signed 1 Jan 2026 for 5 years, loans up to 6 years; L-1 approved for `period`."""
    ok(
        runner, "agreements", "add", "AG-OU", "--institution", "OU", "--term", "5 years",
        "--max-mass", "1 g", "--purpose", "research", "--max-loan-period", "6 years",
        "--at", "2025-12-31",
    )  # fmt: skip
    ok(runner, "agreements", "sign", "AG-OU", "--signed-by", "LESEC", "--at", "2026-01-01")
    request = ("loans", "request", "L-1", "--agreement", "AG-OU", "--pi", OU_PI, "--sample", CODE)
    ok(runner, *request, "--period", period, "--at", "2026-01-01")
    ok(runner, "loans", "approve", "L-1", "--at", "2026-01-01")


def test_an_issue_due_after_the_agreement_ends_is_refused(
    runner: CliRunner, db_path: Path
) -> None:
    approved_for(runner, "6 years")
    message = refused(runner, db_path, "loans", "issue", "L-1", code=1)
    assert message == (
        "Error: loan L-1: issued on 2026-01-02 00:00 UTC for 6 years, it would be due "
        "2032-01-02 00:00 UTC, after agreement AG-OU ends on 2031-01-01 00:00 UTC; withdraw it "
        "and request a shorter --period ('loans withdraw', 'loans request')\n"
    ), message


def test_an_issue_due_on_the_last_moment_of_the_term_is_recorded(runner: CliRunner) -> None:
    approved_for(runner, "5 years")
    out = ok(runner, "loans", "issue", "L-1", "--at", "2026-01-01")
    assert "due 2031-01-01 00:00 UTC" in out, out


def test_an_imported_issue_follows_the_same_rule(
    runner: CliRunner, db_path: Path, tmp_path: Path
) -> None:
    approved_for(runner, "6 years")
    line = {
        "kind": "loan.issued", "occurred_at": "2026-01-02T00:00:00Z", "actor": CURATOR,
        "payload": {"number": "L-1"},
    }  # fmt: skip
    history = tmp_path / "issue.jsonl"
    history.write_text(json.dumps(line) + "\n", encoding="utf-8")
    before = fingerprint(db_path)
    result = runner.invoke(app, ["--as", CURATOR, "import", str(history)])
    assert result.exit_code == 1, result.output
    assert "issue.jsonl line 1: loan L-1: issued on 2026-01-02 00:00 UTC" in result.stderr
    assert "after agreement AG-OU ends on 2031-01-01 00:00 UTC" in result.stderr
    assert fingerprint(db_path) == before
