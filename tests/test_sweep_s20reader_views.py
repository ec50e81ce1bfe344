"""Sweep s20-reader: a researcher checking their own loans and a compliance officer reading
status, balances, statements and the stand-alone verifier, through the command line.

They saw: Osaka's split child counted as "issued" in `status`, `loans show`, `balance` and the
PI's statement (its rows added up to 114.4 mg where `loans list` said 112.4 mg issued); a
frozen sample "held" in `status` and `loans show` where `samples show` says "held (frozen)";
a read of a ledger in DELETE journal mode (a golden made with `VACUUM INTO`) switching it to
WAL (its header bytes changed); and `tools/verify_ledger.py` saying "prev_hash is not the hash
of event 0" of an edited ledger id, where `sampleloans verify` says it does not link to the
genesis of this ledger's id.
"""

import hashlib
import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from sampleloans.readmodels.report import REPORT_LAYOUT
from sampleloans.reports.statement import METADATA_VERSION
from tests.conftest import COMPLIANCE, CURATOR, GOLDEN, demo_env
from tests.test_s17_layout_goldens import keywords, words

OSAKA_PI = "terada@osaka-u.example"
OSAKA = "L-2025-Osaka"
PARENT, CHILD = "CE5C0000YJYX061", "CE5C0000YJYX061-G1"
TOOL = Path(__file__).resolve().parent.parent / "tools" / "verify_ledger.py"
AFTER = "2026-06-01T00:00:00Z"


