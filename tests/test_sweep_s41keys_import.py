"""`import` reads a key as the commands do: a catalogue's cells without the blanks around them
(the same registration as the plain cells); a history's payload is a record, read exactly: a
key with blanks around it names no record, refused by its line (exit 2), nothing imported."""

import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import CURATOR, DEMO_NOW, demo_copy, fingerprint

HEADER = (
    "code,mission,origin,depth_top_cm,depth_bottom_cm,material_type,physical_form,"
    "purpose_class,mass,mass_source,storage_location,condition,record,firmness,"
    "illustrative_fields,source"
)

REST = "scoop,,,regolith,powder,research,1 mg,published,shelf,ok,real,firm,,x"
"""A catalogue row's cells after its code and mission."""


def _import(db: Path, path: Path) -> Any:
    """`import FILE` as the curator on `db` at a fixed clock."""
    env = {"SAMPLELOANS_DB": str(db), "SAMPLELOANS_NOW": DEMO_NOW, "SAMPLELOANS_USER": None}
    return CliRunner().invoke(app, ["--as", CURATOR, "import", str(path)], env=env)


def _last_payload(db: Path) -> dict[str, object]:
    """The payload of the ledger's newest event."""
    with closing(sqlite3.connect(db)) as connection:
        row = connection.execute("SELECT payload FROM ledger_event ORDER BY seq DESC").fetchone()
    return dict(json.loads(row[0]))


def test_a_catalogue_row_with_blanks_around_its_keys_registers_the_same(tmp_path: Path) -> None:
    """' CE5ZZ0001 ', ' CE-5 ' register CE5ZZ0001 of CE-5, as the plain cells do."""
    payloads = []
    for name, code, mission in (("a", "CE5ZZ0001", "CE-5"), ("b", " CE5ZZ0001 ", "\tCE-5 ")):
        db = demo_copy(tmp_path / name)
        catalogue = tmp_path / name / "c.csv"
        catalogue.write_text(f"{HEADER}\n{code},{mission},{REST}\n", encoding="utf-8")
        result = _import(db, catalogue)
        assert result.exit_code == 0, result.stderr
        payloads.append(_last_payload(db))
    assert payloads[0] == payloads[1]
    assert (payloads[0]["code"], payloads[0]["mission"]) == ("CE5ZZ0001", "CE-5")


def test_a_history_key_with_blanks_around_it_is_refused_by_its_line(tmp_path: Path) -> None:
    """A history's `number` ' L-2025-OU' names no loan: its line, exit 2, nothing imported."""
    db = demo_copy(tmp_path / "d")
    event = {
        "kind": "loan.consumed",
        "occurred_at": "2026-04-27T10:00:00Z",
        "actor": CURATOR,
        "payload": {
            "number": " L-2025-OU",
            "sample": "CE5C0300YJFM00307",
            "mass_ug": 1000,
            "technique": "SEM",
            "destructive": False,
        },
        "reason": None,
        "corrects_seq": None,
    }
    history = tmp_path / "h.jsonl"
    history.write_text(json.dumps(event) + "\n", encoding="utf-8")
    before = fingerprint(db)
    result = _import(db, history)
    assert result.exit_code == 2
    assert result.stderr.startswith("h.jsonl line 1: loan ' L-2025-OU': no such loan")
    assert fingerprint(db) == before
