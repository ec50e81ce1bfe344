"""Issue 13 point 3 (stop 31, import8): an import's batch reads a row it does not hold on the
driver (`db.read_one`, as a replay reads a forgotten row back), not through Core's execute.

- every row of every projection table of the golden ledger, read by an import's batch unit
  (`Unit(checks_now=False).get`), is the row Core reads: the same values of the same types;
- an import of consumptions into a copy of that ledger (every loan, item and sample read cold)
  writes the same ledger, byte for byte in every row and head, as the same import reading
  through Core, and a line the rules refuse is named alike (exit 1).
"""

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection
from sqlmodel import SQLModel
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.ledger import unit as unit_module
from sampleloans.ledger.unit import Unit
from tests.conftest import CURATOR, GOLDEN

LOANS = {  # the golden ledger's items held by their borrower
    "L-2025-UoC": ["CE5C0000YJYX052", "CE5C0800YJFM00102-01"],
    "L-2025-Osaka": ["CE5C0000YJYX061", "CE5C0100YJFM00201-02", "CE5C0000YJYX061-G1"],
    "L-2025-OU": ["CE5C0200YJFM00112", "CE5C0300YJFM00307", "CE5C0500YJFM00415"],
}


def _model_of(table: Any) -> Any:
    """The SQLModel class mapped to a table."""
    return next(m.class_ for m in SQLModel._sa_registry.mappers if m.local_table is table)


def test_a_batch_reads_every_row_as_core_reads_it(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.db"
    shutil.copy(GOLDEN / "ledger-0.1.db", ledger)
    engine = db.open_engine(db.url_for_path(ledger))
    compared = 0
    try:
        with engine.connect() as connection:
            stored = set(connection.exec_driver_sql("SELECT name FROM sqlite_master").scalars())
            for table in SQLModel.metadata.sorted_tables:
                if table.name not in stored:  # a table release 0.1 did not have
                    continue
                model = _model_of(table)
                info = unit_module._info(model)
                for row in connection.execute(table.select()):
                    core = dict(row._mapping)
                    ident = tuple(core[name] for name in info.key_columns)
                    unit = Unit(connection, checks_now=False)  # cold: the row is read
                    held = unit.get(model, ident)
                    assert held is not None
                    read = {name: held.__dict__[name] for name in core}
                    assert read == core
                    assert [type(v) for v in read.values()] == [type(v) for v in core.values()]
                    compared += 1
            connection.rollback()
    finally:
        engine.dispose()
    assert compared > 100  # events, their index, samples, loans, items, people …


def _core_read(unit: Unit, info: Any, ident: tuple[Any, ...]) -> dict[str, Any] | None:
    """The read before the change: through Core's execute."""
    reading: Connection = unit._reader_of(info.table.name)
    row = reading.execute(info.select, info.key_params(ident)).first()
    return None if row is None else dict(row._mapping)


def _history(path: Path, refused: bool) -> None:
    """Consumptions on every held item of three loans (a too large one on line 5 if refused)."""
    lines, minute = [], 0
    for number, codes in LOANS.items():
        for code in codes:
            minute += 1
            mass = 10**9 if refused and minute == 5 else 7
            payload = {
                "number": number,
                "sample": code,
                "technique": f"probe {minute}",
                "mass_ug": mass,
                "destructive": True,
            }
            at = f"2026-04-25T10:{minute:02d}:00Z"
            record = {"kind": "loan.consumed", "occurred_at": at, "actor": CURATOR}
            lines.append(json.dumps({**record, "payload": payload}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _dump(path: Path) -> list[str]:
    """Every row of the ledger file, as SQL."""
    with sqlite3.connect(path) as connection:
        return list(connection.iterdump())


@pytest.mark.parametrize("refused", [False, True])
def test_an_import_into_a_ledger_writes_as_it_did_reading_through_core(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refused: bool
) -> None:
    history = tmp_path / "history.jsonl"
    _history(history, refused)
    monkeypatch.setenv("SAMPLELOANS_NOW", "2026-05-01T10:00:00Z")
    answers, dumps = [], []
    for way in ("driver", "core"):
        ledger = tmp_path / f"{way}.db"
        shutil.copy(GOLDEN / "ledger-0.1.db", ledger)
        with monkeypatch.context() as patched:
            if way == "core":
                patched.setattr(Unit, "_read", _core_read)
            answer = CliRunner().invoke(
                app, ["--db", str(ledger), "--as", CURATOR, "import", str(history)]
            )
        head = CliRunner().invoke(app, ["--db", str(ledger), "--as", CURATOR, "verify"])
        answers.append((answer.exit_code, answer.output, head.exit_code))
        dumps.append(_dump(ledger))
    assert answers[0] == answers[1]
    assert dumps[0] == dumps[1]
    if refused:
        assert answers[0][0] == 1
        assert "line 5: mass_ug: cannot consume 1,000.000 g" in " ".join(answers[0][1].split())
    else:
        assert answers[0][0] == 0 and answers[0][2] == 0, answers[0]
