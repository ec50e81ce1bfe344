"""Sweep s32, an attacker flipping bits in the ledger file's pages.

One bit flipped in a page printed tracebacks: in an index page, a text stopped being UTF-8 and
`report custody` died on Python's `Could not decode to UTF-8 column 'loan_number'` (SQLite
had read the page fine); in a page of `ledger_event`, `verify` died on the driver's
`database disk image is malformed` raised from its chain stream (its stages took only
SQLAlchemy's errors as damage) and `export --events` on the same error outside any
transaction. A file cut short inside its last page (the cells of events read as NULLs and
zero bytes) made `verify` die on `None + str` in its chain check and then in its replay, while
`export --events` wrote an export of rows with no hash (`head 0:None`, exit 0); and SQLite's
integrity check, several lines in one row, was printed as lines of no finding. Each is now
`verify`'s finding (exit 1, one line each) or one line, exit 3, no file written.
"""

import os
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from sampleloans import db
from sampleloans.errors import DamagedFile
from sampleloans.services.events_file import export_events
from sampleloans.services.reporting import ReportRequest, build_report
from sampleloans.services.verify import verify
from tests.conftest import ctx_for
from tests.i15_statement_helpers import CURATOR, NOW, env_for, invoke

PAGE_BYTES = 4096


def _root_page(ledger: Path, name: str) -> int:
    with closing(sqlite3.connect(ledger)) as connection:
        assert connection.execute("PRAGMA page_size").fetchone()[0] == PAGE_BYTES
        return int(
            connection.execute(
                "SELECT rootpage FROM sqlite_master WHERE name = ?", (name,)
            ).fetchone()[0]
        )


def _flip(ledger: Path, offset: int, mask: int) -> None:
    data = bytearray(ledger.read_bytes())
    data[offset] ^= mask
    ledger.write_bytes(bytes(data))


def _index_text_not_utf8(ledger: Path) -> None:
    """Bit 7 of a digit of a loan number in the (one-page) index of loan items: 0x32 -> 0xB2."""
    page = _root_page(ledger, "sqlite_autoindex_loan_item_1")
    start = (page - 1) * PAGE_BYTES
    found = ledger.read_bytes().find(b"L-2025-IPGP", start, start + PAGE_BYTES)
    assert found >= 0, "the demo's index page names L-2025-IPGP"
    _flip(ledger, found + 2, 0x80)


def _event_page_malformed(ledger: Path) -> None:
    """The page-type byte of the events table's root page: no b-tree page type any more."""
    page = _root_page(ledger, "ledger_event")
    header = (page - 1) * PAGE_BYTES + (100 if page == 1 else 0)
    data = ledger.read_bytes()
    _flip(ledger, header, data[header])  # to 0x00


def _one_line(stderr: str) -> str:
    assert "Traceback" not in stderr and stderr.count("\n") == 1, stderr
    return stderr


def test_a_flipped_bit_in_an_index_page_is_one_line_cli(ledger: Path, tmp_path: Path) -> None:
    _index_text_not_utf8(ledger)
    out = tmp_path / "out"
    out.mkdir()
    report = invoke(env_for(ledger), "report", "custody", "--loan", "L-2025-OU", "--out",
                    str(out / "r.pdf"))  # fmt: skip
    assert report.exit_code == 3, report.stderr
    line = _one_line(report.stderr)
    assert line.startswith(f"Error: the ledger {ledger} is damaged (SQLite says: Could not decode")
    assert "restore the latest verified backup" in line
    assert os.listdir(out) == []
    checked = invoke(env_for(ledger, "compliance@naoc.example"), "verify")
    assert checked.exit_code == 1, checked.stderr
    assert "[integrity] SQLite integrity_check:" in checked.stdout


