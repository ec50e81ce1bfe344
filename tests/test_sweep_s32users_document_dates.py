"""Sweep s32 "users" (1, 3): the documents' dates say what `status` says where none is kept.

Before, the inventory report and the statement printed a bare "—" where no next inventory is
owed (`status` and `loans show` said why: "— (none owed: the loan is closed)"), and the old
return date of a loan that is over as if it were still due (`status` and `loans list` say how
it ended: "— (closed 2025-10-21 10:00 UTC)"); the inventory report of a loan not yet issued
printed "—" where `status` says "1 year after issue", and a bare "—" for an inventory never
attested. Report layout 14 and statement layout 13 say the same as `status`; files printed by
report layout 13 and statement layout 12 still verify byte for byte.
"""

import io
import shutil
from datetime import datetime
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.dates import from_iso
from sampleloans.readmodels.report import InventoryBody, LoanEnd
from sampleloans.services import reporting
from sampleloans.services.statement import build_statements, checkpoint_ref, newest_kept_note
from tests.conftest import CURATOR, GOLDEN, OU_PI, ctx_for
from tests.test_sweep_s31users_no_inventory_why import AT, STAGES, WHY, _to_stage

# L-1 of the s31 stages (`_to_stage`): requested 2025-04-01 09:00 for a year; everything
# it ends with is recorded at the fixture's clock
ENDED = {
    "withdrawn": "— (withdrawn 2025-04-01 09:00 UTC)",
    "returned": "— (returned 2025-04-01 09:00 UTC)",
    "settled": "— (settled 2025-04-01 09:00 UTC)",
    "closed": "— (closed 2025-04-01 09:00 UTC)",
}
RETURNED_NOW = "2027-05-03T00:00:00Z"  # on `ledger-returned-layout13.db`: L-1 returned


def pdf_words(data: bytes) -> str:
    """A PDF's text with every run of white space one space."""
    pages = PdfReader(io.BytesIO(data)).pages
    return " ".join(" ".join(page.extract_text() for page in pages).split())


def cli(db_path: Path, now: str, actor: str, *args: str) -> str:
    """The CLI's stdout, exit 0."""
    env = {"SAMPLELOANS_DB": str(db_path), "SAMPLELOANS_NOW": now, "COLUMNS": "200"}
    result = CliRunner().invoke(app, ["--as", actor, *args], env=env)
    assert result.exit_code == 0, (args, result.stdout, result.stderr)
    return result.stdout


def inventory_report(db_path: Path, now: str, tmp_path: Path) -> str:
    """The words of L-1's inventory report printed now, which `verify-document` checks."""
    out = tmp_path / "inventory.pdf"
    cli(db_path, now, CURATOR, "report", "inventory", "--loan", "L-1", "--out", str(out))
    assert "byte-identical" in cli(db_path, now, CURATOR, "verify-document", str(out))
    return pdf_words(out.read_bytes())


@pytest.fixture(params=STAGES)
def staged(request: pytest.FixtureRequest, engine: Engine) -> str:
    """The ledger with L-1 at one stage that owes no inventory."""
    _to_stage(engine, request.param)
    return str(request.param)


def test_the_inventory_report_says_why_no_inventory_is_owed(
    staged: str, db_path: Path, tmp_path: Path
) -> None:
    """CLI: "Next inventory due" in `status`'s words; "Return due" how the loan ended, or
    before issue when it will fall due; never a date that binds no more."""
    words = inventory_report(db_path, AT, tmp_path)
    assert f"Next inventory due {WHY[staged]}" in words, words
    assert f"next inventory {WHY[staged]}" in cli(db_path, AT, OU_PI, "status", "--loan", "L-1")
    if staged in ENDED:
        assert f"Return due {ENDED[staged]}" in words, words
    elif staged == "approved":
        assert "Return due 1 year after issue" in words, words
    else:  # sent back by its due time: still out, its due date still stands
        assert "Return due 2026-04-01 09:00 UTC" in words, words


def test_the_service_says_how_the_loan_ended(staged: str, engine: Engine) -> None:
    """Service level: the inventory report's read model carries how the loan ended."""
    at = from_iso(AT)
    with db.transaction(engine, write=False) as session:
        report = reporting.build_report(
            session,
            ctx_for(CURATOR, at),
            reporting.make_request("inventory", loan="L-1"),
            generated_at=at,
        )
    body = report.body
    assert isinstance(body, InventoryBody)
    assert body.loan_period == "P1Y"
    expected = ENDED.get(staged)
    if expected is None:
        assert body.ended is None
    else:
        word = expected.split()[1].lstrip("(")
        assert body.ended == LoanEnd(word, datetime(2025, 4, 1, 9, 0, tzinfo=at.tzinfo))
        assert body.ended.withdrawn == (staged == "withdrawn")


def test_a_closed_loan_of_the_demo(tmp_path: Path) -> None:
    """The demo's IPGP loan, closed 2025-10-21: its inventory report no longer shows its due
    date, 2026-04-28 08:00, as if still due."""
    from tests.i15_statement_helpers import make_demo

    ledger = make_demo(tmp_path / "d")
    out = tmp_path / "ipgp.pdf"
    now = "2026-05-01T10:00:00Z"
    cli(ledger, now, CURATOR, "report", "inventory", "--loan", "L-2025-IPGP", "--out", str(out))
    words = pdf_words(out.read_bytes())
    assert "Return due — (closed 2025-10-21 10:00 UTC)" in words, words
    assert "Next inventory due — (none owed: the loan is closed)" in words, words
    assert "2026-04-28 08:00" not in words
    assert "Last inventory — (none attested yet)" in words, words


