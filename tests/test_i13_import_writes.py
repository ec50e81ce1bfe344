"""Issue 13 points 3–4: what the import's unit of work writes, and what it keeps between batches.

The unit writes a changed row with an UPDATE of the columns that changed only (SQLite rewrites
the entry of every index on a column in the SET list), writes nothing for a value set to what it
already was, runs its writes as the driver's executemany, and forgets the rows read longest ago
when it holds too many. The result must be the same ledger, which `verify` proves.
"""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event
from typer.testing import CliRunner

from bench.generate import Scale, write_catalogue, write_history
from sampleloans.cli import app
from sampleloans.ledger import unit as unit_module
from sampleloans.ledger.unit import Unit
from sampleloans.models import Loan, Sample
from tests.conftest import CURATOR

SAMPLE = "CE5C0100YJFM00201"


@contextmanager
def _statements(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """Every statement the engine sends to the driver, with its parameters."""
    seen: list[tuple[str, Any]] = []

    def record(_c: Any, _cur: Any, statement: str, params: Any, _x: Any, _many: bool) -> None:
        seen.append((statement, params))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _updates(seen: list[tuple[str, Any]], table: str) -> list[tuple[str, Any]]:
    return [(sql, params) for sql, params in seen if sql.startswith(f"UPDATE {table} ")]


def test_an_update_sets_only_the_columns_that_changed(engine: Engine) -> None:
    with engine.begin() as connection, _statements(engine) as seen:
        unit = Unit(connection, checks_now=False)
        sample = unit.get(Sample, SAMPLE)
        assert sample is not None
        sample.storage_location = "cabinet 9"
        unit.flush()
        (update,) = _updates(seen, "sample")
        set_clause = re.search(r" SET (.*) WHERE ", update[0])
        assert set_clause is not None and set_clause.group(1) == "storage_location=?"
        stored = connection.exec_driver_sql(
            "SELECT storage_location FROM sample WHERE code = ?", (SAMPLE,)
        ).scalar_one()
        assert stored == "cabinet 9"
        connection.rollback()


def test_setting_a_value_it_already_has_writes_nothing(engine: Engine) -> None:
    with engine.begin() as connection, _statements(engine) as seen:
        unit = Unit(connection, checks_now=False)
        sample = unit.get(Sample, SAMPLE)
        assert sample is not None
        sample.storage_location = str(sample.storage_location)  # an equal value: no change
        assert unit.dirty_tables() == set()
        unit.flush()
        assert _updates(seen, "sample") == []
        connection.rollback()


def test_rows_of_one_shape_go_in_one_executemany(engine: Engine) -> None:
    with engine.begin() as connection, _statements(engine) as seen:
        unit = Unit(connection, checks_now=False)
        codes = [
            code for (code,) in connection.exec_driver_sql("SELECT code FROM sample ORDER BY code")
        ][:5]
        for code in codes:
            row = unit.get(Sample, code)
            assert row is not None
            row.storage_location = f"drawer {code}"
        unit.flush()
        (update,) = _updates(seen, "sample")
        assert len(update[1]) == len(codes)  # one statement, one parameter set per row
        stored: dict[str, str] = dict(
            connection.exec_driver_sql("SELECT code, storage_location FROM sample").fetchall()
        )
        assert all(stored[code] == f"drawer {code}" for code in codes)
        connection.rollback()


def test_release_forgets_the_rows_read_longest_ago(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with engine.begin() as connection:
        codes = [
            code for (code,) in connection.exec_driver_sql("SELECT code FROM sample ORDER BY code")
        ][:8]
        unit = Unit(connection, checks_now=False)
        for code in codes[:4]:  # batch 1
            assert unit.get(Sample, code) is not None
        unit.release()
        for code in codes[4:]:  # batch 2
            assert unit.get(Sample, code) is not None
        monkeypatch.setattr(unit_module, "KEEP_ROWS", 8)
        unit.release()
        held = {key[1][0] for key in unit._rows}
        assert held == set(codes[4:])  # the last batch's rows stay, the older batch's go
        assert unit.get(Loan, "no such loan") is None
        connection.rollback()


def test_a_cli_import_of_a_history_verifies_clean(
    engine: Engine,
    cli_env: dict[str, str],
    runner: CliRunner,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine.dispose()
    scale = Scale(samples=60, institutions=3, loans=12, events=900, report_events=30, runs=1)
    catalogue, history = tmp_path / "catalogue.csv", tmp_path / "history.jsonl"
    write_catalogue(catalogue, scale)
    write_history(history, scale)
    # the catalogue at the ledger's clock, the history (which starts a second later) after it
    for path, now in ((catalogue, cli_env["SAMPLELOANS_NOW"]), (history, "2025-06-01T09:00:00Z")):
        monkeypatch.setenv("SAMPLELOANS_NOW", now)
        done = runner.invoke(app, ["--as", CURATOR, "import", str(path)])
        assert done.exit_code == 0, done.output
    checked = runner.invoke(app, ["--as", CURATOR, "verify"])
    assert checked.exit_code == 0, checked.output
    shown = runner.invoke(app, ["--as", CURATOR, "loans", "show", "L-000000"])
    assert shown.exit_code == 0, shown.output
