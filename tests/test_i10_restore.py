"""Issue 10 item 13: `restore --force` of an unrelated ledger, or of an older copy, must not
pass silently: another ledger needs --other-ledger, a copy lacking events needs --older."""

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine

from sampleloans import crashpoints, db
from sampleloans.errors import Conflict
from sampleloans.services import maintenance, setup
from sampleloans.services.reference import add_institution
from tests.conftest import CURATOR, ctx_for, fingerprint


def cli(db_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real CLI on `db_path`, as the curator."""
    env = {k: v for k, v in os.environ.items() if k != crashpoints.ENV_VAR}
    env.update(SAMPLELOANS_DB=str(db_path), SAMPLELOANS_USER=CURATOR, COLUMNS="200")
    env.update(SAMPLELOANS_NOW="2025-04-02T09:00:00Z")
    return subprocess.run(
        [sys.executable, "-m", "sampleloans", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def ledger_id(path: Path) -> str:
    with sqlite3.connect(path) as connection:
        row = connection.execute("SELECT value FROM ledger_meta WHERE key = 'ledger_id'")
        return str(row.fetchone()[0])


def head(path: Path) -> str:
    with sqlite3.connect(path) as connection:
        seq, hash_hex = connection.execute(
            "SELECT seq, hash FROM ledger_event ORDER BY seq DESC LIMIT 1"
        ).fetchone()
    return f"{seq}:{hash_hex}"


def add_lab(engine: Engine, name: str) -> None:
    with db.transaction(engine) as session:
        add_institution(
            session, ctx_for(), short_name=name, name="Lab", country="CN", city="B",
            institution_kind="borrower",
        )  # fmt: skip


@pytest.fixture
def unrelated(tmp_path: Path) -> Path:
    """A backup of another ledger (its own ledger_id), fewer events, the same curator."""
    path = tmp_path / "other" / "ledger.db"
    path.parent.mkdir()
    other = db.open_engine(db.url_for_path(path), create=True)
    with db.transaction(other) as session:
        setup.init_ledger(session, ctx_for(), curator_name="Another curator")
    other.dispose()
    return path


def test_a_backup_of_another_ledger_is_refused(
    engine: Engine, db_path: Path, unrelated: Path
) -> None:
    engine.dispose()
    before = fingerprint(db_path)
    refused = cli(db_path, "restore", str(unrelated), "--force")
    assert refused.returncode == 1
    assert refused.stdout == ""
    assert refused.stderr == (
        f"Error: FILE: {unrelated} is a backup of ledger {ledger_id(unrelated)}, not of this "
        f"ledger {ledger_id(db_path)}; nothing was restored (pass --other-ledger to replace this "
        "ledger with another one)\n"
    )
    assert fingerprint(db_path) == before


def test_other_ledger_replaces_it_and_says_so(
    engine: Engine, db_path: Path, unrelated: Path
) -> None:
    engine.dispose()
    old_id, old_head = ledger_id(db_path), head(db_path)
    restored = cli(db_path, "restore", str(unrelated), "--force", "--other-ledger")
    assert restored.returncode == 0, restored.stderr
    assert ledger_id(db_path) == ledger_id(unrelated) != old_id
    seq = old_head.split(":")[0]
    assert restored.stdout.splitlines()[1] == (
        f"Replaced ledger {old_id} (head {old_head}) with another ledger: its {seq} events "
        f"are no longer in {db_path}."
    )


def test_an_older_copy_is_refused_without_older(
    engine: Engine, db_path: Path, tmp_path: Path
) -> None:
    old = tmp_path / "old.db"
    maintenance.backup(engine, ctx_for(), old)
    add_lab(engine, "NEW1")
    add_lab(engine, "NEW2")
    engine.dispose()
    before, newer = fingerprint(db_path), head(db_path)
    old_seq, new_seq = int(head(old).split(":")[0]), int(newer.split(":")[0])
    refused = cli(db_path, "restore", str(old), "--force")
    assert refused.returncode == 1
    assert refused.stderr == (
        f"Error: FILE: {old} is older than this ledger: restoring it would remove 2 events of this "
        f"ledger (head {new_seq} → {old_seq}); nothing was restored (pass --older to roll the "
        "ledger back to it)\n"
    )
    assert fingerprint(db_path) == before
    rolled = cli(db_path, "restore", str(old), "--force", "--older")
    assert rolled.returncode == 0, rolled.stderr
    assert rolled.stdout.splitlines()[1] == (
        f"Rolled back: the restored head (event {old_seq}) is older than the ledger's was "
        f"({newer}); 2 events were removed."
    )
    assert head(db_path) == head(old)


def test_a_copy_that_extends_the_ledger_needs_no_flag(
    engine: Engine, db_path: Path, tmp_path: Path
) -> None:
    old, new = tmp_path / "old.db", tmp_path / "new.db"
    maintenance.backup(engine, ctx_for(), old)
    add_lab(engine, "NEW1")
    maintenance.backup(engine, ctx_for(), new)
    engine.dispose()
    assert cli(db_path, "restore", str(old), "--force", "--older").returncode == 0
    forward = cli(db_path, "restore", str(new), "--force")
    assert forward.returncode == 0, forward.stderr
    assert forward.stdout == (
        f"Restored {db_path} from {new}; verified; ledger head is now {head(new)}.\n"
    )


def test_a_diverged_copy_of_the_same_ledger_is_refused(
    engine: Engine, db_path: Path, tmp_path: Path
) -> None:
    fork = tmp_path / "fork.db"
    maintenance.backup(engine, ctx_for(), fork)
    add_lab(engine, "LIVE")  # the live ledger goes one way …
    forked = db.open_engine(db.url_for_path(fork))
    add_lab(forked, "FORK")  # … the copy another, at the same seq
    forked.dispose()
    engine.dispose()
    seq = int(head(db_path).split(":")[0])
    assert head(fork).split(":")[0] == str(seq) and head(fork) != head(db_path)
    before = fingerprint(db_path)
    refused = cli(db_path, "restore", str(fork), "--force")
    assert refused.returncode == 1
    assert refused.stderr.startswith(
        f"Error: FILE: {fork} differs from this ledger from event {seq} on: restoring it would "
        "remove 1 event of this ledger"
    )
    assert fingerprint(db_path) == before


def test_restore_service_refuses_another_ledger(
    engine: Engine, db_path: Path, unrelated: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "copy.db"
    shutil.copyfile(unrelated, copy)
    before = fingerprint(db_path)
    with pytest.raises(Conflict, match=r"is a backup of ledger .*--other-ledger"):
        maintenance.restore(engine, ctx_for(), copy, force=True)
    assert fingerprint(db_path) == before
    result = maintenance.restore(engine, ctx_for(), copy, force=True, other_ledger=True)
    assert result.replaced is not None and result.replaced.ledger_id != ledger_id(db_path)
    assert result.removed_events == result.replaced.head_seq
