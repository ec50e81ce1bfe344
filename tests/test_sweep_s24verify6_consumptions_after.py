"""Issue 15 point 3: `verify`'s replay leaves the consumption rows to one fill after it.

A whole replay of the ledger's own events (`verify`, its half beside) applies every
consumption to its loan, sample and item as before, but writes no consumption row for a plain
one (`apply.plain_consumption`); `replay.fill_consumptions` then writes them from the stored
events, in C (`json_extract`), those whose JSON a path reads as Python does, and in Python the
few others. A corrected consumption's row is written by its first correction.

These tests hold it to the replay that writes every consumption row as it goes: the scratch
copy is the same row for row (a ledger with corrected consumptions, the bench's generated
one), and `verify` names the same findings, in the same order, on tampered ledgers: payloads
changed (values, types, keys twice, escapes, times in another form), a consumption on a
closed loan or beyond what is held, the stored rows changed, deleted or forged (TAMPERS below,
run by `tests/test_sweep_s34suiteb_consumption_tampers.py`: a file of its own, so that the
suite's workers run the tamper cases beside the rest of this one).
"""

import shutil
import sqlite3
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
from sampleloans.models import Consumption
from sampleloans.services import corrections, loans, verify_halves
from sampleloans.services import verify as verify_module
from sampleloans.units import parse_mass_ug as mass
from tests.conftest import COMPLIANCE, run_on
from tests.test_sweep_s23verify5_deferred_writes import (  # noqa: F401  (`generated`: a fixture)
    _replayed,
    _replays,
    generated,
)
from tests.test_verify_tamper import tamper, template  # noqa: F401  (a pytest fixture by name)

Rows = dict[str, list[tuple[Any, ...]]]
SAMPLE = "CE5C0800YJFM00102"
"""The sample the rich history's loan L-2 holds (received, still with the borrower)."""


