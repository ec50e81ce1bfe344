"""Sweep s21, an attacker (or a careless user): files SQLite pairs with a database by name.

SQLite takes `X-wal` and `X-journal` beside a database `X` as its own. Two holes followed:

- an output named after another database's -wal/-shm/-journal was written: `keys generate --out
  ledger.db-wal` wrote the private key there, and the ledger's next write deleted it (the key
  lost for good); `backup`, `init`, `demo --db` and `restore` made a database there, which
  SQLite overwrote or replayed;
- a new ledger made beside a -wal left there (by a deleted database, or put there by anyone
  who may write in the folder) took that file's pages in at its first open: `demo --db new.db`
  beside a planted `new.db-wal` gave a ledger holding the planter's table (with a whole other
  ledger's WAL, the planter's ledger).

Now every new SQLite file refuses both, before anything is written.
"""

import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import fingerprint
from tests.i15_statement_helpers import CURATOR, env_for, invoke


def _stale_wal(folder: Path) -> bytes:
    """The -wal of a database that committed a table `planted` and was never checkpointed."""
    source = folder / "source.db"
    connection = sqlite3.connect(source)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA wal_autocheckpoint=0")
    connection.execute("CREATE TABLE planted (x)")
    connection.commit()
    wal = Path(f"{source}-wal").read_bytes()
    connection.close()
    return wal


def test_keys_generate_never_writes_a_ledger_sidecar(ledger: Path) -> None:
    """Before: the key was written as ledger.db-wal, and the next write deleted it."""
    env = env_for(ledger)
    result = invoke(env, "keys", "generate", "--out", f"{ledger}-wal")
    assert result.exit_code == 2, result.stdout
    assert result.stderr.strip() == (
        f"Error: --out: {ledger}-wal is the -wal file of the SQLite database {ledger} (a ledger "
        "or a backup), which SQLite writes and deletes itself; give another file name"
    )
    assert not Path(f"{ledger}-wal").exists() and not Path(f"{ledger}-wal.pub").exists()


@pytest.mark.parametrize("suffix", ["-wal", "-shm", "-journal"])
def test_backup_never_lands_on_another_databases_sidecar(
    ledger: Path, tmp_path: Path, suffix: str
) -> None:
    """A backup named after another backup's sidecar (not the ledger's own: that was refused)."""
    other = Path(shutil.copy(ledger, tmp_path / "other.db"))
    before = fingerprint(other)
    result = invoke(env_for(ledger), "backup", f"{other}{suffix}")
    assert result.exit_code == 2, result.stdout
    assert f"is the {suffix} file of the SQLite database {other}" in result.stderr
    assert not Path(f"{other}{suffix}").exists() and fingerprint(other) == before


@pytest.mark.parametrize(
    "args",
    [
        ("demo",),
        ("init", "--curator-email", CURATOR, "--curator-name", "Li Na"),
        ("--as", CURATOR, "restore", "--events", "EVENTS"),
        ("--as", CURATOR, "restore", "BACKUP"),
    ],
    ids=["demo", "init", "restore-events", "restore"],
)
def test_a_new_ledger_never_takes_in_a_stale_wal(
    ledger: Path, tmp_path: Path, args: tuple[str, ...]
) -> None:
    """Before: made and verified; then `verify` found the table `planted` in the new ledger."""
    events = tmp_path / "events.jsonl"
    assert invoke(env_for(ledger), "export", "--events", str(events)).exit_code == 0
    target = tmp_path / "new.db"
    wal = _stale_wal(tmp_path)
    Path(f"{target}-wal").write_bytes(wal)
    typed = [{"EVENTS": str(events), "BACKUP": str(ledger)}.get(arg, arg) for arg in args]
    env = {**env_for(ledger), "SAMPLELOANS_DB": ""}
    result = invoke(env, "--db", str(target), *typed)
    assert result.exit_code == 3, result.stdout
    assert result.stderr.strip() == (
        f"Error: --db: {target}: new.db-wal is beside it, left by another database (or put "
        "there): SQLite would take its pages into the new one; move it away first"
    )
    assert not target.exists() and Path(f"{target}-wal").read_bytes() == wal


def test_backup_never_lands_beside_a_stale_journal(ledger: Path, tmp_path: Path) -> None:
    """A hot journal beside the backup's name would be rolled into the copy at its first open."""
    target = tmp_path / "copy.db"
    Path(f"{target}-journal").write_bytes(b"stale")
    result = invoke(env_for(ledger), "backup", str(target))
    assert result.exit_code == 3, result.stdout
    assert "copy.db-journal is beside it" in result.stderr
    assert not target.exists()


def test_an_ordinary_new_ledger_is_still_made(ledger: Path, tmp_path: Path) -> None:
    """Nothing beside the name: `backup` and `demo --db` work as before."""
    assert invoke(env_for(ledger), "backup", str(tmp_path / "b.db")).exit_code == 0
    env = {**env_for(ledger), "SAMPLELOANS_DB": ""}
    made = invoke(env, "--db", str(tmp_path / "n.db"), "demo")
    assert made.exit_code == 0, made.stderr
