"""Issue 13: the bench's same-rows floor writes exactly the rows the import writes."""

import sqlite3
from pathlib import Path

from bench.scaling import build, chain_stage, replay_writes, shape


def _rows(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table of a ledger file, sorted."""
    with sqlite3.connect(path) as con:
        tables = [
            name
            for (name,) in con.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        return {t: sorted(con.execute(f"SELECT * FROM {t}"), key=repr) for t in tables}


def test_the_same_rows_floor_rebuilds_the_imported_ledger(tmp_path: Path) -> None:
    imported = tmp_path / "ledger.db"
    built = build(imported, shape(1200), tmp_path, tmp_path / "writes")
    before = Path(built["before"])
    assert _rows(before)["ledger_event"] != _rows(imported)["ledger_event"]
    for fmt in ("csv", "jsonl"):
        seconds = replay_writes(before, (tmp_path / "writes").with_suffix(f".{fmt}"), tmp_path)
        assert seconds > 0
        before.write_bytes((tmp_path / "same-rows.db").read_bytes())
    replayed = _rows(before)
    assert len(replayed["ledger_event"]) > built["events"]  # with the ledger's own setup
    assert replayed == _rows(imported)


def test_the_chain_stage_alone_passes_on_an_imported_ledger(tmp_path: Path) -> None:
    imported = tmp_path / "ledger.db"
    build(imported, shape(1200), tmp_path)
    assert chain_stage(imported) > 0
