"""Sweep "domain rules and mass accounting": back-dated entries (`--at`) against an agreement.

A loan is requested under an agreement that exists: a request dated before the agreement was
drafted was accepted, and then every view of the ledger "as of" a date between the two
(`custody history --as-of`, `report … --as-of`) failed to replay it (exit 3). An agreement
that ended cannot end before a loan was issued under it (the issue needed it in force).
"""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.cli_steps import ok, refused
from tests.conftest import OU_PI

pytestmark = pytest.mark.usefixtures("cli_env", "engine")


@pytest.fixture(autouse=True)
def later_clock(cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's clock after every date the tests give with --at."""
    monkeypatch.setenv("SAMPLELOANS_NOW", "2025-09-01T00:00:00Z")


CODE = "CE5C0000YJYX070"  # 4.8 mg in the demo catalogue


def drafted(runner: CliRunner, at: str) -> None:
    """Agreement AG-OU drafted at `at` (the samples were registered on 2025-04-01)."""
    ok(
        runner, "agreements", "add", "AG-OU", "--institution", "OU", "--term", "5 years",
        "--max-mass", "1 g", "--purpose", "research", "--max-loan-period", "12 months",
        "--at", at,
    )  # fmt: skip


REQUEST = ("loans", "request", "L-1", "--agreement", "AG-OU", "--pi", OU_PI, "--sample", CODE)


def test_a_loan_cannot_be_requested_before_its_agreement_was_drafted(
    runner: CliRunner, db_path: Path
) -> None:
    drafted(runner, "2025-05-01T00:00:00Z")
    message = refused(runner, db_path, *REQUEST, "--at", "2025-04-15T00:00:00Z")
    assert "AG-OU" in message and "drafted" in message, message
    ok(runner, *REQUEST, "--at", "2025-05-01T00:00:00Z")  # the same moment is fine
    ok(runner, "custody", "history", "--loan", "L-1", "--as-of", "2025-05-02T00:00:00Z")


def test_an_agreement_cannot_end_before_a_loan_was_issued_under_it(
    runner: CliRunner, db_path: Path
) -> None:
    drafted(runner, "2025-05-01T00:00:00Z")
    ok(runner, "agreements", "sign", "AG-OU", "--signed-by", "LESEC", "--at", "2025-05-02")
    ok(runner, *REQUEST, "--at", "2025-05-03T00:00:00Z")
    ok(runner, "loans", "approve", "L-1", "--at", "2025-05-04T00:00:00Z")
    ok(runner, "loans", "issue", "L-1", "--at", "2025-05-10T00:00:00Z")
    for ending in ("expire", "terminate"):
        message = refused(
            runner, db_path, "agreements", ending, "AG-OU", "--reason", "term over",
            "--at", "2025-05-05T00:00:00Z",
        )  # fmt: skip
        assert "L-1" in message and "2025-05-10" in message, message
    ok(runner, "agreements", "expire", "AG-OU", "--reason", "term over", "--at", "2025-05-11")
    ok(runner, "verify")
