"""Issue 15 point 3: `verify`'s replay holds plain consumptions back and applies them a group at
a time (`ledger/consumed.py`), with the one-by-one replay as the fallback.

These tests hold it to the one-by-one replay (`replay_into(…, defer_consumptions=False)`): on
the bench's generated ledger with consumptions tampered at random (mass, time, loan, sample,
technique, index entries), both give the same first failure in the same words, the same index
findings and, when the replay passes, the same scratch copy row for row; for batches of 1, 7 and
5000 events. And `verify` names the same findings through the CLI.
"""

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.ledger import consumed, replay
from tests.test_sweep_s23verify5_deferred_writes import (  # noqa: F401  (`generated`: a fixture)
    _scratch_rows,
    generated,
)
from tests.test_verify_tamper import tamper

Outcome = tuple[str | None, list[Any], list[Any], int, dict[str, list[tuple[Any, ...]]] | None]


@pytest.fixture(scope="module")
def facts(generated: Path) -> dict[str, list[Any]]:  # noqa: F811
    """The generated ledger's consumptions, loans and samples (what a tamper picks from)."""
    connection = sqlite3.connect(generated)
    try:
        return {
            "consumed": [
                seq
                for (seq,) in connection.execute(
                    "SELECT seq FROM ledger_event WHERE kind = 'loan.consumed' ORDER BY seq"
                )
            ],
            "loans": [n for (n,) in connection.execute("SELECT number FROM loan ORDER BY 1")],
            "samples": [c for (c,) in connection.execute("SELECT code FROM sample ORDER BY 1")],
            "times": [
                t
                for (t,) in connection.execute("SELECT occurred_at FROM ledger_event ORDER BY seq")
            ],
        }
    finally:
        connection.close()


def _outcome(ledger: Path, scratch: Path, *, defer: bool, batch: int) -> Outcome:
    """What a whole replay as `verify`'s says: its failure, the index check's findings and, when
    it passes, every row of the scratch copy."""
    scratch.unlink(missing_ok=True)
    source = db.open_engine(db.url_for_path(ledger))
    target = db.scratch_engine(scratch)
    try:
        db.create_scratch_schema(target)
        with source.connect() as connection:
            check = replay.IndexCheck(connection)
            try:
                failure = replay.replay_into(
                    connection, target, batch=batch, index_check=check, defer_consumptions=defer
                )
                if failure is None:
                    check.finish()
            finally:
                check.close()
    finally:
        target.dispose()
        source.dispose()
    rows = _scratch_rows(scratch) if failure is None else None
    return failure, check.extra, check.missing, check.differences, rows


TAMPER = st.one_of(
    st.tuples(st.just("mass_ug"), st.sampled_from([0, -1, 1, 999, 10**6, 10**9, 2**63])),
    st.tuples(st.just("occurred_at"), st.integers(0, 10**6)),  # another event's time
    st.tuples(st.just("number"), st.integers(0, 10**6)),  # another loan, or none
    st.tuples(st.just("sample"), st.integers(0, 10**6)),  # another sample, or none
    st.tuples(st.just("technique"), st.sampled_from(["S\\u0049MS", "", "TEM"])),
    st.tuples(st.just("index"), st.integers(0, 4)),  # one of its entries dropped
)


