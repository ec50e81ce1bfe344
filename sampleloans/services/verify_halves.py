"""`verify`'s replay in two halves on two cores, for a large SQLite ledger (`ledger/halves.py`).

This process replays one half; a second process (`python -m sampleloans.services.replay_beside`)
replays the other into a scratch file of its own, reading the same file up to the head this
snapshot sees (events are append-only, so it reads the same rows). Each compares its events'
index entries as it goes. The second half's rows are then added to this one's, and the whole is
compared with the stored projections as a single replay would be.

Only a clean replay is taken from the halves: where either half cannot replay an event, the
index differs, or the second process does not answer, `verify` replays the whole ledger in one
piece (`None` here), so that what it names is what a single replay names.
"""

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Connection, Engine

from sampleloans import db
from sampleloans.ledger import replay
from sampleloans.ledger.halves import MAIN, REFERENCE_TABLES, Halves, split_in_two
from sampleloans.models import EventSubject

REPLAY_BESIDE_EVENTS = 100_000
"""From this many events on, a SQLite ledger is replayed in two halves (`verify`'s longest
stage: about 60 s of one core at 1M events). Below, the second process and the grouping of the
records would cost more than they save."""

MERGED_TABLES = tuple(
    table
    for table in db.projection_tables()
    if table not in REFERENCE_TABLES and table != EventSubject.__tablename__
)
"""What the second half adds to the first: every projection but the reference tables (both
halves have them) and the event index (compared as each half goes, never copied)."""


def replay_in_halves(
    connection: Connection,
    scratch: Path,
    ledger: Path,
    head: int,
    batch: int,
    progress: Callable[[int], None] | None = None,
    meanwhile: Callable[[], None] | None = None,
) -> Path | None:
    """Replay the ledger up to `head` in two halves into one scratch file (its path), or None
    where the whole ledger must be replayed in one piece (module docstring). `meanwhile` runs
    here once this half is clean, while the half beside finishes (it takes the larger share,
    `halves.BESIDE_SHARE`, so that both end together)."""
    halves = split_in_two(connection, head, replay.REFERENCE_KINDS)
    halves_path, beside = scratch / "halves.bin", scratch / "beside.db"
    halves.save(halves_path)
    command = [sys.executable, "-m", "sampleloans.services.replay_beside", str(ledger)]
    process = subprocess.Popen(
        [*command, str(head), str(halves_path), str(beside)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    path = scratch / "halves.db"
    target = db.scratch_engine(path)
    merged = False
    try:
        failure, differences = replay_half(
            connection, target, (halves, MAIN), head, batch, progress
        )
        clean = failure is None and differences == 0
        if clean and meanwhile is not None:
            meanwhile()
        output, _ = process.communicate() if clean else ("", None)
        if clean and process.returncode == 0 and _clean_answer(output):
            _add_rows(target, beside)
            merged = True
    finally:
        target.dispose()
        if process.poll() is None:  # not waited for: this half already failed
            process.kill()
            process.wait()
        beside.unlink(missing_ok=True)
        if not merged:  # the whole replay that follows needs the room
            path.unlink(missing_ok=True)
    return path if merged else None


def replay_half(
    connection: Connection,
    target: Engine,
    half: tuple[Halves, int],
    head: int,
    batch: int,
    progress: Callable[[int], None] | None = None,
) -> tuple[str | None, int]:
    """Replay one half (halves, which) of the ledger up to `head` into a new scratch schema in
    `target`, comparing its events' index entries as it goes: the first event that cannot be
    replayed (in words, or None) and the number of index entries that differ."""
    db.create_scratch_schema(target)
    check = replay.IndexCheck(connection, half)
    try:
        failure = replay.replay_into(
            connection,
            target,
            replay.Cut(up_to_seq=head),
            batch=batch,
            index_check=check,
            progress=progress,
            half=half,
        )
        if failure is None:
            check.finish()
    finally:
        check.close()
    return failure, check.differences


def _clean_answer(output: str) -> bool:
    """Whether the second process replayed its half cleanly (its JSON answer says so)."""
    try:
        answer = json.loads(output)
        return answer["failure"] is None and int(answer["differences"]) == 0
    except (ValueError, KeyError, TypeError):
        return False


def _add_rows(target: Engine, beside: Path) -> None:
    """Add the second half's rows to the first's scratch file."""
    with target.connect() as connection:
        db.attach(connection, beside, "beside")
        for table in MERGED_TABLES:
            connection.exec_driver_sql(f"INSERT INTO main.{table} SELECT * FROM beside.{table}")
        connection.commit()
        connection.exec_driver_sql("DETACH DATABASE beside")
