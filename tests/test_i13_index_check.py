"""Issue 13 point 5: `verify` compares the event index as the replay goes (`replay.IndexCheck`).

The replay of a whole ledger copies neither the events nor their index into the scratch file: it
reads the ledger's own (the chain stage proves the events) and compares each event's replayed
index entries with the stored ones under its seq. These tests show the comparison names every
kind of difference as the scratch comparison did, that the replay reads the stored index only
up to the event being applied, and that both ways of replaying give the same projections.
"""

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.ledger import replay
from sampleloans.services import verify as verify_module
from sampleloans.services.verify import VerifyResult, compare_table, verify
from tests.conftest import COMPLIANCE
from tests.test_verify_tamper import (  # noqa: F401  (pytest fixtures used by name)
    engine,
    history,
    tamper,
    template,
)


def _entries(path: Path, where: str = "1 = 1") -> list[tuple[int, str, str]]:
    """Stored index entries, in key order."""
    connection = sqlite3.connect(path)
    try:
        query = f"SELECT seq, subject_type, subject_key FROM event_subject WHERE {where} ORDER BY 1, 2, 3"  # noqa: E501
        return [tuple(row) for row in connection.execute(query)]
    finally:
        connection.close()


def _index_messages(ledger: Engine) -> list[str]:
    """What `verify` says about the event index."""
    return [p.message for p in verify(ledger).problems if p.message.startswith("event_subject")]


def test_a_deleted_index_entry_is_named_as_missing(
    engine: Engine,  # noqa: F811
    history: tuple[int, str],  # noqa: F811
    db_path: Path,
) -> None:
    seq, kind, key = _entries(db_path, "subject_type = 'sample'")[5]
    engine.dispose()
    tamper(
        db_path,
        (
            "DELETE FROM event_subject WHERE seq = ? AND subject_type = ? AND subject_key = ?",
            (seq, kind, key),
        ),
    )
    assert _index_messages(engine) == [
        f"event_subject row {seq}/{kind}/{key} is produced by the events but missing"
    ]


def test_entries_no_event_produced_are_named_wherever_they_are(
    engine: Engine,  # noqa: F811
    history: tuple[int, str],  # noqa: F811
    db_path: Path,
) -> None:
    head = history[0]
    seq = _entries(db_path)[10][0]
    engine.dispose()
    insert = "INSERT INTO event_subject (seq, subject_type, subject_key) VALUES (?, ?, ?)"
    tamper(
        db_path,
        (insert, (seq, "sample", "NOT-A-SAMPLE")),  # under an event that has entries
        (insert, (head + 7, "loan", "L-GHOST")),  # after the last event
    )
    assert _index_messages(engine) == [
        f"event_subject row {seq}/sample/NOT-A-SAMPLE is in the database but no event produced it",
        f"event_subject row {head + 7}/loan/L-GHOST is in the database but no event produced it",
    ]


def test_many_differences_are_counted_and_the_first_named(
    engine: Engine,  # noqa: F811
    history: tuple[int, str],  # noqa: F811
    db_path: Path,
) -> None:
    stored = len(_entries(db_path))
    assert stored > replay.IndexCheck.LIMIT  # the rich history has enough entries
    engine.dispose()
    tamper(db_path, ("DELETE FROM event_subject", ()))
    messages = _index_messages(engine)
    assert len(messages) == replay.IndexCheck.LIMIT + 1
    assert messages[-1] == "event_subject: more differences not shown"
    assert all("produced by the events but missing" in m for m in messages[:-1])


def test_verify_names_an_index_difference_through_the_cli(
    engine: Engine,  # noqa: F811
    history: tuple[int, str],  # noqa: F811
    db_path: Path,
) -> None:
    seq, kind, key = _entries(db_path, "subject_type = 'loan'")[0]
    engine.dispose()
    tamper(
        db_path,
        ("UPDATE event_subject SET subject_key = 'L-OTHER' WHERE seq = ? AND subject_type = ?",
         (seq, kind)),
    )  # fmt: skip
    result = CliRunner().invoke(
        app, ["--db", str(db_path), "--as", COMPLIANCE, "verify"], env={"COLUMNS": "400"}
    )
    assert result.exit_code == 1, result.output
    text = " ".join(result.stdout.split())
    assert f"event_subject row {seq}/loan/L-OTHER is in the database but no event produced" in text
    assert f"event_subject row {seq}/loan/{key} is produced by the events but missing" in text


