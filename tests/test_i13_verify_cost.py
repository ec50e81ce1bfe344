"""Issue 13 point 5 / issue 15 point 3: a cheaper full `verify` that still proves everything.

- the replay's second computation (into the lean scratch schema) equals the stored projections
  exactly, on the demo ledger and on generated ledgers;
- one changed column of one row, in every projection table, is named by `verify` (table, key
  and column), through the CLI;
- the lean scratch has the ledger's tables and columns, only the indexes the replay reads;
- the invariants, checked a chunk of records at a time, find exactly what one whole pass finds;
- SQLite's integrity check, run on its own connection in a thread, is still reported, first.
"""

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, inspect
from sqlmodel import SQLModel
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.ledger import checks
from sampleloans.services import verify as verify_module
from sampleloans.services.verify import compare_table, replay_into, verify
from tests.conftest import COMPLIANCE, demo_copy
from tests.test_verify_tamper import (  # noqa: F401  (pytest fixtures used by name)
    engine,
    history,
    tamper,
    template,
)


def second_computation_differences(source: Engine, scratch: Path) -> list[str]:
    """Replay `source` into a lean scratch file, as verify does; every differing row."""
    target = db.scratch_engine(scratch)
    try:
        db.create_scratch_schema(target)
        assert replay_into(source, target, batch=7) is None  # several writes of the batch
        return [
            problem.message
            for table in db.projection_tables()
            for problem in compare_table(source, target, table)
        ]
    finally:
        target.dispose()


def test_the_replay_equals_the_projections_on_the_demo_ledger(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    demo_copy(folder)
    source = db.open_engine(db.url_for_path(folder / "ledger.db"))
    try:
        assert second_computation_differences(source, tmp_path / "scratch.db") == []
        assert verify(source).ok
    finally:
        source.dispose()


@pytest.mark.parametrize("events", [400, 3_000])
def test_the_replay_equals_the_projections_on_generated_ledgers(
    tmp_path: Path, events: int
) -> None:
    from bench.scaling import build, shape

    path = tmp_path / "ledger.db"
    built = build(path, shape(events), tmp_path)
    assert built["events"] >= events // 2
    source = db.open_engine(db.url_for_path(path))
    try:
        assert second_computation_differences(source, tmp_path / "scratch.db") == []
        found = verify(source)
        assert found.ok, found.problems[:3]
        assert found.events > built["events"]  # the import's events and the setup's
    finally:
        source.dispose()


def test_the_lean_scratch_has_the_ledgers_tables_and_columns(tmp_path: Path) -> None:
    lean = db.scratch_engine(tmp_path / "scratch.db")
    try:
        db.create_scratch_schema(lean)
        found = inspect(lean)
        for name, table in SQLModel.metadata.tables.items():
            # same columns in the same order: `SELECT *` of both sides lines up
            assert [c["name"] for c in found.get_columns(name)] == list(table.columns.keys())
            keys = found.get_pk_constraint(name)["constrained_columns"]
            assert keys == [c.name for c in table.primary_key.columns], name
            assert {i["name"] for i in found.get_indexes(name)} <= set(db.SCRATCH_INDEXES)
        with lean.connect() as connection:
            triggers = connection.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'trigger'"
            ).all()
        assert triggers == []
    finally:
        lean.dispose()


# --- one changed column of one row, in every projection table -----------------------------------


def _changed(value: Any) -> Any:
    """Another value of the same kind (a type the column accepts)."""
    if isinstance(value, bool) or (value in (0, 1) and isinstance(value, int)):
        return 1 - int(value) if value in (0, 1) else value + 1
    if isinstance(value, int):
        return value + 1
    if value is None:
        return 7
    return f"{value}x"


