"""`loans show` of a loan that is over printed its old due date ("due 2026-04-28 08:00 UTC")
as if still due; now its due line says how it ended, in `readmodels.report.loan_end`'s words,
as `loans list` and the documents do ("— (closed 2025-10-21 10:00 UTC)")."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from sampleloans.cli import app
from sampleloans.db import make_engine
from sampleloans.services.loan_views import loan_detail
from tests.conftest import CURATOR, ctx_for, demo_copy

NOW = "2026-05-01T10:00:00Z"
WITHDRAWN_AT = "2026-04-30T10:00:00Z"


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo, with L-2025-Brown (approved, nothing issued) withdrawn."""
    path = demo_copy(tmp_path_factory.mktemp("show-ended") / "demo")
    withdrawn = CliRunner().invoke(
        app,
        ["loans", "withdraw", "L-2025-Brown", "--reason", "PI moved labs"],
        env={
            "SAMPLELOANS_DB": str(path),
            "SAMPLELOANS_USER": CURATOR,
            "SAMPLELOANS_NOW": WITHDRAWN_AT,
        },
    )
    assert withdrawn.exit_code == 0, withdrawn.output
    return path


def _due_line(ledger: Path, number: str) -> str:
    """The `due` line `loans show NUMBER` prints, its spaces squeezed."""
    shown = CliRunner().invoke(
        app,
        ["loans", "show", number],
        env={
            "SAMPLELOANS_DB": str(ledger),
            "SAMPLELOANS_USER": CURATOR,
            "SAMPLELOANS_NOW": NOW,
            "COLUMNS": "120",
            "NO_COLOR": "1",
        },
    )
    assert shown.exit_code == 0, shown.output
    lines = [line.split() for line in shown.stdout.splitlines() if line.startswith("due ")]
    assert len(lines) == 1, shown.stdout
    return " ".join(lines[0])


@pytest.mark.parametrize(
    ("number", "line"),
    [
        ("L-2025-IPGP", "due — (closed 2025-10-21 10:00 UTC)"),
        ("L-2025-Brown", "due — (withdrawn 2026-04-30 10:00 UTC)"),
        ("L-2025-OU", "due 2026-05-05 08:00 UTC (4 days left)"),
        ("L-2025-SBU", "due 1 year after issue"),
    ],
)
def test_loans_show_says_how_a_loan_over_ended(ledger: Path, number: str, line: str) -> None:
    """A closed or withdrawn loan's due line is how it ended; a loan out keeps its date."""
    assert _due_line(ledger, number) == line


def test_loan_detail_knows_how_the_loan_ended(ledger: Path) -> None:
    """Service level: `LoanDetail.ended` is `loan_end` of its milestones; None while out."""
    with Session(make_engine(f"sqlite:///{ledger}")) as session:
        ctx = ctx_for(CURATOR, datetime(2026, 5, 1, 10, tzinfo=UTC))
        closed = loan_detail(session, ctx, "L-2025-IPGP").ended()
        withdrawn = loan_detail(session, ctx, "L-2025-Brown").ended()
        out = loan_detail(session, ctx, "L-2025-OU").ended()
    assert closed is not None and (closed.word, closed.at) == (
        "closed",
        datetime(2025, 10, 21, 10, tzinfo=UTC),
    )
    assert withdrawn is not None and withdrawn.withdrawn
    assert out is None
