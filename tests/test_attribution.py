"""T6 (part): the OS user is recorded truthfully when USER/LOGNAME lie, and the database,
its WAL/SHM files and backups are private (0600) (docs/reliability.md)."""

import os
import pwd
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

from sqlalchemy import Engine

from sampleloans import crashpoints
from tests.conftest import CURATOR

REAL_USER = pwd.getpwuid(os.getuid()).pw_name


def cli(db_path: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    """Run the real CLI on `db_path` as the curator with extra environment."""
    env = {k: v for k, v in os.environ.items() if k != crashpoints.ENV_VAR}
    env.update(SAMPLELOANS_DB=str(db_path), SAMPLELOANS_USER=CURATOR, COLUMNS="120", **extra)
    return subprocess.run(
        [sys.executable, "-m", "sampleloans", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def mode(path: Path | str) -> int:
    """Permission bits of a file."""
    return stat.S_IMODE(os.stat(path).st_mode)


def test_os_user_is_the_real_account_when_user_and_logname_lie(
    engine: Engine, db_path: Path
) -> None:
    assert REAL_USER != "mallory"
    result = cli(
        db_path,
        *("institutions", "add", "LIAR", "--name", "Lab", "--country", "CN", "--city", "Beijing"),
        *("--kind", "borrower"),
        USER="mallory",
        LOGNAME="mallory",
        USERNAME="mallory",
    )
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(db_path) as connection:
        actor, os_user = connection.execute(
            "SELECT actor, os_user FROM ledger_event ORDER BY seq DESC LIMIT 1"
        ).fetchone()
    assert (actor, os_user) == (CURATOR, REAL_USER)


def test_database_wal_shm_and_backup_files_are_private(
    engine: Engine, db_path: Path, tmp_path: Path
) -> None:
    assert mode(db_path) == 0o600
    reader = sqlite3.connect(db_path)  # keeps -wal and -shm in place while the CLI writes
    try:
        reader.execute("SELECT count(*) FROM ledger_event").fetchone()
        result = cli(
            db_path,
            *("institutions", "add", "PRIV", "--name", "Lab", "--country", "CN"),
            *("--city", "Beijing", "--kind", "borrower"),
        )
        assert result.returncode == 0, result.stderr
        for suffix in ("-wal", "-shm"):
            assert Path(f"{db_path}{suffix}").exists(), suffix
            assert mode(f"{db_path}{suffix}") == 0o600, suffix
        copy = tmp_path / "backup.db"
        assert cli(db_path, "backup", str(copy)).returncode == 0
        assert mode(copy) == 0o600
    finally:
        reader.close()


def test_demo_database_is_private(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    result = subprocess.run(
        [sys.executable, "-m", "sampleloans", "demo", "--dir", str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert mode(folder / "ledger.db") == 0o600
