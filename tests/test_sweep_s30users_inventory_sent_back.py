"""Sweep s30 "users" (1): an inventory is owed no more once everything was sent back by it.

The attestation is about what the PI holds; a PI who sent everything left back by the
inventory's due time holds nothing (the return receipt's weighing accounts for what was sent),
so, as a return (`ledger/overdue.py`, docs/domain.md), the inventory is met by dispatch. Before,
`status`, `overdue`, `loans show`, the reports, the statement, `notify` and the refusal to issue
said "inventory overdue" while everything travelled back. One sent after the inventory fell due
leaves it overdue until everything arrives (or the PI attests). Documents printed before the
rule (report layout 12, statement layout 11) still verify, as they were judged.
"""

import io
import json
import shutil
from datetime import datetime
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlmodel import Session
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.dates import from_iso
from sampleloans.ledger import overdue as rule
from sampleloans.models import Loan
from sampleloans.readmodels.report import InventoryBody, OverdueBody
from sampleloans.readmodels.statement import Statement
from sampleloans.services import loan_views, loans, queries, reporting, standing
from sampleloans.services.statement import build_statements, checkpoint_ref, newest_kept_note
from sampleloans.vocab import LoanStatus
from tests.conftest import CURATOR, GOLDEN, OU_PI, ctx_for

INVENTORY_DUE = "2027-04-28T10:00:00Z"  # L-1's first inventory (issued 2026-04-28 10:00, P1Y)
LATER = "2027-05-20T00:00:00Z"  # everything still on its way back


def run(db_path: Path, now: str, actor: str, *args: str, code: int = 0) -> str:
    """The CLI on `db_path` at `now` as `actor`; the exit code checked; stdout."""
    env = {"SAMPLELOANS_DB": str(db_path), "SAMPLELOANS_NOW": now, "COLUMNS": "200"}
    result = CliRunner().invoke(app, ["--as", actor, *args], env=env)
    assert result.exit_code == code, (args, result.stdout, result.stderr)
    return result.stdout


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    """OU's PI holding L-1, its return extended to 2027-10-28 (so only the inventory, due
    2027-04-28 10:00, can be late), no inventory attested yet."""
    db_path = Path(shutil.copy(GOLDEN / "ledger-statement-big-mass-layout10.db", tmp_path / "l.db"))
    run(db_path, "2027-03-01T00:00:00Z", CURATOR, "loans", "extend", "L-1", "--period",
        "6 months", "--approver", CURATOR, "--reason", "beam time")  # fmt: skip
    return db_path


def sent_back(db_path: Path, at: str) -> None:
    """The curator releases everything left of L-1 for its return trip at `at`."""
    run(db_path, at, CURATOR, "loans", "return", "L-1", "--container", "box 9", "--seal", "S-9")


def pdf_words(path: Path) -> str:
    """A PDF's text with every run of white space one space."""
    pages = PdfReader(io.BytesIO(path.read_bytes())).pages
    return " ".join(" ".join(page.extract_text() for page in pages).split())


def cli_verdicts(db_path: Path, now: str, tmp_path: Path) -> dict[str, bool]:
    """What each command and document says of L-1's inventory at `now`: overdue or not."""
    listed = json.loads(run(db_path, now, CURATOR, "overdue", "--json"))
    tmp_path = tmp_path / f"reports-{len(list(tmp_path.glob('reports-*')))}"
    tmp_path.mkdir()
    status = json.loads(run(db_path, now, OU_PI, "status", "--json"))["loans"][0]
    shown = json.loads(run(db_path, now, OU_PI, "loans", "show", "L-1", "--json"))
    inventory = tmp_path / f"inventory-{now[:10]}.pdf"
    run(db_path, now, CURATOR, "report", "inventory", "--loan", "L-1", "--out", str(inventory))
    custody = tmp_path / f"custody-{now[:10]}.pdf"
    run(db_path, now, CURATOR, "report", "custody", "--loan", "L-1", "--out", str(custody))
    return {
        "overdue": any(row["what"] == "inventory" for row in listed),
        "status": status["inventory_overdue"],
        "status words": "inventory overdue" in run(db_path, now, OU_PI, "status"),
        "loans show": shown["inventory_overdue"],
        "inventory report": "Inventory overdue" in pdf_words(inventory),
        "custody report": "Inventory overdue" in pdf_words(custody),
    }


