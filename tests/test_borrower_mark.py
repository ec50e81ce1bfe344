"""Issue 14 point 6: the curator sees an event marked as recorded by the borrower when a person
of the loan's borrowing institution recorded it (`services/borrower_mark.py`); a curator later
made a researcher (`people set-role`) at the lender does not become the borrower.
"""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app

CURATOR = "curator@naoc.example"
SECOND_CURATOR = "wang@naoc.example"
RESEARCHER = "anand@open.example"  # OU's PI in the demo
AFTER_THE_DEMO = "2026-06-01T00:00:00Z"


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The demo ledger as this test's database, its clock after the demo's last event."""
    ledger = tmp_path / "demo.db"
    made = CliRunner().invoke(app, ["--db", str(ledger), "demo"])
    assert made.exit_code == 0, made.stderr
    monkeypatch.setenv("SAMPLELOANS_DB", str(ledger))
    monkeypatch.setenv("SAMPLELOANS_NOW", AFTER_THE_DEMO)
    monkeypatch.delenv("SAMPLELOANS_USER", raising=False)
    return ledger


def cli(*args: str) -> str:
    """Run a command; it must succeed; its standard output."""
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.stderr
    return result.stdout


def history(loan: str) -> list[dict[str, object]]:
    """A loan's history as the second curator reads it (JSON)."""
    shown = json.loads(cli("--as", SECOND_CURATOR, "custody", "history", "--loan", loan, "--json"))
    rows: list[dict[str, object]] = shown["events"]
    return rows


def test_the_mark_follows_the_recorders_institution_not_a_later_role(demo: Path) -> None:
    """A researcher's consumption is marked; a curator later made a researcher does not have
    their earlier curator events marked; what they record after the change is."""
    cli("--as", CURATOR, "people", "add", SECOND_CURATOR, "--name", "Wang Li",
        "--institution", "NAOC", "--role", "curator")  # fmt: skip
    cli("--as", RESEARCHER, "loans", "consume", "L-2025-OU", "--sample", "CE5C0300YJFM00307",
        "--technique", "SIMS", "--mass", "1 mg", "--destructive")  # fmt: skip
    consumed = history("L-2025-OU")[-1]
    assert consumed["actor"] == RESEARCHER and consumed["recorded_by_borrower"] is True

    cli("--as", SECOND_CURATOR, "people", "set-role", CURATOR, "--role", "researcher",
        "--reason", "moved to the lab")  # fmt: skip
    by_the_former_curator = [e for e in history("L-2025-UoC") if e["actor"] == CURATOR]
    assert by_the_former_curator, "the demo's curator recorded UoC's loan"
    assert all(e["recorded_by_borrower"] is False for e in by_the_former_curator)
