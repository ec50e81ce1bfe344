"""Sweep s24 "users" (2): a return sent back by its due date is not overdue while it travels.

A loan agreement's "returned by the due date" means dispatched by it (`ledger/overdue.py`,
docs/domain.md): a loan whose every part left was sent back, its last return shipment leaving
at or before the due time, owes no return, however long the carrier takes. Before, `overdue`,
`status`, `loans list`, `loans show`, the return report and `notify`'s overdue notices called it
overdue from the first instant after the due time until it arrived. One sent after the due time
stays overdue until it arrives. Every place agrees, at the boundary: sent one minute before the
due time and arriving after it; sent one minute after it.
"""

import io
import json
import shutil
from pathlib import Path

import pytest
from pypdf import PdfReader
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import CURATOR, GOLDEN, OU_PI

DUE = "2027-04-28T10:00:00Z"  # L-1's return (issued 2026-04-28 10:00 for 12 months)
BEFORE_DUE = "2027-04-28T09:59:00Z"
AFTER_DUE = "2027-04-28T10:01:00Z"
LATER = "2027-05-20T00:00:00Z"  # the shipment still on its way


def run(db: Path, now: str, actor: str, *args: str, code: int = 0) -> str:
    """The CLI on `db` at `now` as `actor`; the exit code checked; stdout."""
    env = {"SAMPLELOANS_DB": str(db), "SAMPLELOANS_NOW": now, "COLUMNS": "200"}
    result = CliRunner().invoke(app, ["--as", actor, *args], env=env)
    assert result.exit_code == code, (args, result.stdout, result.stderr)
    return result.stdout


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    """OU's PI holding L-1 (1500 g), its inventory attested a month before the return is due
    (so only the return can be late at the due time)."""
    db = Path(shutil.copy(GOLDEN / "ledger-statement-big-mass-layout10.db", tmp_path / "l.db"))
    run(db, "2027-04-01T00:00:00Z", OU_PI, "loans", "inventory", "L-1", "--note", "all present")
    return db


def sent_back(db: Path, at: str) -> None:
    """The curator releases everything left of L-1 for its return trip at `at`."""
    now = at if at > BEFORE_DUE else BEFORE_DUE
    run(db, now, CURATOR, "loans", "return", "L-1", "--container", "box 9", "--seal", "S-9",
        "--at", at)  # fmt: skip


def return_report_words(db: Path, now: str, out: Path) -> str:
    """The return report of L-1 printed at `now`, as words."""
    run(db, now, CURATOR, "report", "return", "--loan", "L-1", "--out", str(out))
    pages = PdfReader(io.BytesIO(out.read_bytes())).pages
    return " ".join(" ".join(page.extract_text() for page in pages).split())


def overdue_notices(db: Path, now: str, folder: Path) -> list[str]:
    """The overdue notices `notify` would send at `now` (its dry run), by file name."""
    run(db, now, CURATOR, "checkpoint", "--key", str(folder.parent / "cp.key"))
    run(db, now, CURATOR, "notify", "--outbox", str(folder))
    return sorted(p.name for p in folder.iterdir() if "overdue" in p.name)


def verdicts(db: Path, now: str, tmp_path: Path) -> dict[str, bool]:
    """What each place says of L-1's return at `now`: overdue or not."""
    listed = json.loads(run(db, now, CURATOR, "overdue", "--json"))
    loans = json.loads(run(db, now, OU_PI, "loans", "list", "--json"))
    shown = run(db, now, OU_PI, "loans", "show", "L-1")
    status = run(db, now, OU_PI, "status")
    report = return_report_words(db, now, tmp_path / f"return-{now.replace(':', '')}.pdf")
    return {
        "overdue": any(row["what"] == "return" for row in listed),
        "loans list": loans[0]["overdue"],
        "loans show": f"due             {DUE[:10]} 10:00 UTC (overdue" in shown,
        "status": "return overdue" in status,
        "return report": "Return overdue" in report,
    }


