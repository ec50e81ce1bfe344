"""Sweep s22 (compliance officer): the inventory report says when the inventory itself is late.

Found: `overdue`, the overdue notice and the PI's statement all said that Osaka's inventory
attestation was 51 days late; the inventory report — the very form the PI attests — flagged only
the return past due, and printed "Next inventory due 2026-04-25 08:00 UTC" on 2026-06-15 as if it
were still to come. Page layout 10 flags it in the header ("Inventory overdue"), judged by the one
overdue rule (`ledger.overdue.inventory_overdue`); a layout-9 file still verifies byte for byte.
Also found: a custody report of one event said "Chain of custody (1 events)"; layout 10 counts it
in agreement.
"""

import io
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlmodel import Session
from typer.testing import CliRunner

from sampleloans.cli import app
from sampleloans.readmodels.report import INVENTORY_FLAG_LAYOUT, REPORT_LAYOUT
from tests.conftest import COMPLIANCE, GOLDEN

NOW = "2026-06-15T10:00:00Z"  # the demo's Osaka loan: return and inventory due 2026-04-25 08:00
GOLDEN_NOW = "2026-05-01T00:00:00Z"  # the layout-9 golden's moment (tests/golden/README.md)


def run(env: dict[str, str], *args: str, code: int = 0) -> str:
    """The CLI as the compliance officer; the exit code checked; stdout."""
    result = CliRunner().invoke(app, ["--as", COMPLIANCE, *args], env={**env, "COLUMNS": "160"})
    assert result.exit_code == code, (args, result.stdout, result.stderr)
    return result.stdout


def words(data: bytes) -> str:
    """A PDF's text with every run of white space one space."""
    pages = PdfReader(io.BytesIO(data)).pages
    return " ".join(" ".join(page.extract_text() for page in pages).split())


def keywords(data: bytes) -> dict[str, object]:
    """The report metadata a PDF carries in its Keywords."""
    info = PdfReader(io.BytesIO(data)).metadata
    assert info is not None
    loaded: dict[str, object] = json.loads(str(info["/Keywords"]))
    return loaded


@pytest.fixture
def env(ledger: Path) -> dict[str, str]:
    """A copy of the demo ledger, read on 2026-06-15."""
    return {"SAMPLELOANS_DB": str(ledger), "SAMPLELOANS_NOW": NOW}


def test_the_inventory_report_flags_an_attestation_past_due_as_overdue_does(
    env: dict[str, str], tmp_path: Path
) -> None:
    listed = json.loads(run(env, "overdue", "--institution", "Osaka", "--json"))
    [late] = [row for row in listed if row["what"] == "inventory"]
    out = tmp_path / "inventory.pdf"
    run(env, "report", "inventory", "--loan", "L-2025-Osaka", "--out", str(out))
    data = out.read_bytes()
    assert keywords(data)["v"] == REPORT_LAYOUT >= INVENTORY_FLAG_LAYOUT
    text = words(data)
    days = late["days_late"]
    assert days == 51
    assert (
        f"Inventory overdue OVERDUE since 2026-04-25 08:00 UTC, {days} days: the inventory of "
        "loan L-2025-Osaka was due to be attested"
    ) in text
    assert "Return overdue OVERDUE since 2026-04-25 08:00 UTC, 51 days" in text  # as before
    assert "verified against the ledger" in run(env, "verify-document", str(out))


def test_an_inventory_not_yet_due_is_not_flagged(env: dict[str, str], tmp_path: Path) -> None:
    """UoC's next inventory is due 2027-04-20: nothing to flag, as `overdue` lists nothing."""
    listed = json.loads(run(env, "overdue", "--institution", "UoC", "--json"))
    assert listed == []
    out = tmp_path / "inventory.pdf"
    run(env, "report", "inventory", "--loan", "L-2025-UoC", "--out", str(out))
    assert "Inventory overdue" not in words(out.read_bytes())


def test_an_inventory_report_as_of_its_due_instant_is_not_yet_late(
    env: dict[str, str], tmp_path: Path
) -> None:
    """The one overdue rule: at the due instant itself an obligation is not yet late."""
    out = tmp_path / "inventory.pdf"
    due = "2026-04-25T08:00:00Z"
    at_due = {**env, "SAMPLELOANS_NOW": due}
    run(at_due, "report", "inventory", "--loan", "L-2025-Osaka", "--out", str(out),
        "--generated-at", due)  # fmt: skip
    assert "Inventory overdue" not in words(out.read_bytes())


def test_a_layout_9_inventory_report_still_verifies_byte_for_byte(tmp_path: Path) -> None:
    """Printed before layout 10 (no "Inventory overdue" line although it was late): it still
    re-renders in its own layout, byte for byte."""
    golden = (GOLDEN / "report-layout9-inventory-osaka.pdf").read_bytes()
    assert keywords(golden)["v"] == 9
    assert "Inventory overdue" not in words(golden)
    assert "Return overdue" in words(golden)
    shutil.copy(GOLDEN / "ledger-0.1.db", tmp_path / "ledger.db")
    env = {"SAMPLELOANS_DB": str(tmp_path / "ledger.db"), "SAMPLELOANS_NOW": GOLDEN_NOW}
    checked = run(env, "verify-document", str(GOLDEN / "report-layout9-inventory-osaka.pdf"))
    assert "byte-identical to a fresh rendering" in checked
    assert "verified against the ledger" in checked


def test_the_read_model_names_the_attestation_past_due(ledger: Path) -> None:
    from sampleloans.db import make_engine
    from sampleloans.models import Loan
    from sampleloans.services.reporting.parts import overdue_inventories

    with Session(make_engine(f"sqlite:///{ledger}")) as session:
        osaka, uoc = session.get(Loan, "L-2025-Osaka"), session.get(Loan, "L-2025-UoC")
        assert osaka is not None and uoc is not None
        now = datetime(2026, 6, 15, 10, tzinfo=UTC)
        [late] = overdue_inventories(session, [uoc, osaka], now)
    assert (late.loan, late.days_late) == ("L-2025-Osaka", 51)
    assert late.due_at.replace(tzinfo=UTC) == datetime(2026, 4, 25, 8, tzinfo=UTC)


def test_a_custody_report_of_one_event_counts_it_in_agreement(
    env: dict[str, str], tmp_path: Path
) -> None:
    """Before: "Chain of custody (1 events)" (a report as of just after the loan's request)."""
    out = tmp_path / "custody.pdf"
    run(env, "report", "custody", "--loan", "L-2025-Osaka", "--as-of", "2025-04-16T00:00:00Z",
        "--out", str(out))  # fmt: skip
    text = words(out.read_bytes())
    assert "Chain of custody (1 event)" in text and "(1 events)" not in text
    assert "verified against the ledger" in run(env, "verify-document", str(out))


def test_a_layout_9_custody_report_of_one_event_still_verifies(tmp_path: Path) -> None:
    golden = GOLDEN / "report-layout9-custody-osaka-one-event.pdf"
    assert keywords(golden.read_bytes())["v"] == 9
    assert "Chain of custody (1 events)" in words(golden.read_bytes())
    shutil.copy(GOLDEN / "ledger-0.1.db", tmp_path / "ledger.db")
    env = {"SAMPLELOANS_DB": str(tmp_path / "ledger.db"), "SAMPLELOANS_NOW": GOLDEN_NOW}
    checked = run(env, "verify-document", str(golden))
    assert "byte-identical to a fresh rendering" in checked
