"""Sweep of issue 15 as an attacker: the checkpoints a ledger keeps are anchors for `verify`.

Found: a ledger cut back below a checkpoint it kept passed `verify --since` an older kept
checkpoint ("OK"), and a chain recomputed after an edit passed a full `verify` although the
ledger kept signed checkpoints whose heads it no longer has; an edited row of the checkpoint
table made `verify --since`, `checkpoint list` and reports stop with a misleading "signed note"
error. Now both verifies check every kept checkpoint (its signature with the key kept beside
it, and that its head event is still there with the signed hash); a damaged row is named.
"""

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from sampleloans.ledger import chain
from tests.i15_statement_helpers import copy_ledger, env_for, invoke, make_checkpoint, make_demo

VAULT_SAMPLE = "CE5C0000YJBP005"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_demo(tmp_path_factory.mktemp("demo") / "d")


@pytest.fixture
def kept(demo: Path, tmp_path: Path) -> dict[str, Any]:
    """A ledger with two kept checkpoints, three events apart; the older one's file."""
    ledger = copy_ledger(demo, tmp_path / "ledger.db")
    older = make_checkpoint(ledger, tmp_path)
    (tmp_path / "older.txt").write_text(older["note"])
    for shelf in ("1", "2", "3"):
        moved = invoke(env_for(ledger), "samples", "move", VAULT_SAMPLE, "--location", shelf)
        assert moved.exit_code == 0, moved.stderr
    newer = make_checkpoint(ledger, tmp_path)
    return {"db": ledger, "older": tmp_path / "older.txt", "newer_size": newer["size"]}


@contextmanager
def unprotected(ledger: Path, table: str) -> Iterator[sqlite3.Connection]:
    """An attacker's write: drop the append-only triggers of `table`, edit, put them back."""
    connection = sqlite3.connect(ledger)
    triggers = connection.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", (table,)
    ).fetchall()
    for name, _sql in triggers:
        connection.execute(f"DROP TRIGGER {name}")
    yield connection
    for _name, sql in triggers:
        connection.execute(sql)
    connection.commit()
    connection.close()


def verify(ledger: Path, *args: str) -> Any:
    return invoke(env_for(ledger, "compliance@naoc.example"), "verify", *args)


def test_a_ledger_cut_below_a_kept_checkpoint_fails_both_verifies(kept: dict[str, Any]) -> None:
    assert verify(kept["db"], "--since", str(kept["older"])).exit_code == 0
    with unprotected(kept["db"], "ledger_event") as connection:
        connection.execute("DELETE FROM ledger_event WHERE seq > ?", (kept["newer_size"] - 2,))
    since = verify(kept["db"], "--since", str(kept["older"]))
    assert since.exit_code == 1, since.stdout
    assert f"kept checkpoint 2 covers {kept['newer_size']} events" in since.stdout
    full = verify(kept["db"])
    assert full.exit_code == 1
    assert "[checkpoint] kept checkpoint 2 covers" in full.stdout


def test_a_recomputed_chain_fails_full_verify_against_the_kept_checkpoints(
    kept: dict[str, Any],
) -> None:
    with unprotected(kept["db"], "ledger_event") as connection:
        connection.execute("UPDATE ledger_event SET actor = 'mallory@naoc.example' WHERE seq = 50")
        ledger_id = connection.execute(
            "SELECT value FROM ledger_meta WHERE key = 'ledger_id'"
        ).fetchone()[0]
        previous = chain.genesis_hash(ledger_id)
        rows = connection.execute(
            f"SELECT {', '.join(chain.BODY_FIELDS)} FROM ledger_event ORDER BY seq"
        ).fetchall()
        for row in rows:  # the whole chain made consistent again after the edit
            body = dict(zip(chain.BODY_FIELDS, row, strict=True))
            digest = chain.link_hash(previous, body)
            connection.execute(
                "UPDATE ledger_event SET prev_hash = ?, hash = ? WHERE seq = ?",
                (previous, digest, body["seq"]),
            )
            previous = digest
    full = verify(kept["db"])
    assert full.exit_code == 1, full.stdout
    assert "is not the head of kept checkpoint 1" in full.stdout
    assert "is not the head of kept checkpoint 2" in full.stdout


def test_an_edited_kept_checkpoint_is_named_not_a_crash(kept: dict[str, Any]) -> None:
    with unprotected(kept["db"], "checkpoint") as connection:
        connection.execute("UPDATE checkpoint SET note = replace(note, 'time 2', 'time 3')")
    full = verify(kept["db"])
    assert full.exit_code == 1
    assert "kept checkpoint 1: its signature does not verify" in full.stdout
    with unprotected(kept["db"], "checkpoint") as connection:
        connection.execute("UPDATE checkpoint SET note = 'garbage' WHERE id = 2")
    full = verify(kept["db"])
    assert full.exit_code == 1
    assert "kept checkpoint 2: its row in the checkpoint table is damaged" in full.stdout
    for args in (("verify", "--since", str(kept["older"])), ("checkpoint", "list")):
        refused = invoke(env_for(kept["db"], "compliance@naoc.example"), *args)
        assert refused.exit_code == 1, args
        assert refused.stderr.startswith("Error: kept checkpoint 2: its row")
        assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr


def test_an_event_edited_before_the_checkpoint_is_left_to_full_verify_which_says_so(
    kept: dict[str, Any],
) -> None:
    with unprotected(kept["db"], "ledger_event") as connection:
        connection.execute("UPDATE ledger_event SET actor = 'mallory@naoc.example' WHERE seq = 50")
    since = verify(kept["db"], "--since", str(kept["older"]))
    assert since.exit_code == 0  # by design: it does not re-read the events before it
    assert "not re-checked (a full 'verify' does): events 1–" in since.stdout
    assert "checked by the full verify before it was made, not now" in since.stdout
    full = verify(kept["db"])
    assert full.exit_code == 1 and "event 50" in full.stdout
