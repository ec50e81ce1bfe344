"""Sweep s38 "users" (2): an inventory attestation that repeats the last one is refused.

The annual inventory attests what the PI holds; the next falls due an interval after it. The
same attestation again within a day, with nothing recorded about the loan between (a command
typed twice, a script run twice), was accepted: two identical "Inventory attested" rows, at the
same moment too. It is refused now (exit 1, nothing written), in one line naming the earlier one
(when, event, by whom) and when one is accepted again. Later, another attestation is a new one
(an audit may ask for it) and sets the next due date from it.
"""

import json
from pathlib import Path

import pytest
from sqlmodel import Session, func, select
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.dates import from_iso
from sampleloans.errors import Conflict
from sampleloans.models import LedgerEvent
from sampleloans.services import loans
from tests.conftest import CURATOR, DEMO_NOW, OU_PI, ctx_for, demo_copy

REPEAT = (
    "Error: loan L-2025-OU: its inventory was attested at 2026-04-20 10:00 UTC (event 107, by "
    "anand@open.example) and nothing about the loan was recorded since, so this one would repeat "
    "it: attest again from 2026-04-21T10:00:00Z on, or once anything else is recorded about the "
    "loan; the next is due 2027-04-20 10:00 UTC"
)
SAME_DAY = "2026-04-21T09:59:59Z"  # the last moment of the day after the attestation


def run(db_path: Path, now: str, actor: str, *args: str, code: int = 0) -> str:
    """The CLI on `db_path` at `now` as `actor`; the exit code checked; stdout and stderr."""
    env = {"SAMPLELOANS_DB": str(db_path), "SAMPLELOANS_NOW": now, "COLUMNS": "400"}
    result = CliRunner().invoke(app, ["--as", actor, *args], env=env)
    assert result.exit_code == code, (args, result.stdout, result.stderr)
    return result.stdout + result.stderr


def events(db_path: Path) -> int:
    """How many events the ledger holds."""
    engine = db.open_engine(db.url_for_path(db_path))
    with Session(engine) as session:
        count = session.exec(select(func.count()).select_from(LedgerEvent)).one()
    engine.dispose()
    return count


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    """The demo: OU's PI attested L-2025-OU's inventory at 2026-04-20 10:00 (event 107)."""
    return demo_copy(tmp_path / "demo")


@pytest.mark.parametrize("actor", [OU_PI, CURATOR])
def test_a_repeat_is_refused_naming_the_earlier_one(ledger: Path, actor: str) -> None:
    """The PI again, or a curator for them, within the day: one line, exit 1, nothing written;
    the moment it names, typed, is accepted."""
    before = events(ledger)
    args = ("loans", "inventory", "L-2025-OU", "--note", "again")
    said = run(ledger, DEMO_NOW, actor, *args, "--at", SAME_DAY, code=1)
    assert said.strip() == REPEAT
    assert events(ledger) == before
    said = run(ledger, DEMO_NOW, actor, *args, "--at", "2026-04-21T10:00:00Z")
    assert said.startswith("Loan L-2025-OU inventory attested (event 108")


def test_the_same_moment_is_refused_too(ledger: Path) -> None:
    """Typed twice at one moment (`--at` the first's time): the second is the repeat."""
    args = ("loans", "inventory", "L-2025-OU", "--at", "2026-04-20T10:00:00Z")
    assert run(ledger, DEMO_NOW, OU_PI, *args, code=1).strip() == REPEAT


def test_accepted_once_anything_is_recorded_about_the_loan(ledger: Path) -> None:
    """A consumption since the attestation: the PI holds less, and attests it."""
    run(ledger, DEMO_NOW, OU_PI, "loans", "consume", "L-2025-OU", "--sample", "CE5C0300YJFM00307",
        "--technique", "SEM", "--mass", "1 mg", "--non-destructive")  # fmt: skip
    said = run(ledger, DEMO_NOW, OU_PI, "loans", "inventory", "L-2025-OU")
    assert said.startswith("Loan L-2025-OU inventory attested (event ")
    shown = run(ledger, DEMO_NOW, OU_PI, "loans", "show", "L-2025-OU")
    assert "next inventory  2027-04-28 10:00 UTC" in shown


def test_a_later_one_is_a_new_attestation(ledger: Path) -> None:
    """A week on, nothing recorded about the loan since: a new attestation (an audit asked for
    it), accepted, and the next falls due a year after it."""
    said = run(ledger, DEMO_NOW, OU_PI, "loans", "inventory", "L-2025-OU")
    assert said.startswith("Loan L-2025-OU inventory attested (event ")
    shown = run(ledger, DEMO_NOW, OU_PI, "loans", "show", "L-2025-OU")
    assert "next inventory  2027-04-28 10:00 UTC" in shown


def test_the_service_refuses_the_repeat(ledger: Path) -> None:
    """The rule lives in `loans.attest_inventory` (the CLI and `import` both call it)."""
    engine = db.open_engine(db.url_for_path(ledger))
    pattern = r"attested at 2026-04-20 10:00 UTC \(event 107, by"
    within_the_day = ctx_for(OU_PI, from_iso("2026-04-20T12:00:00Z"))
    with pytest.raises(Conflict, match=pattern), db.transaction(engine) as session:
        loans.attest_inventory(session, within_the_day, number="L-2025-OU")
    engine.dispose()


def test_one_dated_before_the_last_is_refused_for_its_time(ledger: Path) -> None:
    """`--at` before the earlier attestation: the time is what is wrong, and is named."""
    args = ("loans", "inventory", "L-2025-OU", "--at", "2026-04-19T10:00:00Z")
    said = run(ledger, DEMO_NOW, OU_PI, *args, code=1)
    assert said.startswith("Error: --at: 2026-04-19T10:00:00Z is before the previous event of loan")


def test_an_import_refuses_the_repeat_within_one_file(ledger: Path, tmp_path: Path) -> None:
    """`import`: a consumption, an attestation, and the same attestation again: the third line
    is refused (each record goes through its command's rules), and nothing is imported."""
    lines = [
        {"kind": "loan.consumed", "occurred_at": "2026-04-27T09:00:00Z", "actor": OU_PI,
         "payload": {"destructive": True, "mass_ug": 1000, "number": "L-2025-OU",
                     "sample": "CE5C0300YJFM00307", "technique": "SEM"}},
        *[{"kind": "loan.inventory", "occurred_at": "2026-04-27T10:00:00Z", "actor": OU_PI,
           "payload": {"number": "L-2025-OU"}}] * 2,
    ]  # fmt: skip
    history = tmp_path / "lab.jsonl"
    history.write_text("".join(json.dumps(line) + "\n" for line in lines))
    before = events(ledger)
    said = run(ledger, DEMO_NOW, CURATOR, "import", str(history), code=1)
    assert (
        "lab.jsonl line 3: loan L-2025-OU: its inventory was attested at 2026-04-27 10:00" in said
    )
    assert "line 2" not in said and events(ledger) == before
