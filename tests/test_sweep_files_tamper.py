"""Sweep "files": a ledger file tampered with by hand — bytes of the events table changed, a
row deleted with the sqlite3 program, the triggers dropped and a row updated, the event index
or an SQL index edited. `verify` finds each (exit 1) and names what; the documents that carry
proofs (a statement, the archival bag) are not made over such a ledger as if nothing happened.
"""

import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.test_sweep_files_damaged import Cli, cli, copy_of, demo_ledger, sampleloans

# the module fixtures, shared with test_sweep_files_damaged: real CLI processes forked from one
# that has done the imports (tests/warm_cli.py), so each run pays for the command, not ~1.3 s
# of imports
__all__ = ["cli", "demo_ledger", "sampleloans"]


def sqlite_cli(ledger: Path, script: str) -> None:
    """Run SQL on the file as an attacker would: the sqlite3 program (or the same through
    Python's driver where the program is not installed)."""
    program = shutil.which("sqlite3")
    if program is not None:
        done = subprocess.run([program, str(ledger)], input=script, capture_output=True, text=True)
        assert done.returncode == 0 and not done.stderr, done.stderr
        return
    with sqlite3.connect(ledger) as connection:
        connection.executescript(script)


def flip_in_events(ledger: Path) -> None:
    """Change one letter of a stored payload in the file's bytes (event 105, the inventory of
    loan L-2025-UoC): every copy of it in the file, free pages included."""
    data = ledger.read_bytes()
    marker = b'"note":"all samples present in the clean lab"'
    assert marker in data
    ledger.write_bytes(data.replace(marker, marker.replace(b"lab", b"lad")))


def index_page_flip(ledger: Path) -> None:
    """Change one byte of a key inside the event index's SQL index b-tree."""
    with sqlite3.connect(ledger) as connection:
        page = connection.execute(
            "SELECT pageno FROM dbstat WHERE name = 'ix_event_subject_lookup' ORDER BY pageno"
        ).fetchone()[0]
        size = connection.execute("PRAGMA page_size").fetchone()[0]
    data = bytearray(ledger.read_bytes())
    start = (page - 1) * size
    at = data.find(b"sample", start, start + size)
    assert at > 0
    data[at + 8] ^= 1
    ledger.write_bytes(bytes(data))


TAMPERS: dict[str, tuple[Callable[[Path], None], list[str]]] = {
    "bytes-in-events": (flip_in_events, ["[chain] event 105", "[projection] inventory row"]),
    "projection-row-deleted": (
        lambda p: sqlite_cli(
            p, "DELETE FROM weighing WHERE rowid = (SELECT min(rowid) FROM weighing);"
        ),
        ["[projection] weighing row", "missing"],
    ),
    "event-deleted-after-dropping-trigger": (
        lambda p: sqlite_cli(
            p,
            "DROP TRIGGER ledger_event_no_delete; DELETE FROM event_subject WHERE seq = 107; "
            "DELETE FROM ledger_event WHERE seq = 107;",
        ),
        ["[schema] append-only trigger ledger_event_no_delete is missing"],
    ),
    "triggers-dropped-row-updated": (
        lambda p: sqlite_cli(
            p,
            "DROP TRIGGER ledger_event_no_update; "
            "UPDATE ledger_event SET os_user = 'mallory' WHERE seq = 81;",
        ),
        ["[schema] append-only trigger ledger_event_no_update", "[chain] event 81"],
    ),
    "event-index-edited": (
        lambda p: sqlite_cli(
            p,
            "UPDATE event_subject SET subject_key = 'CE5C0000YJBP005' WHERE seq = 60 "
            "AND subject_type = 'sample' AND subject_key = 'CE5C0100YJFM00201-03';",
        ),
        ["[projection] event_subject row 60/sample/CE5C0000YJBP005"],
    ),
    "sql-index-bytes": (index_page_flip, ["[integrity]", "ix_event_subject_lookup"]),
}  # fmt: skip


@pytest.mark.parametrize("name", TAMPERS)
def test_verify_finds_each_tamper_and_names_it(
    sampleloans: Cli, demo_ledger: Path, tmp_path: Path, name: str
) -> None:
    ledger = copy_of(demo_ledger, tmp_path / "ledger.db")
    tamper, named = TAMPERS[name]
    tamper(ledger)
    result = sampleloans(ledger, "verify")
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert result.returncode == 1, result.stdout + result.stderr
    for words in named:
        assert words in result.stdout, (words, result.stdout)


@pytest.fixture
def checkpointed(sampleloans: Cli, demo_ledger: Path, tmp_path: Path) -> Path:
    """A copy of the demo ledger with a signing key and one kept checkpoint."""
    ledger = copy_of(demo_ledger, tmp_path / "ledger.db")
    for args in (["keys", "generate", "--out", "key"], ["checkpoint", "--key", "key"]):
        done = sampleloans(ledger, *args, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    (tmp_path / "statements").mkdir()
    return ledger


EDITED_EVENTS = [
    "triggers-dropped-row-updated",
    "bytes-in-events",
    "event-deleted-after-dropping-trigger",
]


@pytest.mark.parametrize("name", EDITED_EVENTS)
def test_a_statement_is_not_made_over_altered_events(
    sampleloans: Cli, checkpointed: Path, tmp_path: Path, name: str
) -> None:
    tamper, _named = TAMPERS[name]
    tamper(checkpointed)
    # the loan of the event changed: 81 and 105 are L-2025-UoC's, 107 L-2025-OU's
    institution = "OU" if name == "event-deleted-after-dropping-trigger" else "UoC"
    result = sampleloans(
        checkpointed,
        "report",
        "statement",
        "--institution",
        institution,
        "--out",
        "statements",
        cwd=tmp_path,
    )
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
    assert list((tmp_path / "statements").iterdir()) == []


@pytest.mark.parametrize("name", EDITED_EVENTS)
def test_the_archival_bag_is_not_made_over_a_ledger_that_does_not_check_out(
    sampleloans: Cli, checkpointed: Path, tmp_path: Path, name: str
) -> None:
    tamper, _named = TAMPERS[name]
    tamper(checkpointed)
    before = sorted(p.name for p in tmp_path.iterdir())
    result = sampleloans(checkpointed, "export", "--bag", "bag", cwd=tmp_path)
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.startswith("Error: --bag: ") and result.stderr.count("\n") == 1
    assert "no bag was written" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no bag, no build folder
