"""Sweep s22, hostile paths for `backup FILE`: every refusal names the argument, FILE.

Of the refusals of a backup's destination only the missing folder's named it (`FILE: nodir/x.db:
cannot write it …`); the ledger under another name (a hard link), a folder, a FIFO, the
ledger's -wal and an existing file each gave a bare path, where every other command leads with
its option (`--events: …`, `--out: …`). Now each leads with `FILE:`, and still writes nothing.
"""

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import fingerprint
from tests.i15_statement_helpers import env_for, invoke


def _destination(kind: str, ledger: Path, folder: Path) -> Path:
    """A hostile destination of the given kind, made in `folder`."""
    if kind == "hard link to the ledger":
        os.link(ledger, folder / "alias.db")
        return folder / "alias.db"
    if kind == "the ledger's -wal":
        return Path(f"{ledger}-wal")
    if kind == "a folder":
        (folder / "sub").mkdir()
        return folder / "sub"
    if kind == "a FIFO":
        os.mkfifo(folder / "pipe")
        return folder / "pipe"
    existing = folder / "old.db"
    shutil.copyfile(ledger, existing)
    return existing


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        ("hard link to the ledger", 2),
        ("the ledger's -wal", 2),
        ("a folder", 3),
        ("a FIFO", 3),
        ("an existing file", 3),
    ],
)
def test_every_refused_backup_destination_names_file(
    ledger: Path, tmp_path: Path, kind: str, code: int
) -> None:
    """Before: `Error: alias.db is the ledger database itself …`, no FILE."""
    folder = tmp_path / "out"
    folder.mkdir()
    dest = _destination(kind, ledger, folder)
    before = fingerprint(ledger)
    result = invoke(env_for(ledger), "backup", str(dest))
    assert result.exit_code == code, result.stdout
    assert result.stderr.startswith(f"Error: FILE: {dest} "), result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert fingerprint(ledger) == before
