"""Issue 15 point 3: a replay writes a kept row's changes only when the row leaves memory.

`Unit(defer_changes=True)` (every replay from empty: `verify`, the half beside, "as of") writes
the rows it inserts at each batch, but the changes to a row it keeps wait until the row is
forgotten (`KEEP_ROWS`) or the replay's last flush. These tests hold it to the replay that
writes every change at every batch: the scratch copy is the same row for row, whatever the
batch size and however few rows are kept (so rows are forgotten with changes still owed, and
read back from the scratch file by later events, corrections among them), and `verify` names
the same findings on tampered ledgers, through the service and through the CLI.
"""

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.ledger import replay
from sampleloans.ledger import unit as unit_module
from sampleloans.services import verify as verify_module
from tests.conftest import COMPLIANCE
from tests.test_verify_tamper import (  # noqa: F401  (pytest fixtures used by name)
    engine,
    history,
    tamper,
    template,
)

Rows = dict[str, list[tuple[Any, ...]]]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated (bench, tiny) ledger: loans with many consumptions, returns, weighings."""
    from bench.generate import SCALES, build

    work = tmp_path_factory.mktemp("generated")
    path = work / "gen.db"
    build(path, SCALES["tiny"], work)
    return path


@contextmanager
def _replays(*, defer: bool, keep_rows: int, batch: int, later: bool = True) -> Iterator[None]:
    """Every replay from empty in this block defers its changes or not, keeps at most
    `keep_rows` rows and writes every `batch` events (`verify`'s batch as well); with `later`
    false, a whole replay writes every consumption row as it goes (no `fill_consumptions`)."""
    real = unit_module.Unit

    def made(*args: Any, **kwargs: Any) -> unit_module.Unit:
        """The unit a replay makes, with `defer_changes` (and `consumptions_later`) as this
        block says."""
        after = later and kwargs.get("consumptions_later", False)
        return real(*args, **{**kwargs, "defer_changes": defer, "consumptions_later": after})

    def no_fill(*_args: Any) -> None:
        """Nothing left to fill: the replay wrote every consumption row."""

    with (
        mock.patch.object(replay, "Unit", made),
        mock.patch.object(
            replay, "fill_consumptions", replay.fill_consumptions if later else no_fill
        ),
        mock.patch.object(unit_module, "KEEP_ROWS", keep_rows),
        mock.patch.object(verify_module, "VERIFY_REPLAY_BATCH", batch),
    ):
        yield


def _scratch_rows(path: Path) -> Rows:
    """Every row of every projection table of a scratch copy, in full order."""
    connection = sqlite3.connect(path)
    try:
        tables = [
            str(name)
            for (name,) in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        found: Rows = {}
        for table in tables:
            width = len(connection.execute(f"SELECT * FROM {table} LIMIT 0").description)
            order = ", ".join(str(i) for i in range(1, width + 1))
            found[table] = connection.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()
        return found
    finally:
        connection.close()


def _replayed(
    ledger: Path, scratch: Path, *, defer: bool, keep_rows: int, batch: int, later: bool = True
) -> Rows:
    """The scratch copy a replay of the whole ledger writes, as `verify` replays it (the
    ledger's own events, the index compared as it goes; `later`: as `_replays`)."""
    scratch.unlink(missing_ok=True)
    source = db.open_engine(db.url_for_path(ledger))
    target = db.scratch_engine(scratch)
    try:
        db.create_scratch_schema(target)
        with (
            source.connect() as connection,
            _replays(defer=defer, keep_rows=keep_rows, batch=batch, later=later),
        ):
            check = replay.IndexCheck(connection)
            try:
                failure = replay.replay_into(connection, target, batch=batch, index_check=check)
                check.finish()
            finally:
                check.close()
        assert failure is None, failure
        assert not check.extra and not check.missing
    finally:
        target.dispose()
        source.dispose()
    return _scratch_rows(scratch)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(keep_rows=st.sampled_from([1, 2, 5, 17, 60, 400]), batch=st.sampled_from([1, 3, 40, 5000]))
def test_a_deferring_replay_writes_the_same_rows_as_one_that_writes_each_batch(
    engine: Engine,  # noqa: F811
    generated: Path,
    tmp_path: Path,
    keep_rows: int,
    batch: int,
) -> None:
    rich = Path(str(engine.url.database))
    for ledger in (rich, generated):
        deferred = _replayed(
            ledger, tmp_path / "deferred.db", defer=True, keep_rows=keep_rows, batch=batch
        )
        each_batch = _replayed(
            ledger, tmp_path / "each.db", defer=False, keep_rows=keep_rows, batch=batch
        )
        assert deferred == each_batch
        assert sum(len(rows) for rows in deferred.values()) > 50  # a real replay was compared


def test_rows_are_forgotten_with_their_changes_still_owed(generated: Path, tmp_path: Path) -> None:
    """The case the deferral must get right happens: a row leaves memory holding a change that
    only its forgetting writes."""
    owed: list[int] = []
    real = unit_module.Unit._forget_all

    def spy(self: unit_module.Unit, keys: list[Any]) -> None:
        owed.append(sum(1 for key in keys if key in self._changed))
        real(self, keys)

    with mock.patch.object(unit_module.Unit, "_forget_all", spy):
        _replayed(generated, tmp_path / "r.db", defer=True, keep_rows=5, batch=3)
    assert sum(owed) > 0


TAMPERS = [
    # a projection row changed, of the tables every consumption changes
    "UPDATE loan_item SET consumed_ug = consumed_ug + 1 "
    "WHERE rowid = (SELECT min(rowid) FROM loan_item)",
    "UPDATE sample SET consumed_ug = consumed_ug + 1 WHERE code = 'CE5C0200YJFM00112'",
    "UPDATE loan SET status = 'closed'",
    "UPDATE consumption SET mass_ug = mass_ug + 5",
    # a row deleted, a row forged
    "DELETE FROM loan_item WHERE rowid = (SELECT max(rowid) FROM loan_item)",
    "INSERT INTO weighing SELECT seq + 100000, sample_code, loan_number, expected_ug, weighed_ug "
    "FROM weighing LIMIT 1",
    # an event's payload changed (its hash no longer matches, and the replay differs)
    "UPDATE ledger_event SET payload = replace(payload, '\"SIMS\"', '\"TEM\"') "
    "WHERE kind = 'loan.consumed'",
]


@pytest.mark.parametrize("statement", TAMPERS)
def test_verify_names_the_same_findings_deferring_or_not(
    engine: Engine,  # noqa: F811
    statement: str,
) -> None:
    path = Path(str(engine.url.database))
    tamper(path, (statement, ()))
    found = {}
    for defer in (True, False):
        with _replays(defer=defer, keep_rows=3, batch=2):
            result = verify_module.verify(engine)
        found[defer] = [(problem.area, problem.message) for problem in result.problems]
    assert found[True], statement  # the tamper is caught
    assert found[True] == found[False]


def test_the_cli_verify_of_a_tampered_ledger_with_few_rows_kept(
    engine: Engine,  # noqa: F811
) -> None:
    path = Path(str(engine.url.database))
    tamper(path, (TAMPERS[0], ()))
    with _replays(defer=True, keep_rows=2, batch=1):
        answer = CliRunner().invoke(app, ["--db", str(path), "--as", COMPLIANCE, "verify"])
    assert answer.exit_code == 1, answer.output
    assert "loan_item row" in answer.output


def test_a_replays_point_read_gives_every_row_as_core_reads_it(generated: Path) -> None:
    """The driver's point read (`db._DriverRead`) of every row of every projection table is
    the row `Connection.execute` gives: the same values of the same types."""
    from sqlmodel import SQLModel

    ledger = db.open_engine(db.url_for_path(generated))
    compared = 0
    try:
        with ledger.connect() as connection:
            for table in SQLModel.metadata.sorted_tables:
                model = next(
                    mapper.class_
                    for mapper in SQLModel._sa_registry.mappers
                    if mapper.local_table is table
                )
                info = unit_module._info(model)
                reader = db._DriverRead(info.select, connection.dialect, info.columns)
                for row in connection.execute(table.select()):
                    core = dict(row._mapping)
                    ident = tuple(core[name] for name in info.key_columns)
                    fast = reader.read_one(connection, info.key_params(ident))
                    assert fast == core
                    assert fast is not None
                    assert [type(value) for value in fast.values()] == [
                        type(value) for value in core.values()
                    ]
                    # the cached reader the unit uses gives it too
                    params = info.key_params(ident)
                    assert db.read_one(connection, info.select, params, info.columns) == core
                    compared += 1
                missing = tuple("-" if name != "seq" else -1 for name in info.key_columns)
                assert reader.read_one(connection, info.key_params(missing)) is None
            connection.rollback()
    finally:
        ledger.dispose()
    assert compared > 1000
