"""T7 backup and restore: consistent online copies while writers run, a verified restore, and
a rollback to an older copy caught by `verify --anchor` (docs/reliability.md)."""

import os
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine

from sampleloans import crashpoints, db
from sampleloans.errors import PermissionDenied
from sampleloans.services import maintenance
from sampleloans.services.verify import verify
from tests.conftest import COMPLIANCE, CURATOR, OU_PI, ctx_for, fingerprint
from tests.test_concurrency import WORKER, chain_problems

SOAK = os.environ.get("SAMPLELOANS_SOAK") == "1"
COPIES = 50 if SOAK else 5


def cli(db_path: Path, *args: str, actor: str = CURATOR) -> subprocess.CompletedProcess[str]:
    """Run the real CLI on `db_path` as `actor`."""
    env = {k: v for k, v in os.environ.items() if k != crashpoints.ENV_VAR}
    env.update(SAMPLELOANS_DB=str(db_path), SAMPLELOANS_USER=actor, COLUMNS="120")
    return subprocess.run(
        [sys.executable, "-m", "sampleloans", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def mode(path: Path) -> int:
    """Permission bits of a file."""
    return stat.S_IMODE(path.stat().st_mode)


def head(path: Path) -> str:
    """`SEQ:HASH` of a ledger file's last event."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
        seq, hash_ = connection.execute(
            "SELECT seq, hash FROM ledger_event ORDER BY seq DESC LIMIT 1"
        ).fetchone()
    return f"{seq}:{hash_}"


def verify_file(path: Path) -> list[str]:
    """verify's problems on a database file."""
    engine = db.make_engine(db.url_for_path(path))
    try:
        return [p.message for p in verify(engine).problems]
    finally:
        engine.dispose()


def test_backups_while_four_writers_run_all_verify(
    engine: Engine, db_path: Path, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    env = {k: v for k, v in os.environ.items() if k != crashpoints.ENV_VAR}
    appends = 400 if SOAK else 150
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(db_path), str(w), str(appends), str(go)],
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for w in range(4)
    ]
    time.sleep(1.0)
    go.touch()
    copies: list[Path] = []
    during = 0
    for index in range(COPIES):
        time.sleep(0.2)
        if all(w.poll() is None for w in writers):
            during += 1
        copy = tmp_path / f"copy-{index:03}.db"
        result = maintenance.backup(engine, ctx_for(COMPLIANCE), copy)
        assert result.path == copy
        copies.append(copy)
    for writer in writers:
        _, stderr = writer.communicate(timeout=600)
        assert writer.returncode == 0 and "Traceback" not in stderr, stderr[-2000:]
    assert during >= 1, "no copy was taken while the writers were running"
    final = {}
    with sqlite3.connect(db_path) as connection:
        final = dict(connection.execute("SELECT seq, hash FROM ledger_event"))
    seqs = []
    for copy in copies:
        assert mode(copy) == 0o600
        assert not Path(f"{copy}-wal").exists() and not Path(f"{copy}-journal").exists()
        assert verify_file(copy) == [], copy
        assert chain_problems(copy) == []
        seq, hash_ = head(copy).split(":")
        assert final[int(seq)] == hash_, "a copy is not a prefix of the live ledger"
        seqs.append(int(seq))
    assert seqs == sorted(seqs)
    assert not list(tmp_path.glob(".copy-*")), "temporary files left behind"
    print(
        f"{COPIES} backups ({during} while 4 writers ran) at seqs {seqs[0]}..{seqs[-1]}: verified"
    )


def test_backup_command_refuses_existing_file_and_writes_private_copy(
    engine: Engine, db_path: Path, tmp_path: Path
) -> None:
    engine.dispose()
    copy = tmp_path / "backup.db"
    result = cli(db_path, "backup", str(copy))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"Backed up {db_path} to {copy} at ledger head {head(db_path)}.\n"
    assert mode(copy) == 0o600
    assert fingerprint(copy) == fingerprint(db_path) or verify_file(copy) == []
    before = fingerprint(copy)
    again = cli(db_path, "backup", str(copy))
    assert again.returncode == 3
    assert (
        again.stderr == f"Error: FILE: {copy} already exists; choose another name or pass --force\n"
    )
    assert fingerprint(copy) == before
    forced = cli(db_path, "backup", str(copy), "--force")
    assert forced.returncode == 0, forced.stderr
    assert mode(copy) == 0o600
    itself = cli(db_path, "backup", str(db_path))
    assert itself.returncode == 2
    assert "is the ledger database itself" in itself.stderr


def test_researchers_may_not_back_up_and_compliance_may_not_restore(
    engine: Engine, db_path: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "backup.db"
    with pytest.raises(PermissionDenied, match="only curators or compliance officers may back"):
        maintenance.backup(engine, ctx_for(OU_PI), copy)
    assert not copy.exists()
    maintenance.backup(engine, ctx_for(COMPLIANCE), copy)
    engine.dispose()
    before = fingerprint(db_path)
    refused = cli(db_path, "restore", str(copy), "--force", actor=COMPLIANCE)
    assert refused.returncode == 4
    assert refused.stderr == (
        f"Error: {COMPLIANCE} is a compliance officer; only curators may restore the ledger\n"
    )
    assert fingerprint(db_path) == before


def test_restore_of_an_older_copy_is_flagged_as_rollback_by_verify_anchor(
    engine: Engine, db_path: Path, tmp_path: Path
) -> None:
    old = tmp_path / "old.db"
    maintenance.backup(engine, ctx_for(), old)
    engine.dispose()
    added = cli(db_path, "institutions", "add", "NEW", "--name", "New Lab", "--country", "CN",
                "--city", "Beijing", "--kind", "borrower")  # fmt: skip
    assert added.returncode == 0, added.stderr
    newer_head = head(db_path)
    before = fingerprint(db_path)

    refused = cli(db_path, "restore", str(old))
    assert refused.returncode == 3
    assert refused.stderr == (
        f"Error: --db: {db_path} already holds a ledger; pass --force to replace it with {old}\n"
    )
    assert fingerprint(db_path) == before

    restored = cli(db_path, "restore", str(old), "--force", "--older")
    assert restored.returncode == 0, restored.stderr
    assert restored.stdout == (
        f"Restored {db_path} from {old}; verified; ledger head is now {head(old)}.\n"
        f"Rolled back: the restored head (event {head(old).split(':')[0]}) is older than the "
        f"ledger's was ({newer_head}); 1 event was removed.\n"
    )
    assert head(db_path) == head(old) != newer_head
    assert mode(db_path) == 0o600
    for suffix in ("-wal", "-shm"):
        side = Path(f"{db_path}{suffix}")
        assert not side.exists() or mode(side) == 0o600
    assert verify_file(db_path) == []
    assert cli(db_path, "verify").returncode == 0

    anchored = cli(db_path, "verify", "--anchor", newer_head)
    assert anchored.returncode == 1
    assert "events were removed (truncation or a rollback to an older copy)" in anchored.stdout
    assert not list(tmp_path.glob(".ledger.db.restore.*")), "temporary files left behind"


def test_restore_refuses_a_backup_that_fails_verify(
    engine: Engine, db_path: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "tampered.db"
    maintenance.backup(engine, ctx_for(), copy)
    engine.dispose()
    with sqlite3.connect(copy) as connection:
        connection.execute("DROP TRIGGER ledger_event_no_update")
        connection.execute("UPDATE ledger_event SET actor = 'mallory@evil.example' WHERE seq = 2")
        connection.execute(db.APPEND_ONLY_TRIGGERS[0])  # put the guard back to hide the edit
    tampered = fingerprint(copy)
    before = fingerprint(db_path)
    result = cli(db_path, "restore", str(copy), "--force")
    assert result.returncode == 1
    assert result.stderr.startswith(f"Error: FILE: {copy} fails verify (")
    assert result.stderr.endswith("; nothing was restored\n")
    assert "(1 problem, first: event 2 (" in result.stderr
    assert "does not match its hash" in result.stderr
    assert fingerprint(db_path) == before
    assert fingerprint(copy) == tampered, "restore must not modify the backup file"

    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database" * 100)
    result = cli(db_path, "restore", str(junk), "--force")
    assert result.returncode == 2  # bad input (README "Exit codes")
    assert result.stderr == (
        f"Error: FILE: {junk} is not a ledger backup (not a SQLite database); give the file "
        "written by 'backup'; nothing was restored\n"
    )
    missing = cli(db_path, "restore", str(tmp_path / "nope.db"), "--force")
    assert missing.returncode == 2  # a file the user named that does not exist: bad input
    assert missing.stderr == (
        f"Error: FILE: {tmp_path / 'nope.db'} does not exist; give the file written by 'backup'\n"
    )
    assert fingerprint(db_path) == before


def test_restore_into_a_missing_database_needs_a_curator_of_the_backup(
    engine: Engine, tmp_path: Path
) -> None:
    copy = tmp_path / "backup.db"
    maintenance.backup(engine, ctx_for(), copy)
    target = tmp_path / "fresh" / "ledger.db"
    target.parent.mkdir()
    refused = cli(target, "restore", str(copy), actor=OU_PI)
    assert refused.returncode == 4
    assert not target.exists() or target.stat().st_size == 0
    restored = cli(target, "restore", str(copy))
    assert restored.returncode == 0, restored.stderr
    assert head(target) == head(copy)
    assert mode(target) == 0o600
    assert verify_file(target) == []
