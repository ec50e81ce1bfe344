"""Issue 15 point 3: `verify`'s replay reads a SQLite ledger's plain consumptions as values
by SQL (`replay.PLAIN_CONSUMED`) and applies them without an event (`apply.consume_plain`),
with `apply` as the fallback wherever a rule would fail.

These tests hold it to the one-by-one replay (`replay_into(…, plain_consumptions=False)`): on
the bench's generated ledger with consumptions tampered at random (mass, time, loan, sample,
technique, destructive, index entries), both give the same first failure in the same words,
the same index findings and, when the replay passes, the same scratch copy row for row; for
batches of 1, 7 and 5000 events. And `verify` names the same findings through the CLI.
"""

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.ledger import replay
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


def _outcome(ledger: Path, scratch: Path, *, plain: bool, batch: int) -> Outcome:
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
                    connection, target, batch=batch, index_check=check, plain_consumptions=plain
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
    st.tuples(st.just("destructive"), st.sampled_from(["yes", 1, None])),
    st.tuples(st.just("mass_real"), st.sampled_from([1.5, 2.0])),
    st.tuples(st.just("extra"), st.sampled_from(["note", "mass_ug"])),  # a field, or one twice
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
        elif what == "destructive":
            statements.append(
                (
                    "UPDATE ledger_event SET payload = json_set(payload, '$.destructive', ?) "
                    "WHERE seq = ?",
                    (value, seq),
                )
            )
        elif what == "mass_real":
            statements.append(
                (
                    "UPDATE ledger_event SET payload = replace(payload, "
                    "'\"mass_ug\":' || json_extract(payload, '$.mass_ug'), '\"mass_ug\":' || ?) "
                    "WHERE seq = ?",
                    (str(value), seq),
                )
            )
        elif what == "extra":
            statements.append(
                (
                    "UPDATE ledger_event SET payload = substr(payload, 1, length(payload) - 1) "
                    "|| ', \"' || ? || '\": 7}' WHERE seq = ?",
                    (value, seq),
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


@example(spots=[(5, ("extra", "note"))], batch=7)  # a field a consumption does not have
@example(spots=[(9, ("extra", "mass_ug")), (20, ("mass_ug", 10**9))], batch=5000)
@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    spots=st.lists(st.tuples(st.integers(0, 10**6), TAMPER), min_size=0, max_size=3),
    batch=st.sampled_from([1, 7, 5000]),
)
def test_plain_consumptions_replay_as_one_by_one(
    generated: Path,  # noqa: F811
    facts: dict[str, list[Any]],
    tmp_path: Path,
    spots: list[tuple[int, Any]],
    batch: int,
) -> None:
    path = tmp_path / "ledger.db"
    shutil.copyfile(generated, path)
    _tamper(path, facts, spots)
    plain = _outcome(path, tmp_path / "plain.db", plain=True, batch=batch)
    each = _outcome(path, tmp_path / "each.db", plain=False, batch=batch)
    assert plain == each


def test_a_clean_ledger_applies_most_consumptions_as_values(
    generated: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The plain path is the one taken (else the test above compares a path with itself): all
    but a few consumptions are applied from their values, none falls back, and their rows are
    all there."""
    counts = {"plain": 0, "refused": 0}
    real = replay.consume_plain

    def spy(*args: Any) -> bool:
        done = real(*args)
        counts["plain" if done else "refused"] += 1
        return done

    monkeypatch.setattr(replay, "consume_plain", spy)
    outcome = _outcome(generated, tmp_path / "s.db", plain=True, batch=5000)
    assert outcome[0] is None and outcome[3] == 0
    connection = sqlite3.connect(generated)
    total = connection.execute(
        "SELECT count(*) FROM ledger_event WHERE kind = 'loan.consumed'"
    ).fetchone()[0]
    connection.close()
    assert counts["plain"] > total * 0.9
    assert counts["refused"] == 0
    assert outcome[4] is not None and len(outcome[4]["consumption"]) == total


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
    each = _outcome(path, tmp_path / "each.db", plain=False, batch=5000)
    assert each[0] is not None and f"event {seq} (loan.consumed)" in each[0]
    assert each[0] in " ".join(result.output.split())