@pytest.fixture
def returned(tmp_path: Path) -> Path:
    """A copy of the golden ledger whose L-1 is returned, with a checkpoint of its head."""
    return Path(shutil.copy(GOLDEN / "ledger-returned-layout13.db", tmp_path / "r.db"))


def test_the_statement_of_a_returned_loan(returned: Path, tmp_path: Path) -> None:
    """CLI: the PI's statement says how L-1 ended and why no inventory is owed."""
    folder = tmp_path / "st"
    cli(returned, RETURNED_NOW, OU_PI, "report", "statement", "--generated-at", RETURNED_NOW,
        "--out", str(folder))  # fmt: skip
    (pdf,) = folder.iterdir()
    words = pdf_words(pdf.read_bytes())
    assert "— (returned 2027-05-02 10:00 UTC)" in words, words
    assert "— (none owed: the loan is returned)" in words, words
    assert "2027-04-28 10:00 UTC" not in words.split("What you hold")[0]
    assert "byte-identical" in cli(returned, RETURNED_NOW, OU_PI, "verify-document", str(pdf))


def test_the_statement_service_carries_how_the_loan_ended(returned: Path) -> None:
    """Service level: the statement's loan carries how it ended."""
    at = from_iso(RETURNED_NOW)
    engine = db.open_engine(db.url_for_path(returned))
    try:
        with db.transaction(engine, write=False) as session:
            note = newest_kept_note(session)
            assert note is not None
            (statement,) = build_statements(
                session, ctx_for(OU_PI, at), checkpoint_ref(note, "--checkpoint"), generated_at=at
            )
    finally:
        engine.dispose()
    (loan,) = statement.body.loans
    assert loan.ended == LoanEnd("returned", from_iso("2027-05-02T10:00:00Z"))


def test_the_settlement_report_is_owed_now(returned: Path, tmp_path: Path) -> None:
    """CLI: "What you owe" gives the settlement report, which has no date, "— (now)" under
    Due, as its standing says (before: a bare "—")."""
    folder = tmp_path / "st"
    cli(returned, RETURNED_NOW, OU_PI, "report", "statement", "--generated-at", RETURNED_NOW,
        "--out", str(folder))  # fmt: skip
    (pdf,) = folder.iterdir()
    owed = pdf_words(pdf.read_bytes()).split("What you owe")[1]
    assert "L-1 settlement report — (now) now: report the results" in owed, owed
    assert "byte-identical" in cli(returned, RETURNED_NOW, OU_PI, "verify-document", str(pdf))


def test_an_undated_obligation_reads_owed_now_from_layout_13(returned: Path) -> None:
    """Service and renderer: the statement owes L-1's settlement report with no date; layout 13
    says "— (now)" under Due, layout 12 kept its bare dash (its files verify byte for byte)."""
    from sampleloans.reports.statement import _owed_due, owed

    at = from_iso(RETURNED_NOW)
    engine = db.open_engine(db.url_for_path(returned))
    try:
        with db.transaction(engine, write=False) as session:
            note = newest_kept_note(session)
            assert note is not None
            (statement,) = build_statements(
                session, ctx_for(OU_PI, at), checkpoint_ref(note, "--checkpoint"), generated_at=at
            )
    finally:
        engine.dispose()
    (settlement,) = [o for o in owed(statement) if o.what == "settlement report"]
    assert settlement.due_at is None
    assert _owed_due(settlement, 13) == "— (now)"
    assert _owed_due(settlement, 12) == "—"


@pytest.mark.parametrize(
    ("golden", "actor", "old"),
    [
        ("report-layout13-inventory-returned.pdf", CURATOR, "Return due 2027-04-28 10:00 UTC"),
        ("statement-layout12-returned.pdf", OU_PI, "returned 2027-04-28 10:00 UTC 0 of 1 —"),
    ],
)
def test_files_of_the_layouts_before_still_verify(
    returned: Path, golden: str, actor: str, old: str
) -> None:
    """Printed by report layout 13 and statement layout 12 (sampleloans at 235599a): their
    old words, and `verify-document` still finds them byte-identical."""
    assert old in pdf_words((GOLDEN / golden).read_bytes())
    checked = cli(returned, RETURNED_NOW, actor, "verify-document", str(GOLDEN / golden))
    assert "byte-identical to a fresh rendering" in checked


def test_postgresql_prints_how_the_loan_ended(demo_url: str, tmp_path: Path) -> None:
    """The demo on PostgreSQL: the closed IPGP loan's inventory report in the same words."""
    out = tmp_path / "ipgp.pdf"
    env = {"SAMPLELOANS_NOW": "2026-05-01T10:00:00Z", "COLUMNS": "200"}
    args = ["report", "inventory", "--loan", "L-2025-IPGP", "--out", str(out)]
    result = CliRunner().invoke(app, ["--db", demo_url, "--as", CURATOR, *args], env=env)
    assert result.exit_code == 0, result.stderr
    words = pdf_words(out.read_bytes())
    assert "Return due — (closed 2025-10-21 10:00 UTC)" in words, words
    assert "Next inventory due — (none owed: the loan is closed)" in words, words