def test_both_ways_of_replaying_give_the_same_projections(
    engine: Engine,  # noqa: F811
    history: tuple[int, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    """The rich history has an incident, its resolution and a correction of it: the replay
    that reads the stored index (subjects of the corrected event) equals the one that copies it,
    table by table, and the index it compares as it goes equals the stored index."""
    copied, read = db.scratch_engine(tmp_path / "a.db"), db.scratch_engine(tmp_path / "b.db")
    try:
        for target in (copied, read):
            db.create_scratch_schema(target)
        assert replay.replay_into(engine, copied) is None
        with engine.connect() as connection:
            db.begin_snapshot(connection)
            check = replay.IndexCheck(connection)
            assert replay.replay_into(connection, read, index_check=check) is None
            check.finish()
        assert (check.differences, check.extra, check.missing) == (0, [], [])
        with read.connect() as connection:  # nothing of the ledger's own was copied
            assert connection.exec_driver_sql("SELECT count(*) FROM ledger_event").scalar() == 0
            assert connection.exec_driver_sql("SELECT count(*) FROM event_subject").scalar() == 0
        for table in db.projection_tables():
            if table != "event_subject":
                assert compare_table(copied, read, table) == [], table
            assert compare_table(engine, copied, table) == [], table
    finally:
        copied.dispose()
        read.dispose()


def test_a_correction_reads_the_stored_index_only_up_to_the_event_applied(
    engine: Engine,  # noqa: F811
    history: tuple[int, str],  # noqa: F811
    db_path: Path,
) -> None:
    """An index entry forged under a later event, naming the corrected incident's sample, is not
    read by the replay of the correction (a copy would not hold it yet either): verify names the
    forged entry and nothing else."""
    connection = sqlite3.connect(db_path)
    try:
        (corrected,) = connection.execute(
            "SELECT corrects_seq FROM ledger_event WHERE corrects_seq IS NOT NULL ORDER BY seq"
        ).fetchone()
        (sample,) = connection.execute(
            "SELECT subject_key FROM event_subject WHERE seq = ? AND subject_type = 'sample'",
            (corrected,),
        ).fetchone()
    finally:
        connection.close()
    engine.dispose()
    forged = history[0] + 1
    tamper(
        db_path,
        (
            "INSERT INTO event_subject (seq, subject_type, subject_key) VALUES (?, 'sample', ?)",
            (forged, sample),
        ),
    )
    problems = [p.message for p in verify(engine).problems]
    assert problems == [
        f"event_subject row {forged}/sample/{sample} is in the database but no event produced it"
    ]


# --- the chain checked in a second process beside the replay (a large SQLite file) ---------------


def test_the_chain_checked_beside_finds_what_it_finds_here(
    engine: Engine,  # noqa: F811
    history: tuple[int, str],  # noqa: F811
    db_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An altered event and a changed projection row: the findings, their order, the head and
    the event count are the same whether the chain is checked here or in the second process."""
    engine.dispose()
    tamper(
        db_path,
        ("UPDATE ledger_event SET actor = 'mallory@example.org' WHERE seq = 9", ()),
        ("UPDATE sample SET vault_ug = vault_ug - 1 WHERE code = 'CE5C0400YJFM00505'", ()),
    )
    here = verify(engine, anchor=history)
    monkeypatch.setattr(verify_module, "CHAIN_BESIDE_EVENTS", 1)
    beside_result = verify(engine, anchor=history)
    assert [p.area for p in here.problems][:1] == ["chain"]
    assert any("event 9" in p.message for p in here.problems)
    assert beside_result.problems == here.problems
    assert (beside_result.events, beside_result.head) == (here.events, here.head)
    assert str(here.head).startswith(f"{history[0]}:")


def test_a_large_ledger_checks_its_chain_in_a_second_process(
    engine: Engine,  # noqa: F811
    history: tuple[int, str],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[int] = []
    real = verify_module._ChainCheck.start

    def start(self: verify_module._ChainCheck, *args: Any) -> None:
        real(self, *args)
        seen.append(0 if self.process is None else 1)

    answers: list[VerifyResult | None] = []
    read_answer = verify_module._chain_answer

    def answer(output: str) -> VerifyResult | None:
        answers.append(read_answer(output))
        return answers[-1]

    monkeypatch.setattr(verify_module._ChainCheck, "start", start)
    monkeypatch.setattr(verify_module, "_chain_answer", answer)
    assert verify(engine).ok
    monkeypatch.setattr(verify_module, "CHAIN_BESIDE_EVENTS", 1)
    result = verify(engine)
    assert result.ok and result.head == f"{history[0]}:{history[1]}"
    assert seen == [0, 1]  # here for a small ledger, beside for a large one
    assert len(answers) == 1 and answers[0] is not None  # the second process answered
    assert answers[0].head == result.head


def test_a_second_process_that_cannot_run_leaves_the_chain_checked_here(
    engine: Engine,  # noqa: F811
    history: tuple[int, str],  # noqa: F811
    db_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine.dispose()
    tamper(db_path, ("UPDATE ledger_event SET actor = 'mallory@example.org' WHERE seq = 9", ()))
    here = verify(engine)
    monkeypatch.setattr(verify_module, "CHAIN_BESIDE_EVENTS", 1)
    monkeypatch.setattr(verify_module.sys, "executable", "/bin/false")  # exits 1 at once
    fallen_back = verify(engine)
    assert fallen_back.problems == here.problems
    assert any(p.area == "chain" and "event 9" in p.message for p in here.problems)
    assert (fallen_back.events, fallen_back.head) == (here.events, here.head)


# --- a tampered key of another type (text in an integer key column) ------------------------------


def test_an_index_entry_whose_seq_is_text_is_named_not_a_crash(
    engine: Engine,  # noqa: F811
    history: tuple[int, str],  # noqa: F811
    db_path: Path,
) -> None:
    engine.dispose()
    insert = "INSERT INTO event_subject (seq, subject_type, subject_key) VALUES (?, ?, ?)"
    tamper(db_path, (insert, ("abc", "sample", "X")), (insert, ("12x", "loan", "Y")))
    assert [p.message for p in verify(engine).problems] == [
        "event_subject row 12x/loan/Y is in the database but no event produced it",
        "event_subject row abc/sample/X is in the database but no event produced it",
    ]


def test_a_weighing_whose_seq_is_text_is_named_not_a_crash(
    engine: Engine,  # noqa: F811
    history: tuple[int, str],  # noqa: F811
    db_path: Path,
) -> None:
    connection = sqlite3.connect(db_path)
    try:
        cursor = connection.execute("SELECT * FROM weighing ORDER BY seq LIMIT 1")
        names = [column[0] for column in cursor.description]
        row = list(cursor.fetchone())
    finally:
        connection.close()
    row[names.index("seq")] = "later"
    engine.dispose()
    placeholders = ", ".join("?" for _ in names)
    tamper(db_path, (f"INSERT INTO weighing ({', '.join(names)}) VALUES ({placeholders})", row))
    problems = [p.message for p in verify(engine).problems if p.area == "projection"]
    assert problems == [
        f"weighing row later/{row[names.index('sample_code')]} is in the database but no event "
        "produced it"
    ]


def test_a_replay_reading_the_ledgers_events_finds_no_later_or_malformed_event(
    engine: Engine,  # noqa: F811
    history: tuple[int, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    """What a forged payload may name instead of an earlier event: a later one, or not a seq at
    all. Neither is found, as in a copy that holds only the events replayed so far."""
    from sampleloans.ledger.unit import Unit
    from sampleloans.models import LedgerEvent

    scratch = db.scratch_engine(tmp_path / "scratch.db")
    try:
        db.create_scratch_schema(scratch)
        with engine.connect() as reading, scratch.begin() as writing:
            unit = Unit(writing, checks_now=False, empty=True, stored=reading)
            unit.insert_event({"seq": 5, "kind": "sample.registered"})
            assert unit.get(LedgerEvent, 4) is not None  # an earlier event: the ledger's own
            assert unit.get(LedgerEvent, 6) is None  # a later one is not replayed yet
            assert unit.get(LedgerEvent, "abc") is None  # not a seq: no such event
    finally:
        scratch.dispose()
