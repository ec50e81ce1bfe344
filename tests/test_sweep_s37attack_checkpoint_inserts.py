"""A row added to the checkpoint table by hand: its triggers refuse an UPDATE or DELETE but not
an INSERT, so anyone with the file could copy an old signed row (whose note and signature are
genuine) in as a checkpoint kept later. Before stop 37 `verify` said OK; now it names the row.
"""

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from sampleloans import db
from sampleloans.services.checkpoints import kept_checkpoint_problems
from tests.conftest import COMPLIANCE, CURATOR, DEMO_NOW, demo_copy
from tests.test_sweep_s37attack_receipt_refs import s37_cli

LATER = "2026-04-29T10:00:00Z"


@pytest.fixture
def two_kept(tmp_path: Path) -> dict[str, str]:
    """The demo with two kept checkpoints, an event between them."""
    path = demo_copy(tmp_path / "demo")
    env = {"SAMPLELOANS_DB": str(path), "SAMPLELOANS_NOW": DEMO_NOW, "NO_COLOR": "1"}
    key = tmp_path / "ck"
    assert s37_cli(env, CURATOR, "keys", "generate", "--out", str(key)).exit_code == 0
    assert s37_cli(env, CURATOR, "checkpoint", "--key", str(key)).exit_code == 0
    move = ["samples", "move", "CE5C0400YJFM00505", "--location", "cabinet C"]
    assert s37_cli({**env, "SAMPLELOANS_NOW": LATER}, CURATOR, *move).exit_code == 0
    made = s37_cli({**env, "SAMPLELOANS_NOW": LATER}, CURATOR, "checkpoint", "--key", str(key))
    assert made.exit_code == 0, made.stderr
    return {**env, "SAMPLELOANS_NOW": LATER, "KEY": str(key)}


def test_a_copied_checkpoint_row_is_named(two_kept: dict[str, str]) -> None:
    path = Path(two_kept["SAMPLELOANS_DB"])
    assert s37_cli(two_kept, COMPLIANCE, "verify").exit_code == 0  # no false alarm first
    with closing(sqlite3.connect(path)) as connection:
        connection.execute(
            "INSERT INTO checkpoint SELECT 3, tree_size, note, public_key, frontier, created_at "
            "FROM checkpoint WHERE id = 1"
        )
        connection.commit()  # no trigger dropped: an INSERT passes them
    verified = s37_cli(two_kept, COMPLIANCE, "verify")
    assert verified.exit_code == 1
    assert (
        "[checkpoint] kept checkpoint 3 repeats the note of kept checkpoint 1: no 'checkpoint' "
        "run writes one twice; the row was added by hand"
    ) in verified.stdout


def test_the_same_head_signed_twice_is_no_finding(two_kept: dict[str, str]) -> None:
    """`checkpoint` run again with no event since signs the same note (Ed25519 is
    deterministic): the two rows are as `checkpoint` writes them, not a finding; nor is a
    copy of the newest row, which vouches for nothing the newest does not."""
    again = s37_cli(two_kept, CURATOR, "checkpoint", "--key", str(Path(two_kept["KEY"])))
    assert again.exit_code == 0, again.stderr
    verified = s37_cli(two_kept, COMPLIANCE, "verify")
    assert verified.exit_code == 0, verified.stdout
    assert "verify: OK" in verified.stdout


def test_a_checkpoint_row_covering_fewer_events_than_the_one_before_is_named(
    two_kept: dict[str, str],
) -> None:
    path = Path(two_kept["SAMPLELOANS_DB"])
    with closing(sqlite3.connect(path)) as connection:
        # the first row again under a new id, its note changed by a byte: no longer a copy
        connection.execute(
            "INSERT INTO checkpoint SELECT 3, tree_size, note || ' ', public_key, frontier, "
            "created_at FROM checkpoint WHERE id = 1"
        )
        connection.commit()
    engine = db.open_engine(db.url_for_path(path))
    try:
        with engine.connect() as connection:
            problems = kept_checkpoint_problems(connection)
    finally:
        engine.dispose()
    assert any(
        p.startswith("kept checkpoint 3 (107 events, ")
        and "comes after kept checkpoint 2 (108 events, " in p
        and p.endswith("but covers fewer events or was made earlier: the row was added by hand")
        for p in problems
    ), problems