def _tamper(path: Path, facts: dict[str, list[Any]], spots: list[tuple[int, Any]]) -> None:
    """Change the chosen consumptions (by their index among all of them) as drawn."""
    statements: list[tuple[str, tuple[Any, ...]]] = []
    for at, (what, value) in spots:
        seq = facts["consumed"][at % len(facts["consumed"])]
        if what == "mass_ug":
            statements.append(
                (
                    "UPDATE ledger_event SET payload = json_set(payload, '$.mass_ug', ?) "
                    "WHERE seq = ?",
                    (value if value < 2**63 else str(value), seq),
                )
            )
        elif what == "occurred_at":
            moment = facts["times"][value % len(facts["times"])]
            statements.append(
                ("UPDATE ledger_event SET occurred_at = ? WHERE seq = ?", (moment, seq))
            )
        elif what in ("number", "sample"):
            keys = facts["loans" if what == "number" else "samples"]
            key = keys[value % len(keys)] if value % 10 else "X-404"
            statements.append(
                (
                    f"UPDATE ledger_event SET payload = json_set(payload, '$.{what}', ?) "
                    "WHERE seq = ?",
                    (key, seq),
                )
            )
        elif what == "technique":
            statements.append(
                (
                    "UPDATE ledger_event SET payload = replace(payload, "
                    "json_quote(json_extract(payload, '$.technique')), ?) WHERE seq = ?",
                    (f'"{value}"', seq),
                )
            )
        else:
            statements.append(
                (
                    "DELETE FROM event_subject WHERE rowid = (SELECT rowid FROM event_subject "
                    "WHERE seq = ? ORDER BY subject_type LIMIT 1 OFFSET ?)",
                    (seq, value),
                )
            )
    tamper(path, *statements)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    spots=st.lists(st.tuples(st.integers(0, 10**6), TAMPER), min_size=0, max_size=3),
    batch=st.sampled_from([1, 7, 5000]),
)
def test_held_consumptions_replay_as_one_by_one(
    generated: Path,  # noqa: F811
    facts: dict[str, list[Any]],
    tmp_path: Path,
    spots: list[tuple[int, Any]],
    batch: int,
) -> None:
    path = tmp_path / "ledger.db"
    shutil.copyfile(generated, path)
    _tamper(path, facts, spots)
    held = _outcome(path, tmp_path / "held.db", defer=True, batch=batch)
    each = _outcome(path, tmp_path / "each.db", defer=False, batch=batch)
    assert held == each


def test_a_clean_ledger_holds_most_consumptions_back(
    generated: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The held path is the one taken, in groups (else the test above compares a path with
    itself): most consumptions are held, and most groups pass as a whole."""
    counts = {"taken": 0, "groups": 0, "at_once": 0}
    real_take, real_at_once = consumed.Consumptions.take, consumed.Consumptions._apply_at_once

    def take(self: consumed.Consumptions, *args: Any) -> Any:
        found = real_take(self, *args)
        counts["taken"] += found is not None
        return found

    def at_once(self: consumed.Consumptions, group: list[consumed.Held]) -> None:
        counts["at_once"] += len(group)
        counts["groups"] += 1
        real_at_once(self, group)

    monkeypatch.setattr(consumed.Consumptions, "take", take)
    monkeypatch.setattr(consumed.Consumptions, "_apply_at_once", at_once)
    outcome = _outcome(generated, tmp_path / "s.db", defer=True, batch=5000)
    assert outcome[0] is None and outcome[3] == 0
    connection = sqlite3.connect(generated)
    total = connection.execute(
        "SELECT count(*) FROM ledger_event WHERE kind = 'loan.consumed'"
    ).fetchone()[0]
    connection.close()
    assert counts["taken"] > total * 0.9
    assert counts["at_once"] > total * 0.5
    assert counts["groups"] < counts["at_once"] / 2


@pytest.mark.parametrize("what", ["mass_ug", "number", "occurred_at"])
def test_verify_names_a_tampered_consumption_as_before(
    generated: Path,  # noqa: F811
    facts: dict[str, list[Any]],
    tmp_path: Path,
    what: str,
) -> None:
    path = tmp_path / "ledger.db"
    shutil.copyfile(generated, path)
    value = {"mass_ug": 10**9, "number": 3, "occurred_at": 0}[what]
    _tamper(path, facts, [(len(facts["consumed"]) // 2, (what, value))])
    seq = facts["consumed"][len(facts["consumed"]) // 2]
    runner = CliRunner()
    args = ["--db", str(path), "--as", "curator@naoc.example", "verify"]
    result = runner.invoke(app, args, env={"COLUMNS": "400"})
    assert result.exit_code == 1, result.output
    each = _outcome(path, tmp_path / "each.db", defer=False, batch=5000)
    assert each[0] is not None and f"event {seq} (loan.consumed)" in each[0]
    assert each[0] in " ".join(result.output.split())
