"""Issue 15 point 3: `verify` compares the event index many events at a time (`replay.IndexCheck`).

The replayed entries of `EVENTS_AT_ONCE` events are compared with the stored entries up to the
last of them as two sets; only where those differ is each event compared on its own, to name
the differences. These tests hold the batched comparison to an independent one, the set
difference between the stored index and the index a replay writes out in full, whatever the
batch size, with the index tampered at random (entries deleted, forged under an event, between
events or after the last, keys changed), for a whole replay and for the two halves together.
"""

import random
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.ledger import replay
from sampleloans.ledger.halves import BESIDE, MAIN, split_in_two
from sampleloans.services import verify_halves
from sampleloans.services.verify import verify
from tests.conftest import COMPLIANCE
from tests.test_verify_tamper import (  # noqa: F401  (pytest fixtures used by name)
    engine,
    history,
    tamper,
    template,
)

Entry = tuple[Any, ...]


def _copy(source: Path, target: Path) -> None:
    """A copy of a ledger file (sqlite3's backup)."""
    target.unlink(missing_ok=True)
    here, there = sqlite3.connect(source), sqlite3.connect(target)
    try:
        here.backup(there)
    finally:
        here.close()
        there.close()


def _stored_index(path: Path) -> set[Entry]:
    """The ledger's own index entries."""
    connection = sqlite3.connect(path)
    try:
        return set(connection.execute("SELECT seq, subject_type, subject_key FROM event_subject"))
    finally:
        connection.close()


class _Recording(replay.IndexCheck):
    """An index check that also keeps every entry the replayed events produced."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.produced: set[Entry] = set()

    def event(self, seq: int, entries: set[tuple[int, str, str]]) -> None:
        self.produced |= entries
        super().event(seq, entries)


def _checked(path: Path, scratch: Path, half: int | None) -> _Recording | None:
    """The index check of a replay of the whole ledger or of one half of it, finished; None
    where that half cannot replay (the halves are read from the index: `verify` then replays
    the whole ledger in one piece)."""
    ledger = db.open_engine(db.url_for_path(path))
    target = db.scratch_engine(scratch)
    try:
        db.create_scratch_schema(target)
        with ledger.connect() as connection:
            db.begin_snapshot(connection)
            head = replay.last_taken(connection, replay.Cut())
            halves = None
            if half is not None:
                halves = (split_in_two(connection, head, replay.REFERENCE_KINDS), half)
            check = _Recording(connection, halves)
            failure = replay.replay_into(
                connection, target, replay.Cut(up_to_seq=head), index_check=check, half=halves
            )
            if failure is None:
                check.finish()
            check.close()
            connection.rollback()
    finally:
        target.dispose()
        ledger.dispose()
    assert failure is None or half is not None, failure
    return check if failure is None else None


def _tamper_index(path: Path, seed: int, changes: int) -> None:
    """Change the stored index at random: delete entries, forge entries (under an event, past
    the head), change an entry's key."""
    pick = random.Random(seed)
    connection = sqlite3.connect(path)
    try:
        head = connection.execute("SELECT max(seq) FROM ledger_event").fetchone()[0]
        entries = sorted(connection.execute("SELECT * FROM event_subject"))
    finally:
        connection.close()
    statements: list[tuple[str, tuple[Any, ...]]] = []
    insert = "INSERT OR IGNORE INTO event_subject (seq, subject_type, subject_key) VALUES (?, ?, ?)"
    delete = "DELETE FROM event_subject WHERE seq = ? AND subject_type = ? AND subject_key = ?"
    for _ in range(changes):
        seq, subject_type, key = pick.choice(entries)
        what = pick.randrange(4)
        if what == 0:
            statements.append((delete, (seq, subject_type, key)))
        elif what == 1:  # forged under some event (maybe one with no entries)
            statements.append((insert, (pick.randint(1, head), "sample", f"FORGED-{seq}")))
        elif what == 2:  # past the last event
            statements.append((insert, (head + pick.randint(1, 5), "loan", "L-GHOST")))
        else:  # the key changed
            statements.append((delete, (seq, subject_type, key)))
            statements.append((insert, (seq, subject_type, key + "X")))
    tamper(path, *statements)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    seed=st.integers(0, 10_000),
    changes=st.integers(0, 6),
    at_once=st.sampled_from([1, 2, 3, 7, 64, 2000]),
    span=st.sampled_from([1, 2, 5, 4000]),
    read=st.sampled_from([1, 3, 5000]),
)
def test_the_batched_comparison_finds_the_set_difference(
    template: tuple[Path, tuple[int, str]],  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    seed: int,
    changes: int,
    at_once: int,
    span: int,
    read: int,
) -> None:
    """Whole replay and two halves: what the check names is the set difference between the
    stored index and the index the events produce, whatever the batch size, the span of seqs
    compared at once and the chunk of stored entries read at once."""
    work = Path(tempfile.mkdtemp(dir=tmp_path))  # one per example (tmp_path is shared)
    path = work / "ledger.db"
    _copy(template[0], path)
    _tamper_index(path, seed, changes)
    stored = _stored_index(path)
    monkeypatch.setattr(replay.IndexCheck, "EVENTS_AT_ONCE", at_once)
    monkeypatch.setattr(replay.IndexCheck, "SEQS_AT_ONCE", span)
    monkeypatch.setattr(replay.IndexCheck, "READ_AT_ONCE", read)
    monkeypatch.setattr(replay.IndexCheck, "LIMIT", 10_000)
    whole = _checked(path, work / "whole.db", None)
    assert whole is not None
    # a correction reads the stored index of the event it corrects (as the copy it replaced
    # did): what the events produce is what this replay handed to the check
    produced = whole.produced
    assert (set(whole.extra), set(whole.missing)) == (stored - produced, produced - stored)
    assert whole.differences == len(stored - produced) + len(produced - stored)
    main = _checked(path, work / "main.db", MAIN)
    beside = _checked(path, work / "beside.db", BESIDE)
    if main is None or beside is None:
        return  # halves read from a tampered index may not replay: verify does it in one piece
    assert set(main.extra) | set(beside.extra) == stored - produced
    assert set(main.missing) | set(beside.missing) == produced - stored
    assert main.differences + beside.differences == whole.differences