def test_a_flipped_bit_in_an_index_page_is_damage_service(ledger: Path) -> None:
    _index_text_not_utf8(ledger)
    engine = db.open_engine(db.url_for_path(ledger))
    try:
        with (
            pytest.raises(DamagedFile, match="Could not decode to UTF-8"),
            db.transaction(engine, write=False) as session,
        ):
            build_report(
                session,
                ctx_for(CURATOR),
                ReportRequest(kind="custody", loan="L-2025-OU"),
                generated_at=ctx_for(CURATOR).now,
            )
    finally:
        engine.dispose()


def test_a_malformed_event_page_is_a_finding_or_one_line_cli(ledger: Path, tmp_path: Path) -> None:
    _event_page_malformed(ledger)
    checked = invoke(env_for(ledger, "compliance@naoc.example"), "verify")
    assert checked.exit_code == 1, (checked.stderr, checked.exception)
    assert checked.stderr == ""
    assert "the database file is damaged (database disk image is malformed)" in checked.stdout
    exported = invoke(env_for(ledger), "export", "--events", str(tmp_path / "e.jsonl"))
    assert exported.exit_code == 3, (exported.stderr, exported.exception)
    assert _one_line(exported.stderr) == (
        f"Error: the ledger {ledger} is damaged (SQLite says: database disk image is malformed); "
        "nothing was written; run 'sampleloans verify' and restore the latest verified backup\n"
    )
    assert sorted(os.listdir(tmp_path)) == ["ledger.db"]


def test_a_malformed_event_page_is_a_finding_or_damage_service(
    ledger: Path, tmp_path: Path
) -> None:
    _event_page_malformed(ledger)
    engine = db.open_engine(db.url_for_path(ledger))
    try:
        found = verify(engine)
        assert not found.ok
        assert any("database disk image is malformed" in p.message for p in found.problems)
        with pytest.raises(DamagedFile, match="database disk image is malformed"):
            export_events(engine, ctx_for(CURATOR), tmp_path / "e.jsonl")
    finally:
        engine.dispose()
    assert sorted(os.listdir(tmp_path)) == ["ledger.db"]


CUT_BYTES = 928
"""Cut off the end of the demo ledger's last page, which holds the newest events."""


def _cut_short(ledger: Path) -> None:
    size = ledger.stat().st_size
    assert size % PAGE_BYTES == 0
    os.truncate(ledger, size - CUT_BYTES)


def test_a_file_cut_inside_its_last_page_is_findings_and_one_line_cli(
    ledger: Path, tmp_path: Path
) -> None:
    _cut_short(ledger)
    checked = invoke(env_for(ledger, "compliance@naoc.example"), "verify")
    assert checked.exit_code == 1, (checked.stderr, checked.exception)
    assert checked.stderr == ""
    findings = checked.stdout.splitlines()[1:]
    assert findings and all(line.startswith("  [") for line in findings[:-1]), findings
    assert "has no kind, payload" in checked.stdout or "cannot be replayed" in checked.stdout
    exported = invoke(env_for(ledger), "export", "--events", str(tmp_path / "e.jsonl"))
    assert exported.exit_code == 3, (exported.stdout, exported.exception)
    assert _one_line(exported.stderr).startswith(f"Error: the ledger {ledger} is damaged")
    assert sorted(os.listdir(tmp_path)) == ["ledger.db"]


def test_a_file_cut_inside_its_last_page_is_findings_and_damage_service(
    ledger: Path, tmp_path: Path
) -> None:
    _cut_short(ledger)
    engine = db.open_engine(db.url_for_path(ledger))
    try:
        found = verify(engine)
        assert not found.ok
        assert all("\n" not in p.message for p in found.problems)
        with pytest.raises(DamagedFile, match=r"event \d+ has no kind"):
            export_events(engine, ctx_for(CURATOR), tmp_path / "e.jsonl")
    finally:
        engine.dispose()
    assert sorted(os.listdir(tmp_path)) == ["ledger.db"]


assert NOW  # the CLI's clock in env_for
