"""Sweep s23 "reads": how a loan that is over reads in `loans list` and `loans show`.

1. `loans list` said a closed loan was due on its old due date, and a withdrawn loan was
   "closed": `status` and `loans show` say returned / settled / closed / withdrawn. Now the
   table's due cell says how the loan ended ("— (closed 2025-10-21 10:00)"), its status
   column "withdrawn"; `--json`/`--jsonl` keep `due_at` and add `returned_at`, `settled_at`,
   `closed_at` and `withdrawn_reason` (the keys of `status --json`); CSV adds `ended (UTC)`;
   `--status withdrawn` lists the loans closed without being issued.
3. `loans show` said "returned" with the last return shipment's arrival during a partial
   return (the borrower still holding the rest): now "last return arrived".
5. The query "events of kind K about loan N" is written once (`queries.events_of_loan`).
"""

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
from sqlmodel import Session
from typer.testing import CliRunner, Result

from sampleloans.cli import app
from sampleloans.db import make_engine
from sampleloans.services.queries import events_of_loan
from tests.conftest import BROWN_PI, CURATOR, UOC_PI, demo_in_a_process

NOW = "2026-06-21T10:00:00Z"
WITHDRAWN_AT = "2026-06-15T10:00:00Z"
UOC_RETURNED = "CE5C0000YJYX052"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo ledger (each test works on a copy)."""
    return demo_in_a_process(tmp_path_factory.mktemp("ended") / "demo")


@pytest.fixture(scope="module")
def ledger(demo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo with L-2025-Brown withdrawn and one of L-2025-UoC's samples back (a partial
    return: the borrower holds the other)."""
    path = Path(shutil.copy(demo, tmp_path_factory.mktemp("ended-w") / "ledger.db"))
    back = ("--seal-intact", "--condition", "ok", "--weighed", f"{UOC_RETURNED}=30.2mg")
    steps = [
        (WITHDRAWN_AT, "loans", "withdraw", "L-2025-Brown", "--reason", "PI moved labs"),
        (
            WITHDRAWN_AT,
            "loans",
            "return",
            "L-2025-UoC",
            "--container",
            "box",
            "--seal",
            "S-1",
            "--sample",
            UOC_RETURNED,
        ),
        ("2026-06-20T10:00:00Z", "loans", "accept-return", "L-2025-UoC", *back),
    ]
    for now, *args in steps:
        done = run(path, CURATOR, *args, now=now)
        assert done.exit_code == 0, done.stderr
    return path


def run(ledger: Path, actor: str, *args: str, now: str = NOW) -> Result:
    """The CLI in-process as `actor` at `now`, wide enough for every column."""
    env = {"SAMPLELOANS_DB": str(ledger), "SAMPLELOANS_NOW": now, "COLUMNS": "160"}
    return CliRunner().invoke(app, ["--as", actor, *args], env=env)


def ok(ledger: Path, actor: str, *args: str) -> str:
    """Stdout of a command that must succeed."""
    result = run(ledger, actor, *args)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result.stdout


def table_row(text: str, number: str) -> str:
    """The table line of one loan."""
    (line,) = [line for line in text.splitlines() if f" {number} " in line]
    return line


# --- 1. loans list agrees with status ------------------------------------------------------


def test_a_closed_loan_shows_when_it_closed_not_its_old_due_date(ledger: Path) -> None:
    line = table_row(ok(ledger, CURATOR, "loans", "list"), "L-2025-IPGP")
    assert "— (closed 2025-10-21 10:00)" in line, line
    assert "2026-04-28" not in line and "overdue" not in line and "left" not in line, line


def test_a_withdrawn_loan_is_called_withdrawn_with_when(ledger: Path) -> None:
    line = table_row(ok(ledger, CURATOR, "loans", "list"), "L-2025-Brown")
    assert "│ withdrawn " in line and "— (withdrawn 2026-06-15 10:00)" in line, line
    assert "closed" not in line, line
    standing = ok(ledger, BROWN_PI, "status")
    assert "): withdrawn" in standing and "withdrawn 2026-06-15 10:00 UTC" in standing


def test_a_loan_not_yet_issued_says_when_it_will_fall_due_as_status_does(ledger: Path) -> None:
    line = table_row(ok(ledger, CURATOR, "loans", "list"), "L-2025-SBU")
    assert "│ 1 year after issue " in line, line
    assert "due 1 year after issue" in ok(ledger, CURATOR, "status", "--loan", "L-2025-SBU")