def test_sent_one_minute_before_the_due_time_is_overdue_nowhere(
    ledger: Path, tmp_path: Path
) -> None:
    sent_back(ledger, BEFORE_DUE)
    for now in (AFTER_DUE, LATER):
        found = verdicts(ledger, now, tmp_path)
        assert found == dict.fromkeys(found, False), (now, found)
    status = run(ledger, LATER, OU_PI, "status")
    assert "return in transit to the curator" in status
    assert "due 2027-04-28 10:00 UTC (sent back in time)" in status  # in words a PI reads
    shown = run(ledger, LATER, OU_PI, "loans", "show", "L-1")
    assert "due             2027-04-28 10:00 UTC (sent back in time)" in shown
    assert "2027-04-28 10:00 (sent back in time)" in run(ledger, LATER, OU_PI, "loans", "list")
    (row,) = json.loads(run(ledger, LATER, OU_PI, "loans", "list", "--json"))
    assert (row["days_left"], row["overdue"]) == (None, False)
    # its status in words, never the internal name, in the table and CSV alike (as `status`
    # and `samples list --csv` say it; it read 'return_in_transit')
    assert "return in transit" in run(ledger, LATER, OU_PI, "loans", "list")
    csv_rows = run(ledger, LATER, OU_PI, "loans", "list", "--csv").splitlines()
    assert csv_rows[1].startswith("L-1,OU,anand@open.example,return in transit,1,")
    assert "return_in_transit" not in run(ledger, LATER, OU_PI, "loans", "list", "--csv")
    key = tmp_path / "cp.key"
    run(ledger, LATER, CURATOR, "keys", "generate", "--out", str(key), "--name", "naoc")
    assert overdue_notices(ledger, LATER, tmp_path / "outbox") == []


def test_sent_one_minute_after_the_due_time_is_overdue_everywhere_until_it_arrives(
    ledger: Path, tmp_path: Path
) -> None:
    sent_back(ledger, AFTER_DUE)
    found = verdicts(ledger, LATER, tmp_path)
    assert found == dict.fromkeys(found, True), found
    key = tmp_path / "cp.key"
    run(ledger, LATER, CURATOR, "keys", "generate", "--out", str(key), "--name", "naoc")
    assert len(overdue_notices(ledger, LATER, tmp_path / "outbox")) == 1
    run(ledger, LATER, CURATOR, "loans", "accept-return", "L-1", "--seal-intact", "--condition",
        "pristine", "--weighed", "CE5C0000YJYX091=1499.998g")  # fmt: skip
    assert json.loads(run(ledger, LATER, CURATOR, "overdue", "--json")) == []


def test_held_past_the_due_time_is_overdue(ledger: Path, tmp_path: Path) -> None:
    """Nothing sent back: the return is late from the first instant after the due time."""
    at_due = verdicts(ledger, DUE, tmp_path)  # due at exactly now: not yet late
    assert at_due == dict.fromkeys(at_due, False), at_due
    found = verdicts(ledger, AFTER_DUE, tmp_path)
    assert found == dict.fromkeys(found, True), found


# --- documents printed before the rule still verify ---------------------------------------


def pdf_words(path: Path) -> str:
    """A PDF's text with every run of white space one space."""
    pages = PdfReader(io.BytesIO(path.read_bytes())).pages
    return " ".join(" ".join(page.extract_text() for page in pages).split())


@pytest.mark.parametrize(
    ("golden", "actor", "flagged"),
    [
        ("report-layout11-return-sent-back.pdf", CURATOR, "Return overdue OVERDUE since"),
        ("statement-layout10-sent-back.pdf", OU_PI, "Overdue return of loan L-1"),
    ],
)
def test_a_file_printed_before_the_rule_still_verifies_as_it_was_judged(
    tmp_path: Path, golden: str, actor: str, flagged: str
) -> None:
    """Printed when a return on its way back still counted as overdue (report layout 11,
    statement layout 10): rebuilt as it was judged then, byte for byte; a fresh one does not
    flag it."""
    db = Path(shutil.copy(GOLDEN / "ledger-sent-back-layout11.db", tmp_path / "s.db"))
    assert flagged in pdf_words(GOLDEN / golden)
    checked = run(db, "2027-05-02T00:00:00Z", actor, "verify-document", str(GOLDEN / golden))
    assert "byte-identical to a fresh rendering" in checked
    folder = tmp_path / "fresh"
    if golden.startswith("report"):
        fresh = folder / "r.pdf"
        folder.mkdir()
        run(db, "2027-05-02T00:00:00Z", actor, "report", "return", "--loan", "L-1",
            "--generated-at", "2027-05-01T00:00:00Z", "--out", str(fresh))  # fmt: skip
    else:
        run(db, "2027-05-02T00:00:00Z", actor, "report", "statement", "--pi", OU_PI,
            "--generated-at", "2027-05-01T00:00:00Z", "--out", str(folder))  # fmt: skip
        (fresh,) = folder.iterdir()
    assert flagged not in pdf_words(fresh)
    assert "byte-identical" in run(db, "2027-05-02T00:00:00Z", actor, "verify-document", str(fresh))


