"""`verify`'s replay in two halves on two cores (`ledger/halves.py`, `services/verify_halves.py`;
issue 13 point 5, issue 15 point 3).

The two halves together give exactly the whole replay's projections, on the demo, the rich
tamper-test history (incidents, corrections) and a generated (bench) ledger; no event is
replayed by both but the reference events; a ledger that differs is reported with the same
findings in the same order as by a replay in one piece; a second process that cannot run or
answer leaves the proof to this one; and `sampleloans verify` uses it through the CLI.
"""

import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.ledger import replay
from sampleloans.ledger.halves import BESIDE, BOTH, MAIN, REFERENCE_TABLES, split_in_two
from sampleloans.services import verify as verify_module
from sampleloans.services import verify_halves
from sampleloans.services.verify import compare_table, verify
from tests.conftest import COMPLIANCE
from tests.test_verify_tamper import (  # noqa: F401  (pytest fixtures used by name)
    engine,
    history,
    tamper,
    template,
)


def _whole_and_halves(ledger: Engine, scratch: Path) -> tuple[Engine, Path | None]:
    """A replay of the whole ledger in one piece, and the same in two halves (the path of the
    halves' scratch file, None where they were not clean)."""
    whole = db.scratch_engine(scratch / "whole.db")
    db.create_scratch_schema(whole)
    assert replay.replay_into(ledger, whole) is None
    with ledger.connect() as connection:
        db.begin_snapshot(connection)
        head = replay.last_taken(connection, replay.Cut())
        path = db.sqlite_path(ledger.url.render_as_string())
        assert path is not None
        halves = verify_halves.replay_in_halves(
            connection, scratch, path, head, replay.REPLAY_BATCH
        )
        connection.rollback()
    return whole, halves


def _assert_halves_equal_whole(ledger: Engine, scratch: Path) -> None:
    whole, halves = _whole_and_halves(ledger, scratch)
    assert halves is not None, "a clean ledger replays cleanly in halves"
    merged = db.scratch_engine(halves)
    try:
        for table in db.projection_tables():
            if table != "event_subject":
                assert compare_table(whole, merged, table) == [], table
                assert compare_table(ledger, merged, table) == [], table
    finally:
        whole.dispose()
        merged.dispose()


def _sides(ledger: Engine) -> tuple[int, int, int]:
    """How many events each side takes (MAIN only, BESIDE only, both)."""
    with ledger.connect() as connection:
        head = replay.last_taken(connection, replay.Cut())
        halves = split_in_two(connection, head, replay.REFERENCE_KINDS)
        kinds: dict[int, str] = dict(
            connection.exec_driver_sql("SELECT seq, kind FROM ledger_event").all()
        )
    sides = [halves.side[seq] for seq in range(1, head + 1)]
    both = [seq for seq in range(1, head + 1) if halves.side[seq] == BOTH]
    assert {kinds[seq] for seq in both} <= set(replay.REFERENCE_KINDS)
    return sides.count(MAIN), sides.count(BESIDE), len(both)


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    ledger = tmp_path / "demo.db"
    made = CliRunner().invoke(app, ["--db", str(ledger), "demo"])
    assert made.exit_code == 0, made.stderr
    return ledger


@pytest.fixture
def used(monkeypatch: pytest.MonkeyPatch) -> list[Path | None]:
    """What each replay in halves gave (its scratch file, or None where it was not clean), with
    every ledger large enough for it."""
    answers: list[Path | None] = []
    real = verify_halves.replay_in_halves

    def spy(*args: object, **kwargs: object) -> Path | None:
        answers.append(real(*args, **kwargs))  # type: ignore[arg-type]  # passed through
        return answers[-1]

    monkeypatch.setattr(verify_halves, "replay_in_halves", spy)
    monkeypatch.setattr(verify_halves, "REPLAY_BESIDE_EVENTS", 1)
    return answers


def test_the_demo_in_halves_equals_the_whole_replay(demo: Path, tmp_path: Path) -> None:
    ledger = db.open_engine(db.url_for_path(demo))
    try:
        main_only, beside_only, both = _sides(ledger)
        assert main_only > 0 and beside_only > 0 and both > 0  # a real split
        _assert_halves_equal_whole(ledger, tmp_path)
    finally:
        ledger.dispose()


