"""Sweep s30, an attacker with `sqlite3` (or the PostgreSQL owner): the checkpoint table's
other columns.

A kept checkpoint's row holds the signed note and, beside it, what `checkpoint` derived from the
same checkpoint: the Merkle frontier that `verify --since` extends the tree from, and the time
that `checkpoint list` shows. Full `verify` checked the note's signature and head only, so:

- a frontier hash changed (still valid base64, the right count) passed `verify` (exit 0), though
  the next `verify --since` refused it ("the kept Merkle frontier is not the signed one");
- a `created_at` changed to another time passed `verify` and `checkpoint list` showed it as when
  the checkpoint was made; one changed to text that is no time crashed `checkpoint list` with a
  traceback (`parse_datetime`), while `verify` still said OK.

Now `verify` names both (exit 1), and a row whose time is no time is damaged for every reader,
one line (exit 1), as a row whose note or frontier is garbage already was.
"""

import base64
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.services.checkpoints import kept_checkpoint_problems
from tests.conftest import CURATOR
from tests.i15_statement_helpers import copy_ledger, env_for, invoke, make_checkpoint
from tests.test_i14_postgres import pg_env, pg_ledger  # noqa: F401  (fixtures)

COMPLIANCE = "compliance@naoc.example"


@pytest.fixture
def kept(demo: Path, tmp_path: Path) -> dict[str, Any]:
    """A copy of the demo ledger with one checkpoint kept (and written to `cp`)."""
    ledger = copy_ledger(demo, tmp_path / "ledger.db")
    return {"db": ledger, **make_checkpoint(ledger, tmp_path)}


@contextmanager
def unprotected(ledger: Path) -> Iterator[sqlite3.Connection]:
    """The checkpoint table with its UPDATE trigger dropped, put back afterwards."""
    with sqlite3.connect(ledger) as connection:
        (trigger,) = connection.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'checkpoint_no_update'"
        ).fetchone()
        connection.execute("DROP TRIGGER checkpoint_no_update")
        yield connection
        connection.execute(trigger)


def _flipped_frontier(frontier_json: str) -> str:
    """The frontier with one bit of its first hash changed: still what a frontier looks like."""
    hashes = json.loads(frontier_json)
    first = bytearray(base64.b64decode(hashes[0]))
    first[0] ^= 1
    hashes[0] = base64.b64encode(bytes(first)).decode("ascii")
    return json.dumps(hashes)


def _full_verify(ledger: Path) -> Any:
    return invoke(env_for(ledger, COMPLIANCE), "verify")


def test_full_verify_names_a_kept_frontier_edited_behind_its_back(kept: dict[str, Any]) -> None:
    assert _full_verify(kept["db"]).exit_code == 0
    with unprotected(kept["db"]) as connection:
        (frontier,) = connection.execute("SELECT frontier FROM checkpoint").fetchone()
        connection.execute("UPDATE checkpoint SET frontier = ?", (_flipped_frontier(frontier),))
    full = _full_verify(kept["db"])
    assert full.exit_code == 1, full.stdout
    assert (
        "[checkpoint] kept checkpoint 1: its row in the checkpoint table is damaged (its Merkle "
        "frontier does not give the signed root): the table was edited" in full.stdout
    )


def test_full_verify_names_a_kept_time_edited_to_another_time(kept: dict[str, Any]) -> None:
    with unprotected(kept["db"]) as connection:
        connection.execute("UPDATE checkpoint SET created_at = '2020-01-01T00:00:00Z'")
    full = _full_verify(kept["db"])
    assert full.exit_code == 1, full.stdout
    assert "its time '2020-01-01T00:00:00Z' is not the signed time line" in full.stdout
    since = invoke(env_for(kept["db"], COMPLIANCE), "verify", "--since", str(kept["cp"]))
    assert since.exit_code == 1 and "is not the signed time line" in since.stdout


@pytest.mark.parametrize("args", [("checkpoint", "list"), ("checkpoint", "list", "--json")])
def test_a_kept_time_that_is_no_time_is_one_line_not_a_traceback(
    kept: dict[str, Any], args: tuple[str, ...]
) -> None:
    with unprotected(kept["db"]) as connection:
        connection.execute("UPDATE checkpoint SET created_at = 'garbage'")
    listed = invoke(env_for(kept["db"], COMPLIANCE), *args)
    assert listed.exception is None or isinstance(listed.exception, SystemExit), listed.exception
    assert listed.exit_code == 1, listed.stdout
    assert listed.stderr.startswith("Error: kept checkpoint 1: its row in the checkpoint table")
    assert listed.stderr.count("\n") == 1
    full = _full_verify(kept["db"])
    assert full.exit_code == 1 and "kept checkpoint 1: its row" in full.stdout


def test_service_level_kept_checkpoint_problems(kept: dict[str, Any]) -> None:
    engine = db.open_engine(db.url_for_path(kept["db"]))
    try:
        with engine.connect() as connection:
            assert kept_checkpoint_problems(connection) == []
        with unprotected(kept["db"]) as raw:
            (frontier,) = raw.execute("SELECT frontier FROM checkpoint").fetchone()
            raw.execute("UPDATE checkpoint SET frontier = ?", (_flipped_frontier(frontier),))
        with engine.connect() as connection:
            problems = kept_checkpoint_problems(connection)
    finally:
        engine.dispose()
    assert problems == [
        "kept checkpoint 1: its row in the checkpoint table is damaged (its Merkle frontier "
        "does not give the signed root): the table was edited"
    ]


def test_on_postgresql_an_edited_frontier_or_time_is_named_by_verify(
    pg_ledger: str,  # noqa: F811  (the fixture)
    runner: CliRunner,
    tmp_path: Path,
) -> None:
    key = tmp_path / "lender.key"
    assert runner.invoke(app, ["keys", "generate", "--out", str(key)]).exit_code == 0
    signed = runner.invoke(app, ["--as", CURATOR, "checkpoint", "--key", str(key)])
    assert signed.exit_code == 0, signed.stdout + signed.stderr
    with psycopg.connect(pg_ledger, autocommit=True) as connection:  # the superuser, tampering
        row = connection.execute("SELECT frontier FROM checkpoint").fetchone()
        assert row is not None
        frontier = str(row[0])
        connection.execute("ALTER TABLE checkpoint DISABLE TRIGGER USER")
        connection.execute(
            "UPDATE checkpoint SET frontier = %s, created_at = '2020-01-01T00:00:00Z'",
            (_flipped_frontier(frontier),),
        )
        connection.execute("ALTER TABLE checkpoint ENABLE TRIGGER USER")
    full = runner.invoke(app, ["--as", CURATOR, "verify"])
    assert full.exit_code == 1, full.stdout
    assert "its Merkle frontier does not give the signed root" in full.stdout
