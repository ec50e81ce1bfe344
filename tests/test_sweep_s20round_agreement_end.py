"""Sweep s20-round: an agreement cannot end before a loan was requested, approved or extended
under it, not only issued.

A curator recorded, after the fact, that AG-OU had expired on 15 May 2025 (`agreements expire
--at 2025-05-15`); the ledger already held an extension of L-1 granted under it on 2 June, which
needs the agreement in force. The end was accepted, and the ledger then said the extension was
granted under an agreement that had ended; likewise for a request or an approval (each refused
once the agreement has ended). Now the end is refused, exit 1, naming the loan and the act, as
it already was for an issue; `import` follows the same rule (one service).
"""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.cli_steps import ok, refused
from tests.conftest import CURATOR, OU_PI

pytestmark = pytest.mark.usefixtures("cli_env", "engine")

CODE = "CE5C0000YJYX070"  # 4.8 mg in the demo catalogue
REQUEST = ("loans", "request", "L-1", "--agreement", "AG-OU", "--pi", OU_PI, "--sample", CODE)
EXTEND = ("loans", "extend", "L-1", "--period", "1 month", "--approver", CURATOR, "--reason", "x")


@pytest.fixture(autouse=True)
def later_clock(cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's clock after every date the tests give with --at."""
    monkeypatch.setenv("SAMPLELOANS_NOW", "2025-09-01T00:00:00Z")


def drafted(runner: CliRunner) -> None:
    """Agreement AG-OU drafted on 1 May 2025 (the samples were registered on 1 April)."""
    ok(
        runner, "agreements", "add", "AG-OU", "--institution", "OU", "--term", "5 years",
        "--max-mass", "1 g", "--purpose", "research", "--max-loan-period", "6 months",
        "--at", "2025-05-01T00:00:00Z",
    )  # fmt: skip


def test_no_end_before_an_extension_granted_under_it(runner: CliRunner, db_path: Path) -> None:
    """Issued 10 May, extended 2 June: an end on 15 May is refused, on 3 June accepted."""
    drafted(runner)
    ok(runner, "agreements", "sign", "AG-OU", "--signed-by", "LESEC", "--at", "2025-05-02")
    ok(runner, *REQUEST, "--at", "2025-05-03T00:00:00Z")
    ok(runner, "loans", "approve", "L-1", "--at", "2025-05-04T00:00:00Z")
    ok(runner, "loans", "issue", "L-1", "--at", "2025-05-10T00:00:00Z")
    ok(runner, *EXTEND, "--at", "2025-06-02T00:00:00Z")
    for ending in ("expire", "terminate"):
        message = refused(
            runner, db_path, "agreements", ending, "AG-OU", "--reason", "over",
            "--at", "2025-05-15T00:00:00Z",
        )  # fmt: skip
        assert message == (
            "Error: --at: agreement AG-OU cannot end on 2025-05-15T00:00:00Z, before loan L-1 "
            "was extended under it (2025-06-02T00:00:00Z); it had not ended then: give a time "
            "from 2025-06-02T00:00:00Z on\n"
        )
    ok(runner, "agreements", "expire", "AG-OU", "--reason", "over", "--at", "2025-06-03")
    ok(runner, "verify")


def test_no_end_before_a_request_under_a_pending_agreement(
    runner: CliRunner, db_path: Path
) -> None:
    """A request on 3 May under an unsigned agreement: no end dated 2 May."""
    drafted(runner)
    ok(runner, *REQUEST, "--at", "2025-05-03T00:00:00Z")
    message = refused(
        runner, db_path, "agreements", "terminate", "AG-OU", "--reason", "declined",
        "--at", "2025-05-02T00:00:00Z",
    )  # fmt: skip
    assert "before loan L-1 was requested under it (2025-05-03T00:00:00Z)" in message


def test_import_follows_the_same_rule(runner: CliRunner, db_path: Path, tmp_path: Path) -> None:
    """The same end in a history file is refused, and nothing is imported."""
    drafted(runner)
    ok(runner, "agreements", "sign", "AG-OU", "--signed-by", "LESEC", "--at", "2025-05-02")
    ok(runner, *REQUEST, "--at", "2025-05-03T00:00:00Z")
    ok(runner, "loans", "approve", "L-1", "--at", "2025-05-04T00:00:00Z")
    history = tmp_path / "end.jsonl"
    line = {
        "kind": "agreement.ended",
        "occurred_at": "2025-05-03T12:00:00Z",
        "actor": CURATOR,
        "payload": {"number": "AG-OU", "status": "expired"},
        "reason": "over",
        "corrects_seq": None,
    }
    history.write_text(json.dumps(line) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["--as", CURATOR, "import", str(history)])
    assert result.exit_code == 1, result.stdout + result.stderr
    assert "before loan L-1 was approved under it (2025-05-04T00:00:00Z)" in result.stderr
