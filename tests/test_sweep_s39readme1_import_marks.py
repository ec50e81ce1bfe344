"""Sweep s39 (README audit): which imported events `custody history` marks "imported by".

The README said "each imported event also records the importing curator" of both formats; a
catalogue's registrations are recorded as the importing curator's own act (as `samples
register` records it), unmarked, and only an event imported from a history, whose `actor` may
be someone else, carries the mark. The README now says so; these tests hold both halves.
"""

import json
from pathlib import Path

from typer.testing import CliRunner

from sampleloans.cli import app

CURATOR = "first@naoc.example"
HEADER = (
    "code,mission,origin,depth_top_cm,depth_bottom_cm,material_type,physical_form,"
    "purpose_class,mass,mass_source,storage_location,condition,record,firmness,"
    "illustrative_fields,source"
)
NOW = "2026-06-01T00:00:00Z"
"""A fixed clock: the history's event may then be dated at the registration's very time."""
ROW = "CE5S39R1,CE-5,scoop,,,regolith,powder,research,5 mg,illustrative,Vault A,,,,,"


def _run(db: Path, *args: str) -> tuple[int, str, str]:
    """Run the CLI on `db` as the first curator, 200 columns wide: exit code, stdout, stderr."""
    env = {"SAMPLELOANS_DB": str(db), "NO_COLOR": "1", "COLUMNS": "200", "SAMPLELOANS_NOW": NOW}
    result = CliRunner().invoke(app, ["--as", CURATOR, *args], env=env, prog_name="sampleloans")
    return result.exit_code, result.stdout, result.stderr


def _ledger_with_catalogue_row(tmp_path: Path) -> Path:
    """A new ledger into which ROW was imported from a catalogue."""
    db = tmp_path / "ledger.db"
    made = _run(db, "init", "--curator-email", CURATOR, "--curator-name", "First Curator")
    assert made[0] == 0, made
    catalogue = tmp_path / "one.csv"
    catalogue.write_text(f"{HEADER}\n{ROW}\n", encoding="utf-8")
    assert _run(db, "import", str(catalogue))[0] == 0
    return db


def test_a_catalogue_registration_is_the_curators_own_unmarked(tmp_path: Path) -> None:
    db = _ledger_with_catalogue_row(tmp_path)
    code, out, err = _run(db, "custody", "history", "--sample", "CE5S39R1")
    assert (code, err) == (0, "")
    assert f"│ {CURATOR} " in out
    assert "imported by" not in out


def test_an_event_imported_from_a_history_is_marked(tmp_path: Path) -> None:
    db = _ledger_with_catalogue_row(tmp_path)
    moved = {
        "kind": "sample.moved",
        "occurred_at": NOW,
        "actor": CURATOR,
        "payload": {"code": "CE5S39R1", "storage_location": "Vault B"},
        "reason": "tidy",
    }
    history = tmp_path / "moves.jsonl"
    history.write_text(json.dumps(moved) + "\n", encoding="utf-8")
    code, _out, err = _run(db, "import", str(history))
    assert (code, err) == (0, "")
    code, out, err = _run(db, "custody", "history", "--sample", "CE5S39R1")
    assert (code, err) == (0, "")
    assert out.count("imported by") == 1
    assert f"(imported by {CURATOR})" in out