@pytest.fixture(scope="module")
def corrected(
    template: tuple[Path, tuple[int, str]],  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """The rich history and three consumptions on L-2, the first corrected twice."""
    path = tmp_path_factory.mktemp("corrected") / "ledger.db"
    shutil.copyfile(template[0], path)
    engine = db.open_engine(db.url_for_path(path))
    try:
        run = run_on(engine)
        spots = []
        for technique, used in (("SIMS", "1 mg"), ("TEM", "2 mg")):
            envelope = run(
                loans.consume,
                number="L-2",
                sample=SAMPLE,
                technique=technique,
                mass_ug=mass(used),
                destructive=True,
            )
            spots.append(envelope.seq)
        for new in ("3 mg", "2 mg"):
            run(
                corrections.correct_mass,
                corrects_seq=spots[0],
                mass_ug=mass(new),
                reason="balance recalibrated",
            )
        run(
            loans.consume,
            number="L-2",
            sample=SAMPLE,
            technique="EPMA",
            mass_ug=mass("1 mg"),
            destructive=False,
        )
        assert verify_module.verify(engine).ok
    finally:
        engine.dispose()
    return path


def _whole(ledger: Path, scratch: Path, *, later: bool, keep_rows: int, batch: int) -> Rows:
    """The scratch copy `verify`'s replay of the whole ledger writes (deferring its changes)."""
    return _replayed(ledger, scratch, defer=True, keep_rows=keep_rows, batch=batch, later=later)


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(keep_rows=st.sampled_from([1, 3, 40, 100_000]), batch=st.sampled_from([1, 4, 5000]))
def test_the_filled_scratch_copy_is_the_one_the_replay_wrote(
    corrected: Path,
    generated: Path,  # noqa: F811
    tmp_path: Path,
    keep_rows: int,
    batch: int,
) -> None:
    for ledger in (corrected, generated):
        after = _whole(ledger, tmp_path / "a.db", later=True, keep_rows=keep_rows, batch=batch)
        each = _whole(ledger, tmp_path / "e.db", later=False, keep_rows=keep_rows, batch=batch)
        assert after == each
        assert len(after["consumption"]) >= 4  # consumptions were compared


def test_the_fill_writes_the_plain_rows_and_the_replay_only_the_corrected_one(
    corrected: Path, tmp_path: Path
) -> None:
    """What each part wrote: the replay the corrected consumption's row (by its correction),
    the fill in C every other one, the fill in Python none (every payload here is plain)."""
    written: list[int] = []
    applied: list[int] = []
    real, real_insert = replay._consumption_row, unit_module.Unit.insert

    def spy(*row: Any) -> dict[str, Any]:
        written.append(int(row[0]))
        return real(*row)

    def insert(unit: unit_module.Unit, model: Any, **values: Any) -> None:
        if model is Consumption:
            applied.append(int(values["seq"]))
        real_insert(unit, model, **values)

    with (
        mock.patch.object(replay, "_consumption_row", spy),
        mock.patch.object(unit_module.Unit, "insert", insert),
    ):
        rows = _whole(corrected, tmp_path / "a.db", later=True, keep_rows=100_000, batch=10)
    assert written == []
    first_on_l2 = min(row[0] for row in rows["consumption"] if row[1] == "L-2")
    assert applied == [first_on_l2]  # by its first correction
    assert len(rows["consumption"]) == 4  # L-1's and L-2's three
    masses = {row[0]: row[5] for row in rows["consumption"]}
    assert masses[first_on_l2] == mass("2 mg")  # the last correction's mass


def _last_consumed(where: str = "") -> str:
    """The seq of the last `loan.consumed` event (of L-2's: uncorrected), as SQL."""
    return f"(SELECT max(seq) FROM ledger_event WHERE kind = 'loan.consumed'{where})"


LAST = _last_consumed()
FIRST = "(SELECT min(seq) FROM ledger_event WHERE kind = 'loan.consumed')"  # L-1's: now closed
CORRECTED = "(SELECT min(corrects_seq) FROM ledger_event WHERE kind = 'mass.corrected')"
TAMPERS = {
    "technique changed": f"UPDATE ledger_event SET payload = json_set(payload, "
    f"'$.technique', 'TEM') WHERE seq = {LAST}",
    "mass changed": f"UPDATE ledger_event SET payload = json_set(payload, '$.mass_ug', "
    f"json_extract(payload, '$.mass_ug') + 7) WHERE seq = {LAST}",
    "a corrected consumption's mass changed": f"UPDATE ledger_event SET payload = "
    f"json_set(payload, '$.mass_ug', 1500) WHERE seq = {CORRECTED}",
    "a correction's new mass changed": "UPDATE ledger_event SET payload = json_set(payload, "
    "'$.new_mass_ug', 2500) WHERE seq = (SELECT max(seq) FROM ledger_event "
    "WHERE kind = 'mass.corrected')",
    "on a closed loan": f"UPDATE ledger_event SET payload = json_set(payload, '$.number', "
    f"'L-1') WHERE seq = {LAST}",
    "more than is held": f"UPDATE ledger_event SET payload = json_set(payload, '$.mass_ug', "
    f"900000000) WHERE seq = {LAST}",
    "negative mass": f"UPDATE ledger_event SET payload = json_set(payload, '$.mass_ug', -5) "
    f"WHERE seq = {FIRST}",
    "destructive not a boolean": f"UPDATE ledger_event SET payload = json_set(payload, "
    f"'$.destructive', 'yes') WHERE seq = {LAST}",
    "destructive a number": f"UPDATE ledger_event SET payload = json_set(payload, "
    f"'$.destructive', 0) WHERE seq = {LAST}",
    "mass a real number": f"UPDATE ledger_event SET payload = json_set(payload, '$.mass_ug', "
    f"1000.0) WHERE seq = {LAST}",
    "mass written twice": f"UPDATE ledger_event SET payload = replace(payload, '{{', "
    f"'{{\"mass_ug\":999999999,') WHERE seq = {FIRST}",
    "an escaped text": f"UPDATE ledger_event SET payload = replace(payload, '\"SIMS\"', "
    f"'\"\\u0053IMS\"') WHERE seq = {FIRST}",
    "the number a number": f"UPDATE ledger_event SET payload = json_set(payload, '$.number', 2) "
    f"WHERE seq = {LAST}",
    "a field more": f"UPDATE ledger_event SET payload = json_set(payload, '$.note', 'x') "
    f"WHERE seq = {LAST}",
    "its time with an offset": "UPDATE ledger_event SET occurred_at = replace(occurred_at, 'Z', "
    f"'+00:00') WHERE seq = {LAST}",
    "its time unaware": "UPDATE ledger_event SET occurred_at = replace(occurred_at, 'Z', '') "
    f"WHERE seq = {LAST}",
    "its time with zero microseconds": "UPDATE ledger_event SET occurred_at = "
    f"replace(occurred_at, 'Z', '.000000Z') WHERE seq = {FIRST}",
    "a consumption row changed": "UPDATE consumption SET mass_ug = mass_ug + 5, "
    "technique = 'XRD' WHERE seq = " + LAST,
    "a consumption row's time changed": "UPDATE consumption SET occurred_at = "
    f"'2024-01-01T00:00:00Z' WHERE seq = {FIRST}",
    "a consumption row deleted": f"DELETE FROM consumption WHERE seq = {CORRECTED}",
    "a consumption row forged": "INSERT INTO consumption SELECT seq + 1, loan_number, "
    "sample_code, technique, destructive, mass_ug, occurred_at FROM consumption "
    f"WHERE seq = {LAST}",
    "a consumption turned into another kind": "UPDATE ledger_event SET kind = 'loan.split' "
    f"WHERE seq = {LAST}",
}


def test_halves_fill_their_own_consumptions(corrected: Path, tmp_path: Path) -> None:
    """In two halves on two cores each half fills the consumptions it applied; the whole is
    clean, and a changed consumption row is named as in one piece."""
    path = tmp_path / "ledger.db"
    shutil.copyfile(corrected, path)
    engine = db.open_engine(db.url_for_path(path))
    spied: list[Path] = []
    real = verify_halves._add_rows

    def spy(target: Engine, beside: Path) -> None:
        spied.append(beside)
        real(target, beside)

    try:
        with (
            mock.patch.object(verify_halves, "REPLAY_BESIDE_EVENTS", 1),
            mock.patch.object(verify_halves, "_add_rows", spy),
        ):
            assert verify_module.verify(engine).ok
            tamper(path, (TAMPERS["a consumption row changed"], ()))
            halves = [problem.message for problem in verify_module.verify(engine).problems]
        with _replays(defer=True, keep_rows=100_000, batch=1000, later=False):
            whole = [problem.message for problem in verify_module.verify(engine).problems]
    finally:
        engine.dispose()
    assert len(spied) == 2  # both runs were replayed in halves
    assert halves == whole
    assert (
        f"consumption row {_seq(path, LAST)}: technique is 'XRD' but the events give 'EPMA'; "
        "mass_ug is 1005 but the events give 1000"
    ) in halves


def _seq(path: Path, query: str) -> int:
    """The seq a query of the tamper table names."""
    connection = sqlite3.connect(path)
    try:
        return int(connection.execute(f"SELECT {query}").fetchone()[0])
    finally:
        connection.close()


def test_the_cli_names_a_changed_consumption_row(corrected: Path, tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    shutil.copyfile(corrected, path)
    tamper(path, (TAMPERS["a consumption row deleted"], ()))
    answer = CliRunner().invoke(app, ["--db", str(path), "--as", COMPLIANCE, "verify"])
    assert answer.exit_code == 1, answer.output
    seq = _seq(corrected, CORRECTED)
    assert f"consumption row {seq} is produced by the events but missing" in answer.output


@pytest.mark.parametrize(
    "text",
    [
        "2025-04-02T13:13:21Z",
        "2025-04-02T13:13:21.000100Z",
        "2025-04-02T13:13:21.000000Z",
        "2025-04-02T13:13:21.100Z",
        "2025-04-02 13:13:21Z",
        "2025-04-02T13:13:21+00:00",
        "2025-04-02T15:13:21+02:00",
        "2025-W14-3T13:13:21Z",
        "20250402T131321Z",
    ],
)
def test_a_time_is_staged_as_it_is_only_where_it_is_the_stored_text(text: str) -> None:
    """The fill's fast path (`replay._STORED_TIME`) takes a time as it is exactly where the
    replay would store that text for it; any other is read and written again."""
    from datetime import datetime

    from sampleloans.models import utc_text

    stored = utc_text(datetime.fromisoformat(text))
    staged = list(replay._staged([(1, "{}", text)], None))
    assert staged == [(1, "{}", stored)]
    assert bool(replay._STORED_TIME.fullmatch(text)) == (stored == text)