def service_verdicts(db_path: Path, now: str) -> dict[str, bool]:
    """What each service says of L-1's inventory at `now` (the ones the commands word)."""
    at = from_iso(now)
    ctx = ctx_for(CURATOR, at)
    engine = db.open_engine(db.url_for_path(db_path))
    try:
        with db.transaction(engine, write=False) as session:
            loan = session.get(Loan, "L-1")
            assert loan is not None
            sent = queries.sent_back_at(session, [loan]).get("L-1")
            inventory = reporting.build_report(
                session, ctx, reporting.make_request("inventory", loan="L-1"), generated_at=at
            )
            notice = reporting.build_report(
                session, ctx, reporting.make_request("overdue", institution="OU"), generated_at=at
            )
            assert isinstance(inventory.body, InventoryBody)
            assert isinstance(notice.body, OverdueBody)
            return {
                "rule": rule.inventory_overdue(loan.status, loan.next_inventory_due_at, at, sent),
                "status": standing.loan_status(session, ctx, loan="L-1")[0].inventory_overdue,
                "overdue": any(r.what == "inventory" for r in standing.overdue(session, ctx)),
                "loans show": loan_views.loan_detail(session, ctx, "L-1").inventory_overdue,
                "inventory report": bool(inventory.body.inventory_overdue),
                "overdue notice": any(line.what == "inventory" for line in notice.body.lines),
                "issue refusal": any(
                    "inventory of loan L-1" in b for b in loans.borrower_blockers(session, "OU", at)
                ),
                "summary": "overdue"
                in {r.institution: r.status for r in queries.collection_summary(session, at)}["OU"],
            }
    finally:
        engine.dispose()


def test_the_rule_meets_an_inventory_by_sending_everything_back_by_it() -> None:
    due = from_iso(INVENTORY_DUE)
    after = from_iso(LATER)
    in_transit = LoanStatus.RETURN_IN_TRANSIT
    early, late = from_iso("2027-04-28T09:59:00Z"), from_iso("2027-04-28T10:01:00Z")
    assert rule.inventory_due(in_transit, due, early) is None
    assert not rule.inventory_overdue(in_transit, due, after, early)
    assert rule.inventory_due(in_transit, due, late) == due
    assert rule.inventory_overdue(in_transit, due, after, late)
    # nothing sent back (held): owed, and late after its due time
    assert rule.inventory_overdue(LoanStatus.RECEIVED, due, after, None)
    assert not rule.inventory_overdue(LoanStatus.RECEIVED, due, due, None)


def test_sent_back_before_the_inventory_fell_due_is_owed_nowhere(
    ledger: Path, tmp_path: Path
) -> None:
    sent_back(ledger, "2027-04-20T00:00:00Z")
    found = cli_verdicts(ledger, LATER, tmp_path) | service_verdicts(ledger, LATER)
    assert found == dict.fromkeys(found, False), found
    status = json.loads(run(ledger, LATER, OU_PI, "status", "--json"))["loans"][0]
    assert (status["next_inventory_due_at"], status["inventory_days_left"]) == (None, None)
    assert "next inventory —" in run(ledger, LATER, OU_PI, "status")
    # the issue refused before ('the inventory of loan L-1 was due …') goes through
    run(ledger, LATER, CURATOR, "samples", "register", "CE5C0000YJYX092", "--mission", "CE-5",
        "--mass", "10 mg", "--origin", "scoop", "--material", "regolith", "--form",
        "bulk soil", "--purpose", "research", "--location", "NAOC N2 cabinet B")  # fmt: skip
    run(ledger, LATER, CURATOR, "loans", "request", "L-2", "--agreement", "AG-OU", "--pi", OU_PI,
        "--sample", "CE5C0000YJYX092")  # fmt: skip
    run(ledger, LATER, CURATOR, "loans", "approve", "L-2")
    assert "issued" in run(ledger, LATER, CURATOR, "loans", "issue", "L-2")


def test_sent_back_after_the_inventory_fell_due_is_overdue_until_attested(
    ledger: Path, tmp_path: Path
) -> None:
    sent_back(ledger, "2027-05-10T00:00:00Z")
    found = cli_verdicts(ledger, LATER, tmp_path) | service_verdicts(ledger, LATER)
    assert found == dict.fromkeys(found, True), found
    run(ledger, LATER, OU_PI, "loans", "inventory", "L-1", "--note", "all sent back")
    found = cli_verdicts(ledger, LATER, tmp_path) | service_verdicts(ledger, LATER)
    assert found == dict.fromkeys(found, False), found