def test_json_keeps_the_due_date_and_adds_how_it_ended(ledger: Path) -> None:
    rows = {r["number"]: r for r in json.loads(ok(ledger, CURATOR, "loans", "list", "--json"))}
    ipgp, brown, ou = rows["L-2025-IPGP"], rows["L-2025-Brown"], rows["L-2025-OU"]
    assert ipgp["due_at"] == "2026-04-28T08:00:00Z"  # a fact, kept
    assert (ipgp["days_left"], ipgp["overdue"]) == (None, False)
    assert (ipgp["returned_at"], ipgp["settled_at"], ipgp["closed_at"]) == (
        "2025-10-08T10:00:00Z",
        "2025-10-20T10:00:00Z",
        "2025-10-21T10:00:00Z",
    )
    assert (brown["status"], brown["withdrawn_reason"]) == ("closed", "PI moved labs")
    assert brown["closed_at"] == WITHDRAWN_AT
    assert (ou["closed_at"], ou["withdrawn_reason"], ou["overdue"]) == (None, None, True)
    lines = ok(ledger, CURATOR, "loans", "list", "--jsonl").splitlines()
    assert [json.loads(line) for line in lines] == list(rows.values())


def test_json_agrees_with_status_json_on_every_shared_key(ledger: Path) -> None:
    listed = json.loads(ok(ledger, CURATOR, "loans", "list", "--json"))
    for row in listed:
        standing = json.loads(ok(ledger, CURATOR, "status", "--loan", row["number"], "--json"))
        (loan,) = standing["loans"]
        shared = set(row) & set(loan)
        assert {
            "returned_at",
            "settled_at",
            "closed_at",
            "withdrawn_reason",
            "loan_period",
        } <= shared
        assert {k: row[k] for k in shared} == {k: loan[k] for k in shared}, row["number"]


def test_csv_gives_the_end_its_own_cell(ledger: Path) -> None:
    text = ok(ledger, CURATOR, "loans", "list", "--csv")
    rows = {r["loan"]: r for r in csv.DictReader(io.StringIO(text))}
    assert rows["L-2025-IPGP"]["due (UTC)"] == "2026-04-28T08:00:00Z"
    assert rows["L-2025-IPGP"]["ended (UTC)"] == "2025-10-21T10:00:00Z"
    assert (rows["L-2025-Brown"]["status"], rows["L-2025-Brown"]["ended (UTC)"]) == (
        "withdrawn",
        WITHDRAWN_AT,
    )
    assert rows["L-2025-OU"]["ended (UTC)"] == ""


def test_status_withdrawn_filters_and_closed_still_includes_it(ledger: Path) -> None:
    withdrawn = json.loads(ok(ledger, CURATOR, "loans", "list", "--status", "withdrawn", "--json"))
    assert [r["number"] for r in withdrawn] == ["L-2025-Brown"]
    closed = json.loads(ok(ledger, CURATOR, "loans", "list", "--status", "closed", "--json"))
    assert [r["number"] for r in closed] == ["L-2025-Brown", "L-2025-IPGP"]
    refused = run(
        ledger, CURATOR, "loans", "list", "--status", "withdrawn", "--due-after", "2020-01-01"
    )
    assert refused.exit_code == 2
    assert refused.stderr.startswith("Error: --due-after: a loan withdrawn owes no return")


# --- 3. a partial return is not "returned" -------------------------------------------------


def test_loans_show_during_a_partial_return_says_last_return_arrived(ledger: Path) -> None:
    shown = ok(ledger, UOC_PI, "loans", "show", "L-2025-UoC")
    (line,) = [line for line in shown.splitlines() if "2026-06-20 10:00 UTC" in line]
    assert line.startswith("last return arrived "), line
    assert not any(line.startswith("returned ") for line in shown.splitlines())
    closed = ok(ledger, CURATOR, "loans", "show", "L-2025-IPGP")
    assert any(line.startswith("returned ") for line in closed.splitlines())


# --- 5. one query for "events of kind K about loan N" ----------------------------------------


def test_events_of_loan_reads_the_loans_events_of_those_kinds_in_order(ledger: Path) -> None:
    with Session(make_engine(f"sqlite:///{ledger}")) as session:
        receipts = events_of_loan(session, "L-2025-UoC", "loan.received")
        both = events_of_loan(session, "L-2025-UoC", "loan.received", "loan.shipped")
        assert [e.kind for e in receipts] == ["loan.received", "loan.received"]
        assert [e.seq for e in both] == sorted(e.seq for e in both)
        assert {e.kind for e in both} == {"loan.received", "loan.shipped"} and len(both) > 2
        assert events_of_loan(session, "L-2025-Brown", "loan.received") == []


def test_the_query_is_written_once() -> None:
    root = Path(__file__).parent.parent / "sampleloans"
    writers = sorted(
        str(p.relative_to(root))
        for p in root.rglob("*.py")
        if "EventSubject.subject_key == number" in p.read_text()
        or "EventSubject.subject_key == loan.number" in p.read_text()
    )
    assert writers == ["services/queries.py"], writers
