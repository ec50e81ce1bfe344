"""One borrower-mark rule (`services/borrower_mark.py`): `custody history` marks exactly the
events the custody report marks, for every loan of the golden ledger, and a researcher reading
their own loan's history sees the same marks as the curator."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.readmodels.report import CustodyBody
from sampleloans.services.reporting import build_report, make_request
from tests.conftest import COMPLIANCE, CURATOR, UOC_PI, ctx_for
from tests.test_i14_report_borrower_mark import BORROWER_EVENT

AFTER_THE_LEDGER = "2026-06-01T00:00:00Z"


def history_marks(loan: str, actor: str) -> list[int]:
    """The seqs `custody history --loan LOAN --json` marks as recorded by the borrower."""
    result = CliRunner().invoke(
        app, ["--as", actor, "custody", "history", "--loan", loan, "--json"]
    )
    assert result.exit_code == 0, result.stderr
    events = json.loads(result.stdout)["events"]
    assert events, f"{loan} has events"
    return [int(e["seq"]) for e in events if e["recorded_by_borrower"]]


def report_marks(ledger: Path, loan: str) -> list[int]:
    """The seqs the custody report of LOAN marks (service level)."""
    engine = db.open_engine(db.url_for_path(ledger))
    now = datetime(2026, 6, 1, tzinfo=UTC)
    try:
        with db.transaction(engine, write=False) as session:
            report = build_report(
                session, ctx_for(COMPLIANCE, now), make_request("custody", loan=loan),
                generated_at=now,
            )  # fmt: skip
    finally:
        engine.dispose()
    assert isinstance(report.body, CustodyBody)
    return [e.seq for e in report.body.events if e.by_borrower]


def loans_of(ledger: Path) -> list[str]:
    """Every loan number of the ledger, as `loans list --json` gives them."""
    result = CliRunner().invoke(app, ["--as", CURATOR, "loans", "list", "--json"])
    assert result.exit_code == 0, result.stderr
    return sorted(str(row["number"]) for row in json.loads(result.stdout))


def test_history_and_report_mark_the_same_events(
    golden_ledger: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """For every loan, the CLI's marks are the report's; the golden's one borrower event is
    among them, seen alike by the curator and by the borrower's researcher."""
    monkeypatch.setenv("SAMPLELOANS_DB", str(golden_ledger))
    monkeypatch.setenv("SAMPLELOANS_NOW", AFTER_THE_LEDGER)
    loans = loans_of(golden_ledger)
    assert len(loans) > 1
    for loan in loans:
        assert history_marks(loan, CURATOR) == report_marks(golden_ledger, loan), loan
    assert BORROWER_EVENT in history_marks("L-2025-UoC", CURATOR)
    assert history_marks("L-2025-UoC", UOC_PI) == history_marks("L-2025-UoC", CURATOR)