def run(env: dict[str, str], *args: str, who: str = COMPLIANCE, code: int = 0) -> str:
    """Invoke the CLI as `who` in `env`; check the exit code; what it printed on stdout."""
    result = CliRunner().invoke(app, ["--as", who, *args], env={**env, "COLUMNS": "160"})
    assert result.exit_code == code, (args, result.stdout, result.stderr)
    return result.stdout


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo ledger (Osaka's PI split 2 mg off a sample for a mount), read in 2026."""
    return demo_env(tmp_path_factory, OSAKA_PI)


def osaka_items(env: dict[str, str]) -> dict[str, dict[str, object]]:
    """`status --json`'s items of Osaka's loan, by sample code."""
    loans = json.loads(run(env, "status", "--json", who=OSAKA_PI))["loans"]
    (loan,) = [loan for loan in loans if loan["number"] == OSAKA]
    return {item["sample_code"]: item for item in loan["items"]}


def test_a_borrowers_split_is_not_issued_in_any_view(demo: dict[str, str]) -> None:
    """Every view's issued masses add up to what `loans list` says was issued; the child's
    mass is "from split"."""
    listed = json.loads(run(demo, "loans", "list", "--json"))
    (row,) = [r for r in listed if r["number"] == OSAKA]
    assert row["issued_ug"] == 112_400
    status_items = osaka_items(demo)
    assert sum(int(str(i["issued_ug"])) for i in status_items.values()) == 112_400
    assert status_items[CHILD]["issued_ug"] == 0
    assert status_items[CHILD]["from_split_ug"] == 2_000
    shown = json.loads(run(demo, "loans", "show", OSAKA, "--json"))
    assert sum(i["issued_ug"] for i in shown["items"]) == 112_400
    assert {i["sample_code"]: i["from_split_ug"] for i in shown["items"]}[CHILD] == 2_000
    balance = json.loads(run(demo, "balance", "--loan", OSAKA, "--json"))["item_balance"]
    assert sum(r["issued_ug"] for r in balance["rows"]) == balance["total"]["issued_ug"] == 112_400
    assert sum(r["split_ug"] for r in balance["rows"]) == balance["total"]["split_ug"] == 2_000
    assert balance["total"]["from_split_ug"] == 2_000
    assert all(r["balanced"] for r in balance["rows"]) and balance["total"]["balanced"]


def test_status_and_balance_print_the_split_as_from_split(demo: dict[str, str]) -> None:
    """The tables: a "from split" column, the child's issued 0 µg, the equation with it."""
    status = run(demo, "status", who=OSAKA_PI)
    assert "from split" in status
    child_row = next(line for line in status.splitlines() if CHILD in line)
    assert child_row.split("│")[3].strip() == "0 µg"  # sample | state | issued | …
    assert child_row.split("│")[4].strip() == "2.000 mg"
    balance = run(demo, "balance", "--loan", OSAKA)
    assert "issued + from split = held + consumed + returned + transferred + split + lost: " in (
        " ".join(balance.split())
    )
    assert "112.400 mg + 2.000 mg = 112.400 mg" in balance
    # a loan without a borrower's split keeps its table and equation as they were
    plain = run(demo, "balance", "--loan", "L-2025-OU")
    assert "from split" not in plain
    assert "issued = held + consumed + returned + transferred + split + lost: " in plain


def test_a_frozen_sample_reads_the_same_in_every_view(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """After a damage report on a sample held on Osaka's loan: "held (frozen)" everywhere,
    and `frozen: true` beside `custody_state` in every --json."""
    env = demo_env(tmp_path_factory, OSAKA_PI)
    run(
        env,
        *("incidents", "report", "--sample", PARENT, "--kind", "damage"),
        *("--description", "cracked in the mount"),
        who=OSAKA_PI,
    )
    said = "held (frozen)"
    assert said in run(env, "samples", "show", PARENT)
    for args in (("status",), ("loans", "show", OSAKA), ("balance", "--loan", OSAKA)):
        printed = run(env, *args, who=OSAKA_PI)
        parent_row = next(line for line in printed.splitlines() if f"│ {PARENT} " in line)
        assert said in parent_row, (args, parent_row)
        child_row = next(line for line in printed.splitlines() if CHILD in line)
        assert said not in child_row, (args, child_row)
    assert osaka_items(env)[PARENT]["frozen"] is True
    assert osaka_items(env)[PARENT]["custody_state"] == "held"
    shown = json.loads(run(env, "loans", "show", OSAKA, "--json"))
    assert {i["sample_code"]: i["frozen"] for i in shown["items"]} == {
        PARENT: True,
        CHILD: False,
        "CE5C0100YJFM00201-02": False,
    }
    rows = json.loads(run(env, "balance", "--loan", OSAKA, "--json"))["item_balance"]["rows"]
    assert [r["frozen"] for r in rows] == [True, False, False]


@pytest.fixture
def statement_ledger(tmp_path: Path) -> dict[str, str]:
    """A copy of the golden ledger the statement goldens were built on (with its checkpoint)."""
    shutil.copy(GOLDEN / "ledger-statement-layout3.db", tmp_path / "ledger.db")
    return {"SAMPLELOANS_DB": str(tmp_path / "ledger.db"), "SAMPLELOANS_NOW": AFTER}


def test_the_statement_shows_the_split_apart_and_layout_7_still_verifies(
    statement_ledger: dict[str, str], tmp_path: Path
) -> None:
    """Layout 8: the child's issued is 0 µg and its 2.000 mg is "From split"; the layout-7
    golden (which counted it as issued) still re-renders byte for byte."""
    golden = GOLDEN / "statement-layout7-osaka.pdf"
    assert keywords(golden)["v"] == 7 < METADATA_VERSION
    old = words(golden)
    assert f"{CHILD} {OSAKA} breccia rock fragment, CE-5 scoop held 2.000 mg 2.000 mg" in old
    checked = run(statement_ledger, "verify-document", str(golden))
    assert "the file is byte-identical to a fresh rendering" in checked
    out = tmp_path / "st"
    args = ("--pi", OSAKA_PI, "--generated-at", "2026-05-01T00:00:00Z", "--out", str(out))
    run(statement_ledger, "report", "statement", *args)
    (fresh,) = out.iterdir()
    assert keywords(fresh)["v"] == METADATA_VERSION >= 8
    text = words(fresh)
    assert "Issued From split Held" in text
    assert "held 0 µg 2.000 mg 2.000 mg" in text
    assert "held 12.400 mg 0 µg 10.400 mg" in text
    assert "the file is byte-identical" in run(statement_ledger, "verify-document", str(fresh))


READS = (
    ("status", "--institution", "Osaka"),
    ("status", "--loan", OSAKA, "--json"),
    ("loans", "list"),
    ("loans", "list", "--jsonl"),
    ("loans", "show", OSAKA),
    ("balance",),
    ("balance", "--loan", OSAKA, "--json"),
    ("overdue",),
    ("samples", "list"),
    ("samples", "show", PARENT),
    ("samples", "tree", PARENT),
    ("custody", "history", "--loan", OSAKA),
    ("incidents", "list"),
    ("agreements", "list"),
    ("people", "list"),
    ("institutions", "list"),
    ("checkpoint", "list"),
    ("verify",),
)


def digest(path: Path) -> str:
    """The file's SHA-256: every byte, the header's journal mode included."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("args", READS, ids=" ".join)
def test_a_read_leaves_a_delete_mode_ledger_byte_for_byte(
    statement_ledger: dict[str, str], args: tuple[str, ...]
) -> None:
    """A ledger made with VACUUM INTO (journal mode DELETE): no read switches it to WAL, no
    -wal or -shm is left beside it."""
    ledger = Path(statement_ledger["SAMPLELOANS_DB"])
    before = digest(ledger)
    run(statement_ledger, *args)
    assert digest(ledger) == before, args
    assert sorted(p.name for p in ledger.parent.iterdir()) == ["ledger.db"]
    with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("delete",)


def test_reports_and_statements_leave_a_delete_mode_ledger_as_it_was(
    statement_ledger: dict[str, str], tmp_path: Path
) -> None:
    """The PDF reports, a statement and verify-document read the ledger and write only their
    own files."""
    ledger = Path(statement_ledger["SAMPLELOANS_DB"])
    before = digest(ledger)
    out = tmp_path / "out"
    out.mkdir()
    run(statement_ledger, "report", "inventory", "--loan", OSAKA, "--out", str(out / "i.pdf"))
    run(statement_ledger, "report", "statement", "--pi", OSAKA_PI, "--out", str(out / "st"))
    run(statement_ledger, "verify-document", str(out / "i.pdf"))
    assert digest(ledger) == before
    assert sorted(p.name for p in ledger.parent.iterdir()) == ["ledger.db", "out"]


def test_a_write_still_puts_the_ledger_in_wal_mode(statement_ledger: dict[str, str]) -> None:
    """The first write switches to WAL (readers then never wait for a writer)."""
    ledger = Path(statement_ledger["SAMPLELOANS_DB"])
    run(statement_ledger, "db", "upgrade", who=CURATOR)
    run(statement_ledger, "loans", "extend", OSAKA, "--period", "1 month", "--approver",
        CURATOR, "--reason", "beam time", who=CURATOR, code=1)  # fmt: skip
    run(
        statement_ledger,
        *("incidents", "report", "--sample", PARENT, "--kind", "damage"),
        *("--description", "cracked"),
        who=CURATOR,
    )
    with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_the_stand_alone_verifier_names_the_genesis_link_as_verify_does(tmp_path: Path) -> None:
    """An edited ledger id: both say the first event does not link to the genesis of this
    ledger's id (the tool said "prev_hash is not the hash of event 0")."""
    ledger = tmp_path / "ledger.db"
    shutil.copy(GOLDEN / "ledger-0.1.db", ledger)
    with sqlite3.connect(ledger) as connection:
        connection.executescript(
            "drop trigger ledger_meta_no_update;"
            "update ledger_meta set value='00000000-0000-0000-0000-000000000000'"
            " where key='ledger_id'"
        )
    done = subprocess.run(
        [sys.executable, str(TOOL), str(ledger)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 1, done.stdout + done.stderr
    said = "event 1 (ledger.created) does not link to the genesis of this ledger's id"
    assert said in done.stdout
    assert "event 0" not in done.stdout
    verified = run({"SAMPLELOANS_DB": str(ledger), "SAMPLELOANS_NOW": AFTER}, "verify", code=1)
    assert said in verified


@pytest.fixture
def report_ledger(tmp_path: Path) -> dict[str, str]:
    """A copy of release 0.1's golden ledger (the demo), read after its goldens were printed."""
    shutil.copy(GOLDEN / "ledger-0.1.db", tmp_path / "ledger.db")
    return {"SAMPLELOANS_DB": str(tmp_path / "ledger.db"), "SAMPLELOANS_NOW": AFTER}


def test_the_custody_report_shows_the_split_apart_and_layout_7_still_verifies(
    report_ledger: dict[str, str], tmp_path: Path
) -> None:
    """Report layout 8: the child's 2.000 mg is "From split", its issued 0 µg, and a frozen
    sample "held (frozen)"; the layout-7 golden (the split counted as issued) still verifies."""
    golden = GOLDEN / "report-layout7-custody-osaka.pdf"
    assert keywords(golden)["v"] == 7 < REPORT_LAYOUT
    assert f"{CHILD} breccia rock fragment, CE-5 scoop {OSAKA} 2.000 mg 2.000 mg" in words(golden)
    assert "byte-identical" in run(report_ledger, "verify-document", str(golden))
    run(
        report_ledger,
        *("incidents", "report", "--sample", PARENT, "--kind", "damage"),
        *("--description", "cracked in the mount"),
        who=OSAKA_PI,
    )
    fresh = tmp_path / "custody.pdf"
    run(report_ledger, "report", "custody", "--loan", OSAKA, "--out", str(fresh))
    assert keywords(fresh)["v"] == REPORT_LAYOUT >= 8
    text = words(fresh)
    assert "Issued mass From split Held now Custodian State" in text
    assert f"{OSAKA} 0 µg 2.000 mg 2.000 mg Osaka held" in text
    assert f"{OSAKA} 12.400 mg 0 µg 10.400 mg Osaka held (frozen)" in text
    inventory = tmp_path / "inventory.pdf"
    run(report_ledger, "report", "inventory", "--loan", OSAKA, "--out", str(inventory))
    assert "10.400 mg __________ held (frozen)" in words(inventory)
    assert "byte-identical" in run(report_ledger, "verify-document", str(fresh))


def test_the_return_report_adds_up_as_balance_does(
    report_ledger: dict[str, str], tmp_path: Path
) -> None:
    """The F-75 of Osaka's loan: the continuation's 2.000 mg is "From split", the Total's
    issued 112.400 mg and its split 2.000 mg, the sums of the rows; layout 7 still verifies."""
    golden = GOLDEN / "report-layout7-return-osaka.pdf"
    assert keywords(golden)["v"] == 7
    assert "byte-identical" in run(report_ledger, "verify-document", str(golden))
    fresh = tmp_path / "return.pdf"
    run(report_ledger, "report", "return", "--loan", OSAKA, "--out", str(fresh))
    text = words(fresh)
    assert "Sample Issued From split Authorised transfers" in text
    assert f"{CHILD} (continuation) 0 µg 2.000 mg" in text
    # from layout 21 in two parts, each with its Total (the ten columns hold "9,999.999999 g")
    assert "Total 112.400 mg 2.000 mg 0 µg 0 µg 0 µg Sample Returned before" in text
    assert "Total 0 µg 2.000 mg 0 µg 112.400 mg" in text
    assert "byte-identical" in run(report_ledger, "verify-document", str(fresh))


def test_one_read_of_a_loan_item() -> None:
    """The read model every view uses: a borrower's split child is issued 0 µg and its mass
    is from split; the equation holds for it and for the sum of the rows."""
    from types import SimpleNamespace

    from sampleloans.readmodels.items import item_masses, state_words, total_masses

    stored = dict(held_ug=2_000, consumed_ug=0, returned_ug=0, transferred_ug=0, lost_ug=0)
    child = item_masses(
        SimpleNamespace(
            sample_code=CHILD, source="borrower_split", state="held", issued_ug=2_000,
            split_ug=0, **stored,
        )
    )  # fmt: skip
    parent = item_masses(
        SimpleNamespace(
            sample_code=PARENT, source="issued", state="held", issued_ug=12_400,
            split_ug=2_000, **{**stored, "held_ug": 10_400},
        )
    )  # fmt: skip
    assert (child.issued_ug, child.from_split_ug) == (0, 2_000) and child.balanced
    total = total_masses([parent, child])
    assert (total.issued_ug, total.from_split_ug, total.split_ug) == (12_400, 2_000, 2_000)
    assert total.balanced
    assert state_words("return_in_transit", False) == "return in transit"
    assert state_words("held", True) == "held (frozen)"
