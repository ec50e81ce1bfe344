"""The bulk path: catalogue CSV and history JSON Lines, all or nothing, every bad line named."""

import json
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.services.bulk import BulkRejected, import_records
from sampleloans.services.verify import verify
from tests.conftest import CURATOR, NOW, UOC_PI, ctx_for, fingerprint

LATER = NOW + timedelta(days=30)

HEADER = (
    "code,mission,origin,depth_top_cm,depth_bottom_cm,material_type,physical_form,"
    "purpose_class,mass,mass_source,storage_location,condition,record,source\n"
)


def catalogue(rows: list[str]) -> str:
    return HEADER + "".join(row + "\n" for row in rows)


def good_row(i: int) -> str:
    return f"BULK{i:04d},CE-5,scoop,,,regolith,powder,research,{i + 1} mg,illustrative,A,,,"


Record = dict[str, Any]
"""One history record as parsed JSON: its values are any JSON value."""


def history() -> list[Record]:
    def rec(kind: str, at: str, payload: Record, reason: str | None = None) -> Record:
        return {
            "kind": kind,
            "occurred_at": at,
            "actor": CURATOR,
            "payload": payload,
            "reason": reason,
            "corrects_seq": None,
        }

    loan = "L-BULK-1"
    return [
        rec(
            "agreement.created",
            "2025-04-02T10:00:00Z",
            {
                "number": "AG-BULK",
                "institution": "UoC",
                "term": "P5Y",
                "max_total_mass_ug": 5_000_000,
                "allowed_purposes": ["research"],
                "max_loan_period": "P1Y",
                "destructive_use_allowed": True,
            },
        ),
        rec("agreement.signed", "2025-04-03T10:00:00Z", {"number": "AG-BULK", "signed_by": "x"}),
        rec(
            "loan.requested",
            "2025-04-04T10:00:00Z",
            {
                "number": loan,
                "agreement": "AG-BULK",
                "pi": UOC_PI,
                "samples": ["CE5C0100YJFM00201"],
            },
        ),
        rec("loan.approved", "2025-04-05T10:00:00Z", {"number": loan}),
        rec("loan.issued", "2025-04-06T10:00:00Z", {"number": loan}),
        rec(
            "loan.shipped",
            "2025-04-07T10:00:00Z",
            {"number": loan, "direction": "outbound", "container": "box", "seal_number": "S1"},
        ),
        rec(
            "loan.received",
            "2025-04-08T10:00:00Z",
            {"number": loan, "seal_intact": True, "condition": "pristine"},
        ),
        rec(
            "loan.consumed",
            "2025-04-09T10:00:00Z",
            {
                "number": loan,
                "sample": "CE5C0100YJFM00201",
                "technique": "SIMS",
                "mass_ug": 2000,
                "destructive": True,
            },
        ),
    ]


def jsonl(records: Sequence[object]) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records)


