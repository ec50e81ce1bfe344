"""Tampering with the file itself (flipped bytes), and the tamper classes at many random
positions in the soak tier (SAMPLELOANS_SOAK=1): `verify` must name every one."""

import os
import random
import shutil
import sqlite3
from pathlib import Path

from sqlalchemy import Engine
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.services.verify import verify
from tests.conftest import COMPLIANCE
from tests.test_verify_tamper import (  # noqa: F401  (pytest fixtures used by name)
    engine,
    found,
    history,
    mutate,
    tamper,
    template,
)

SOAK = os.environ.get("SAMPLELOANS_SOAK") == "1"
SEED = int(os.environ.get("SAMPLELOANS_SEED", "20250424"))
POSITIONS = 50 if SOAK else 5


def positions(head: int) -> list[int]:
    """Seeded random event positions (the seed is printed so a failure can be replayed)."""
    print(f"tamper seed: {SEED} (rerun with SAMPLELOANS_SEED={SEED})")
    rng = random.Random(SEED)
    return sorted(rng.sample(range(1, head + 1), min(POSITIONS, head)))


def flip_in_file(path: Path, needle: bytes) -> int:
    """Flip one byte of the first occurrence of `needle` in the raw file; return its offset."""
    data = bytearray(path.read_bytes())
    offset = data.find(needle)
    assert offset >= 0, "the stored value was not found in the file"
    data[offset] ^= 0x01  # e.g. '4' -> '5': still valid text, so SQLite itself cannot notice
    path.write_bytes(bytes(data))
    return offset


def test_flipped_bytes_in_stored_events_are_detected(
    engine: Engine,  # noqa: F811
    history: tuple[int, str],  # noqa: F811
    db_path: Path,
) -> None:
    engine.dispose()  # checkpoint: every event is in the main file, none in the -wal
    head = history[0]
    for seq in positions(head):
        copy = db_path.with_name(f"flip-{seq}.db")
        shutil.copy(db_path, copy)
        with sqlite3.connect(copy) as connection:
            stored_hash = connection.execute(
                "SELECT hash FROM ledger_event WHERE seq = ?", (seq,)
            ).fetchone()[0]
        flip_in_file(copy, stored_hash.encode("ascii"))
        flipped = db.open_engine(db.url_for_path(copy))
        result = verify(flipped)
        flipped.dispose()
        assert not result.ok, f"flipped byte in event {seq} went unnoticed"
        # the first copy of the hash text is in the table row (the chain names the event) or in
        # the unique index on hash (SQLite's integrity check names the index): both are found
        named = found(result, f"event {seq} (") or found(result, f"event {seq + 1} (")
        assert named or found(result, "integrity_check", "ledger_event"), seq


def test_a_damaged_file_is_reported_not_crashed(
    engine: Engine,  # noqa: F811
    history: tuple[int, str],  # noqa: F811
    db_path: Path,
) -> None:
    engine.dispose()
    data = bytearray(db_path.read_bytes())
    for offset in range(4096 * 2, 4096 * 2 + 64):  # scribble over a b-tree page header
        data[offset] = 0xFF
    db_path.write_bytes(bytes(data))
    result = CliRunner().invoke(app, ["--db", str(db_path), "--as", COMPLIANCE, "verify"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "the database file is damaged" in result.stdout or "integrity_check" in result.stdout


def test_edits_and_deletions_at_random_positions_are_detected(
    engine: Engine,  # noqa: F811
    history: tuple[int, str],  # noqa: F811
    db_path: Path,
) -> None:
    engine.dispose()
    head = history[0]
    for seq in positions(head):
        for kind in ("edit", "delete"):
            copy = db_path.with_name(f"{kind}-{seq}.db")
            shutil.copy(db_path, copy)
            with sqlite3.connect(copy) as connection:
                payload = connection.execute(
                    "SELECT payload FROM ledger_event WHERE seq = ?", (seq,)
                ).fetchone()[0]
            if kind == "edit":
                tamper(
                    copy,
                    ("UPDATE ledger_event SET payload = ? WHERE seq = ?", (mutate(payload), seq)),
                )
            else:
                tamper(
                    copy,
                    ("DELETE FROM event_subject WHERE seq = ?", (seq,)),
                    ("DELETE FROM ledger_event WHERE seq = ?", (seq,)),
                )
            tampered = db.open_engine(db.url_for_path(copy))
            result = verify(tampered, anchor=history)
            tampered.dispose()
            assert not result.ok, f"{kind} of event {seq} went unnoticed"