def test_the_rich_history_in_halves_equals_the_whole_replay(
    engine: Engine,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Incidents, their resolution and corrections (read through the stored index)."""
    _assert_halves_equal_whole(engine, tmp_path)


def test_a_generated_ledger_in_halves_equals_the_whole_replay(tmp_path: Path) -> None:
    from bench.generate import SCALES, build

    path = tmp_path / "gen.db"
    build(path, SCALES["tiny"], tmp_path)
    ledger = db.open_engine(db.url_for_path(path))
    try:
        main_only, beside_only, _both = _sides(ledger)
        assert main_only > 0 and beside_only > 0
        assert abs(main_only - beside_only) < (main_only + beside_only) / 2  # shared
        _assert_halves_equal_whole(ledger, tmp_path)
    finally:
        ledger.dispose()


def test_the_reference_tables_are_written_by_reference_events_alone(demo: Path) -> None:
    """Both halves keep the reference tables; only one copy is added: that holds while no
    other event writes them (each half has all the events that do)."""
    assert set(REFERENCE_TABLES) == {"mission", "institution", "person"}
    assert not set(REFERENCE_TABLES) & set(verify_halves.MERGED_TABLES)
    assert set(verify_halves.MERGED_TABLES) | set(REFERENCE_TABLES) | {"event_subject"} == set(
        db.projection_tables()
    )


@pytest.mark.parametrize(
    "statements",
    [
        # a projection row changed: compared after the halves, as after one replay
        ("UPDATE sample SET vault_ug = vault_ug - 1 WHERE code = 'CE5C0400YJFM00505'",),
        # an index entry deleted and one forged: the halves are not relied on
        (
            "DELETE FROM event_subject WHERE rowid = (SELECT max(rowid) FROM event_subject "
            "WHERE subject_type = 'sample')",
            "INSERT INTO event_subject VALUES (3, 'loan', 'L-OTHER')",
        ),
        # every loan's status changed: many rows of one table
        ("UPDATE loan SET status = 'closed'",),
        # a sample's registration deleted: a later event of it cannot be replayed
        (
            "DELETE FROM ledger_event WHERE seq = (SELECT min(seq) FROM ledger_event "
            "WHERE kind = 'sample.registered' AND payload LIKE '%CE5C0400YJFM00505%')",
        ),
    ],
)
def test_findings_are_those_of_one_replay(
    engine: Engine,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    statements: tuple[str, ...],
) -> None:
    path = db.sqlite_path(engine.url.render_as_string())
    assert path is not None
    engine.dispose()
    tamper(path, *((sql, ()) for sql in statements))
    in_one_piece = verify(engine)
    monkeypatch.setattr(verify_halves, "REPLAY_BESIDE_EVENTS", 1)
    in_halves = verify(engine)
    assert not in_one_piece.ok
    assert in_halves.problems == in_one_piece.problems


def test_a_second_process_that_cannot_run_leaves_the_replay_here(
    engine: Engine,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    used: list[Path | None],
) -> None:
    assert verify(engine).ok
    assert len(used) == 1 and used[0] is not None  # the halves were used
    monkeypatch.setattr(verify_halves.sys, "executable", "/bin/false")  # exits 1 at once
    result = verify(engine)
    assert result.ok  # proved here instead
    assert len(used) == 2 and used[1] is None


def test_verify_replays_in_halves_through_the_cli(
    demo: Path, monkeypatch: pytest.MonkeyPatch, used: list[Path | None]
) -> None:
    monkeypatch.setattr(verify_module, "CHAIN_BESIDE_EVENTS", 1)
    before = demo.read_bytes()
    shown = CliRunner().invoke(app, ["--db", str(demo), "--as", COMPLIANCE, "verify"])
    assert shown.exit_code == 0, shown.output
    assert "OK" in shown.stdout or "ok" in shown.stdout.lower()
    assert len(used) == 1 and used[0] is not None
    assert demo.read_bytes() == before


def test_events_appended_during_the_halves_are_not_replayed(
    demo: Path, monkeypatch: pytest.MonkeyPatch, used: list[Path | None]
) -> None:
    """A writer appends after this snapshot began and before the second process opens its own:
    that process replays only up to the snapshot's head, and verify passes on that head."""
    from datetime import UTC, datetime

    from sampleloans.services.samples import move_sample
    from tests.conftest import ctx_for

    ledger = db.open_engine(db.url_for_path(demo))
    writer = db.open_engine(db.url_for_path(demo))
    real_split = verify_halves.split_in_two
    code = "CE5C0400YJFM00505"

    def split_then_write(*args: object, **kwargs: object) -> object:
        halves = real_split(*args, **kwargs)  # type: ignore[arg-type]  # passed through
        for shelf in range(3):
            with db.transaction(writer) as session:
                move_sample(
                    session, ctx_for(now=datetime(2026, 7, 1, tzinfo=UTC)), code=code,
                    storage_location=f"Shelf {shelf}",
                )  # fmt: skip
        return halves

    monkeypatch.setattr(verify_halves, "split_in_two", split_then_write)
    try:
        with ledger.connect() as connection:
            before = replay.last_taken(connection, replay.Cut())
        result = verify(ledger)
        with ledger.connect() as connection:
            after = replay.last_taken(connection, replay.Cut())
    finally:
        ledger.dispose()
        writer.dispose()
    assert after == before + 3  # the writer did append
    assert result.ok, result.problems
    assert result.head_seq == before
    assert len(used) == 1 and used[0] is not None  # and the halves were clean


def test_a_stream_whose_connection_is_gone_closes_quietly(demo: Path) -> None:
    """SIGTERM's exception inside a query makes SQLAlchemy close the connection; closing an
    open stream afterwards must not replace that exception with a driver error."""
    ledger = db.open_engine(db.url_for_path(demo))
    try:
        with ledger.connect() as connection:
            rows = db.stream_tuples(connection, "SELECT seq FROM ledger_event ORDER BY seq")
            assert next(rows) == (1,)
            connection.invalidate()  # what SQLAlchemy does on a BaseException in a query
            rows.close()  # no "Cannot operate on a closed database"
    finally:
        ledger.dispose()


def test_a_verify_terminated_during_the_halves_ends_the_second_process(
    engine: Engine,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    used: list[Path | None],
) -> None:
    """SIGTERM (`fileio.Terminated`) while this half replays: the termination propagates as
    itself, and the process beside is ended, not left to run on."""
    from sampleloans import fileio

    started: list[subprocess.Popen[str]] = []
    real_popen = verify_halves.subprocess.Popen

    def popen(*args: Any, **kwargs: Any) -> subprocess.Popen[str]:
        started.append(real_popen(*args, **kwargs))
        return started[-1]

    def terminated(*_args: object, **_kwargs: object) -> None:
        raise fileio.Terminated(143)

    monkeypatch.setattr(verify_halves.subprocess, "Popen", popen)
    monkeypatch.setattr(verify_halves, "replay_half", terminated)
    with pytest.raises(fileio.Terminated):
        verify(engine)
    assert len(started) == 1 and started[0].poll() is not None  # ended, and waited for