def test_the_statement_and_notify_owe_no_inventory_sent_back_in_time(tmp_path: Path) -> None:
    """The golden ledger whose L-1 (return and inventory due 2027-04-28 10:00) was sent back a
    minute early: the statement lists no inventory attestation, `notify` sends no notice."""
    db_path = Path(shutil.copy(GOLDEN / "ledger-sent-back-layout11.db", tmp_path / "s.db"))
    now = "2027-05-02T00:00:00Z"
    folder = tmp_path / "statements"
    run(db_path, now, OU_PI, "report", "statement", "--pi", OU_PI, "--generated-at",
        "2027-05-01T00:00:00Z", "--out", str(folder))  # fmt: skip
    (fresh,) = folder.iterdir()
    assert "inventory attestation" not in pdf_words(fresh)
    engine = db.open_engine(db.url_for_path(db_path))
    try:
        with db.transaction(engine, write=False) as session:
            (statement,) = _statements(session, from_iso(now))
            assert [o.what for o in statement.body.obligations if o.loan == "L-1"] == []
            assert [loan.next_inventory_due_at for loan in statement.body.loans] == [None]
    finally:
        engine.dispose()
    key = tmp_path / "cp.key"
    run(db_path, now, CURATOR, "keys", "generate", "--out", str(key), "--name", "naoc")
    run(db_path, now, CURATOR, "checkpoint", "--key", str(key))
    outbox = tmp_path / "outbox"
    run(db_path, now, CURATOR, "notify", "--outbox", str(outbox))
    assert [p.name for p in outbox.iterdir() if p.name.startswith("overdue")] == []


def _statements(session: Session, at: datetime) -> list[Statement]:
    """The statements of OU's PI built on the newest kept checkpoint at `at`."""
    note = newest_kept_note(session)
    assert note is not None
    checkpoint = checkpoint_ref(note, "--checkpoint")
    return build_statements(session, ctx_for(OU_PI, at), checkpoint, pi=OU_PI, generated_at=at)


@pytest.mark.parametrize(
    ("golden", "actor", "flagged"),
    [
        ("report-layout12-inventory-sent-back.pdf", CURATOR, "Inventory overdue OVERDUE since"),
        ("statement-layout11-sent-back.pdf", OU_PI, "Overdue inventory attestation of loan L-1"),
    ],
)
def test_a_file_printed_before_the_rule_still_verifies_as_it_was_judged(
    tmp_path: Path, golden: str, actor: str, flagged: str
) -> None:
    """Printed when an inventory still counted as owed while everything travelled back
    (report layout 12, statement layout 11): rebuilt as it was judged then, byte for byte; a
    fresh one does not flag it, and verifies too."""
    db_path = Path(shutil.copy(GOLDEN / "ledger-sent-back-layout11.db", tmp_path / "s.db"))
    now = "2027-05-02T00:00:00Z"
    assert flagged in pdf_words(GOLDEN / golden)
    checked = run(db_path, now, actor, "verify-document", str(GOLDEN / golden))
    assert "byte-identical to a fresh rendering" in checked
    folder = tmp_path / "fresh"
    if golden.startswith("report"):
        fresh = folder / "r.pdf"
        folder.mkdir()
        run(db_path, now, actor, "report", "inventory", "--loan", "L-1",
            "--generated-at", "2027-05-01T00:00:00Z", "--out", str(fresh))  # fmt: skip
    else:
        run(db_path, now, actor, "report", "statement", "--pi", OU_PI,
            "--generated-at", "2027-05-01T00:00:00Z", "--out", str(folder))  # fmt: skip
        (fresh,) = folder.iterdir()
    assert flagged not in pdf_words(fresh)
    assert "byte-identical" in run(db_path, now, actor, "verify-document", str(fresh))


def test_postgresql_follows_the_same_rule(demo_url: str) -> None:
    """The demo on PostgreSQL: Osaka (return and inventory due 2026-04-25 08:00) sends
    everything back on 21 April; on 1 May the SQL of `overdue` lists neither (it listed its
    inventory, "overdue by 6 days")."""
    env = {"SAMPLELOANS_NOW": "2026-04-28T10:00:00Z", "COLUMNS": "200"}
    release = ["loans", "return", "L-2025-Osaka", "--container", "box", "--seal", "S-9",
               "--at", "2026-04-21T10:00:00Z"]  # fmt: skip
    sent = CliRunner().invoke(app, ["--db", demo_url, "--as", CURATOR, *release], env=env)
    assert sent.exit_code == 0, sent.stderr
    later = {**env, "SAMPLELOANS_NOW": "2026-05-01T00:00:00Z"}
    listed = CliRunner().invoke(
        app, ["--db", demo_url, "--as", CURATOR, "overdue", "--json"], env=later
    )
    assert listed.exit_code == 0, listed.stderr
    assert [r for r in json.loads(listed.stdout) if r["loan_number"] == "L-2025-Osaka"] == []
    status = CliRunner().invoke(
        app, ["--db", demo_url, "--as", "terada@osaka-u.example", "status", "--json"], env=later
    )
    (loan,) = json.loads(status.stdout)["loans"]
    assert (loan["inventory_overdue"], loan["next_inventory_due_at"]) == (False, None)