def _change_one_column(path: Path, table: str) -> tuple[str, str]:
    """Change one column of the first row (key order) of `table` with raw sqlite3: the last
    column whose change the table's CHECKs accept; the row's key text and the column."""
    keys = [c.name for c in SQLModel.metadata.tables[table].primary_key.columns]
    connection = sqlite3.connect(path, isolation_level=None)
    connection.row_factory = sqlite3.Row
    try:
        row = connection.execute(f"SELECT * FROM {table} ORDER BY {', '.join(keys)}").fetchone()
        assert row is not None, f"the rich history has no {table} row: extend the fixture"
        others = [name for name in row.keys() if name not in keys]  # noqa: SIM118  (a Row iterates values)
        where = " AND ".join(f"{key} = ?" for key in keys)
        for column in reversed(others or keys[-1:]):
            try:
                connection.execute(
                    f"UPDATE {table} SET {column} = ? WHERE {where}",
                    (_changed(row[column]), *(row[key] for key in keys)),
                )
            except sqlite3.IntegrityError:
                continue  # a CHECK refused the value: another column
            return "/".join(str(row[key]) for key in keys), column
        raise AssertionError(f"no column of {table} could be changed")
    finally:
        connection.close()


@pytest.mark.parametrize("table", db.projection_tables())
def test_one_changed_column_in_every_projection_table_is_named(
    engine: Engine,  # noqa: F811
    history: tuple[int, str],  # noqa: F811
    db_path: Path,
    table: str,
) -> None:
    engine.dispose()
    key, column = _change_one_column(db_path, table)
    result = CliRunner().invoke(
        app, ["--db", str(db_path), "--as", COMPLIANCE, "verify"], env={"COLUMNS": "400"}
    )
    assert result.exit_code == 1, result.output
    text = " ".join(result.stdout.split())
    if column in [c.name for c in SQLModel.metadata.tables[table].primary_key.columns]:
        # a key changed: the stored row has no event, the replayed one is missing
        assert f"{table} row" in text and "no event produced it" in text, text
    else:
        assert f"{table} row {key}: {column} is" in text, text
        assert "but the events give" in text


# --- the invariants, a chunk at a time ------------------------------------------------------------

BROKEN = (
    "UPDATE sample SET vault_ug = 1 WHERE code = 'CE5C0400YJFM00505'",
    "UPDATE sample SET split_ug = split_ug + 3 WHERE code = 'CE5C0100YJFM00201'",
    "UPDATE loan_item SET held_ug = held_ug - 1000 WHERE loan_number = 'L-2'",
    "UPDATE agreement SET max_total_mass_ug = 1 WHERE number = 'AG-OU'",
)


def test_invariants_in_chunks_find_what_one_whole_pass_finds(
    engine: Engine,  # noqa: F811
    history: tuple[int, str],  # noqa: F811
    db_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tamper(db_path, *((sql, ()) for sql in BROKEN))
    with engine.connect() as connection:
        whole = {v.message for v in checks.run_checks(checks.build_snapshot(connection))}
    assert len(whole) >= len(BROKEN)  # each edit breaks at least one invariant
    monkeypatch.setattr(verify_module, "INVARIANT_CHUNK", 2)  # many chunks, neighbours in others
    chunked = [p.message for p in verify(engine).problems if p.area == "invariant"]
    assert sorted(chunked) == sorted(whole)  # the same findings, each once


# --- the integrity check on its own connection --------------------------------------------------


def test_the_integrity_check_in_its_thread_is_reported_first(
    engine: Engine,  # noqa: F811
    history: tuple[int, str],  # noqa: F811
    db_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    edit = "UPDATE sample SET vault_ug = vault_ug - 1 WHERE code = 'CE5C0400YJFM00505'"
    tamper(db_path, (edit, ()))
    threads: list[str] = []

    def damaged(connection: Any) -> list[str]:
        import threading

        threads.append(threading.current_thread().name)
        return ["Page 7: btreeInitPage() returns error code 11"]

    monkeypatch.setattr(db, "integrity_check", damaged)
    result = verify(engine)
    assert threads == ["verify-integrity-check"]  # not the verifying thread
    assert result.problems[0].area == "integrity"
    assert "Page 7" in result.problems[0].message
    assert any(p.area == "projection" for p in result.problems[1:])