def count(engine: Engine, table: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_catalogue_service_imports_and_verifies(engine: Engine) -> None:
    before = count(engine, "sample")
    lines = catalogue([good_row(i) for i in range(30)]).splitlines(keepends=True)
    with db.transaction(engine) as session:
        result = import_records(session, ctx_for(), lines, fmt="csv", batch=7)
    assert (result.records, result.events) == (30, 30)
    assert count(engine, "sample") == before + 30
    assert verify(engine).ok


def test_history_service_imports_and_verifies(engine: Engine) -> None:
    lines = jsonl(history()).splitlines(keepends=True)
    with db.transaction(engine) as session:
        result = import_records(session, ctx_for(now=LATER), lines, fmt="jsonl")
    assert result.events == 8
    assert verify(engine).ok
    with engine.connect() as connection:
        status = connection.execute(text("SELECT status FROM loan WHERE number='L-BULK-1'"))
        assert status.scalar_one() == "received"


def test_bad_catalogue_rows_all_reported_and_nothing_written(
    engine: Engine,
    db_path: Path,
    tmp_path: Path,
    cli_env: dict[str, str],
    runner: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SAMPLELOANS_NOW", "2025-05-01T09:00:00Z")
    rows = [good_row(0), good_row(1)]
    rows.insert(1, "BULK9001,CE-9,scoop,,,regolith,powder,research,1 mg,x,A,,,")  # line 3
    rows.append("BULK9002,CE-5,scoop,,,regolith,powder,research,12,x,A,,,")  # line 5: no unit
    rows.append(good_row(0))  # line 6: duplicate code
    path = tmp_path / "cat.csv"
    path.write_text(catalogue(rows), encoding="utf-8")
    engine.dispose()
    before = fingerprint(db_path)
    result = runner.invoke(app, ["--as", CURATOR, "import", str(path)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert [line.split(":")[0] for line in lines[:3]] == [f"cat.csv line {n}" for n in (3, 5, 6)]
    assert "mission 'CE-9': no such mission" in lines[0]
    assert "BULK0000 is already registered" in lines[2]
    assert lines[3].startswith("Error: cat.csv: 3 of 5 records refused; nothing was imported")
    assert fingerprint(db_path) == before


def test_bad_history_lines_all_reported_and_nothing_written(
    engine: Engine,
    db_path: Path,
    tmp_path: Path,
    cli_env: dict[str, str],
    runner: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SAMPLELOANS_NOW", "2025-05-01T09:00:00Z")
    records: list[object] = list(history())
    over = dict(history()[7])
    # more than held, within the 10 kg a mass may be (beyond is invalid input, as typed)
    over["payload"] = {**over["payload"], "mass_ug": 10**10}
    records.insert(3, "{not json")  # line 4
    records.insert(5, {**history()[3], "kind": "loan.teleported"})  # line 6
    records.append(over)  # line 11: more than held
    path = tmp_path / "history.jsonl"
    path.write_text(jsonl(records), encoding="utf-8")
    engine.dispose()
    before = fingerprint(db_path)
    result = runner.invoke(app, ["--as", CURATOR, "import", str(path)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert [line.split(":")[0] for line in lines[:3]] == [
        f"history.jsonl line {n}" for n in (4, 6, 11)
    ]
    assert "not valid JSON" in lines[0]
    assert "loan.teleported" in lines[1]
    assert "holds only" in lines[2]
    assert fingerprint(db_path) == before


def test_good_history_through_cli_then_verify(
    engine: Engine,
    tmp_path: Path,
    cli_env: dict[str, str],
    runner: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SAMPLELOANS_NOW", "2025-05-01T09:00:00Z")
    path = tmp_path / "history.jsonl"
    path.write_text(jsonl(history()), encoding="utf-8")
    engine.dispose()
    result = runner.invoke(app, ["--as", CURATOR, "import", str(path)])
    assert result.exit_code == 0, result.stderr
    assert "Imported 8 events" in result.stdout
    assert runner.invoke(app, ["--as", CURATOR, "verify"]).exit_code == 0


def test_derived_field_must_match_the_ledger(engine: Engine) -> None:
    records = history()[:5]
    records[4]["payload"] = {"number": "L-BULK-1", "items": [["CE5C0100YJFM00201", 1]]}
    with db.transaction(engine) as session, pytest.raises(BulkRejected) as caught:
        import_records(session, ctx_for(now=LATER), jsonl(records).splitlines(), fmt="jsonl")
    assert caught.value.details == [
        "line 5: payload: items is [['CE5C0100YJFM00201', 1]] but the ledger records "
        "[['CE5C0100YJFM00201', 1000000]]"
    ]


def test_researcher_may_not_import(
    engine: Engine,
    db_path: Path,
    tmp_path: Path,
    cli_env: dict[str, str],
    runner: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SAMPLELOANS_NOW", "2025-05-01T09:00:00Z")
    path = tmp_path / "cat.csv"
    path.write_text(catalogue([good_row(1)]), encoding="utf-8")
    engine.dispose()
    before = fingerprint(db_path)
    result = runner.invoke(app, ["--as", UOC_PI, "import", str(path)])
    assert result.exit_code == 4
    assert "only curators may import records" in result.stderr
    assert fingerprint(db_path) == before


def test_unknown_file_type_is_usage_error(
    engine: Engine,
    tmp_path: Path,
    cli_env: dict[str, str],
    runner: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SAMPLELOANS_NOW", "2025-05-01T09:00:00Z")
    path = tmp_path / "cat.xlsx"
    path.write_text("x", encoding="utf-8")
    result = runner.invoke(app, ["--as", CURATOR, "import", str(path)])
    assert result.exit_code == 2
    assert "neither a sample catalogue" in result.stderr


def test_missing_file_is_not_found(
    engine: Engine, db_path: Path, tmp_path: Path, cli_env: dict[str, str], runner: CliRunner
) -> None:
    engine.dispose()
    before = fingerprint(db_path)
    missing = tmp_path / "nowhere.csv"
    result = runner.invoke(app, ["--as", CURATOR, "import", str(missing)])
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: FILE: {missing} does not exist; give the path of a .csv or .jsonl file\n"
    )
    assert fingerprint(db_path) == before