def test_postgresql_follows_the_same_rule(demo_url: str) -> None:
    """The demo on PostgreSQL: OU's loan (due 2026-05-05 08:00) sent back a minute early is
    overdue nowhere once its due time passed; the SQL of `overdue` and `loans list` agrees."""
    env = {"SAMPLELOANS_NOW": "2026-05-05T07:59:00Z", "COLUMNS": "200"}
    release = ["loans", "return", "L-2025-OU", "--container", "box", "--seal", "S-9"]
    sent = CliRunner().invoke(app, ["--db", demo_url, "--as", CURATOR, *release], env=env)
    assert sent.exit_code == 0, sent.stderr
    later = {**env, "SAMPLELOANS_NOW": "2026-05-10T00:00:00Z"}
    listed = CliRunner().invoke(app, ["--db", demo_url, "--as", CURATOR, "overdue", "--json"],
                                env=later)  # fmt: skip
    assert listed.exit_code == 0, listed.stderr
    assert not [r for r in json.loads(listed.stdout) if r["loan_number"] == "L-2025-OU"]
    loans = CliRunner().invoke(app, ["--db", demo_url, "--as", CURATOR, "loans", "list",
                                     "--institution", "OU", "--json"], env=later)  # fmt: skip
    (row,) = [r for r in json.loads(loans.stdout) if r["number"] == "L-2025-OU"]
    assert (row["status"], row["overdue"], row["days_left"]) == ("return-in-transit", False, None)


def test_an_import_issues_to_a_borrower_whose_return_was_sent_in_time(tmp_path: Path) -> None:
    """`import` judges a borrower's standing from its batch by the same rule: the history of a
    ledger whose L-1 was sent back a minute early, then the PI's inventory and a new loan issued
    to OU after L-1's due time, imports whole into a new ledger (it was refused: 'OU cannot be
    issued new material while loan L-1 was due …')."""
    source = Path(shutil.copy(GOLDEN / "ledger-sent-back-layout11.db", tmp_path / "s.db"))
    at = "2027-05-03T00:00:00Z"
    run(source, at, OU_PI, "loans", "inventory", "L-1", "--note", "all sent back")
    run(source, at, CURATOR, "samples", "register", "CE5C0000YJYX092", "--mission", "CE-5",
        "--mass", "10 mg", "--origin", "scoop", "--material", "regolith", "--form",
        "bulk soil", "--purpose", "research", "--location", "NAOC N2 cabinet B")  # fmt: skip
    run(source, at, CURATOR, "loans", "request", "L-2", "--agreement", "AG-OU", "--pi", OU_PI,
        "--sample", "CE5C0000YJYX092")  # fmt: skip
    run(source, at, CURATOR, "loans", "approve", "L-2")
    run(source, at, CURATOR, "loans", "issue", "L-2")
    export = tmp_path / "events.jsonl"
    run(source, at, CURATOR, "export", "--events", str(export))
    records = [json.loads(line) for line in export.read_text().splitlines()[1:]]
    keys = ("kind", "occurred_at", "actor", "reason", "corrects_seq")
    history = tmp_path / "history.jsonl"
    history.write_text(
        "".join(
            json.dumps({**{k: r[k] for k in keys}, "payload": json.loads(r["payload"])}) + "\n"
            for r in records
            if r["seq"] > 21  # after what `init` writes
        )
    )
    target = tmp_path / "new.db"
    env = {"SAMPLELOANS_DB": str(target), "SAMPLELOANS_NOW": "2026-04-28T10:00:00Z"}
    made = CliRunner().invoke(
        app, ["init", "--curator-email", CURATOR, "--curator-name", "Li Na"], env=env
    )
    assert made.exit_code == 0, made.stderr
    done = run(target, at, CURATOR, "import", str(history))
    assert done.startswith("Imported 16 events")
    assert "status          issued" in run(target, at, CURATOR, "loans", "show", "L-2")