@pytest.mark.parametrize("at_once", [1, 3])
def test_verify_names_the_same_differences_in_batches_of_any_size(
    engine: Engine,  # noqa: F811
    history: tuple[int, str],  # noqa: F811
    db_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    at_once: int,
) -> None:
    """verify's findings and their order, in one piece and in halves, do not depend on how
    many events are compared at once."""
    engine.dispose()
    _tamper_index(db_path, seed=7, changes=6)
    default = [p.message for p in verify(engine).problems]
    assert any(message.startswith("event_subject") for message in default)
    monkeypatch.setattr(replay.IndexCheck, "EVENTS_AT_ONCE", at_once)
    assert [p.message for p in verify(engine).problems] == default
    monkeypatch.setattr(verify_halves, "REPLAY_BESIDE_EVENTS", 1)
    assert [p.message for p in verify(engine).problems] == default


def test_a_tampered_index_fails_verify_through_the_cli(
    engine: Engine,  # noqa: F811
    history: tuple[int, str],  # noqa: F811
    db_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`sampleloans verify` in halves, comparing two events at a time: exit 1, naming an entry
    deleted from the middle of the index."""
    connection = sqlite3.connect(db_path)
    try:
        entries = sorted(connection.execute("SELECT * FROM event_subject"))
    finally:
        connection.close()
    seq, subject_type, key = entries[len(entries) // 2]
    engine.dispose()
    delete = "DELETE FROM event_subject WHERE seq = ? AND subject_type = ? AND subject_key = ?"
    tamper(db_path, (delete, (seq, subject_type, key)))
    monkeypatch.setattr(replay.IndexCheck, "EVENTS_AT_ONCE", 2)
    monkeypatch.setattr(verify_halves, "REPLAY_BESIDE_EVENTS", 1)
    result = CliRunner().invoke(app, ["--db", str(db_path), "--as", COMPLIANCE, "verify"])
    assert result.exit_code == 1, result.output
    assert f"event_subject row {seq}/{subject_type}/{key} is produced by the events" in (
        result.output
    )
