"""Sweep "files": ledger paths with spaces, non-ASCII letters, `#` and `%` (a database URL
escapes or reads some of them). Every command must work on the file named, and on nothing
else: no stray file appears beside it, the output guards still know the ledger."""

from pathlib import Path

import pytest

from tests.test_sweep_files_damaged import Cli, cli, copy_of, demo_ledger, digest, sampleloans

# the module fixtures, shared with test_sweep_files_damaged: real CLI processes forked from one
# that has done the imports (tests/warm_cli.py), so each run pays for the command, not ~1.3 s
# of imports
__all__ = ["cli", "demo_ledger", "sampleloans"]

NAMES = ["lédger ç.db", "a%41 b.db", "x #1 %25.db", "大阪 ledger.db"]


@pytest.mark.parametrize("name", NAMES)
def test_init_writes_the_ledger_at_the_path_named(
    sampleloans: Cli, tmp_path: Path, name: str
) -> None:
    folder = tmp_path / "my folder"
    folder.mkdir()
    ledger = folder / name
    made = sampleloans(
        ledger, "init", "--curator-email", "curator@naoc.example", "--curator-name", "Li Na"
    )
    assert made.returncode == 0, made.stderr
    assert sorted(p.name for p in folder.iterdir()) == [name]  # nothing stray beside it
    assert ledger.stat().st_size > 0
    checked = sampleloans(ledger, "verify")
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize("name", NAMES)
def test_backup_export_and_restore_work_on_the_path_named(
    sampleloans: Cli, demo_ledger: Path, tmp_path: Path, name: str
) -> None:
    folder = tmp_path / "my folder"
    folder.mkdir()
    ledger = copy_of(demo_ledger, folder / name)
    for args in (
        ["backup", str(folder / "copy.db")],
        ["export", "--events", str(folder / "events.jsonl")],
        ["export", "--bag", str(folder / "bag")],
        ["restore", str(folder / "copy.db"), "--force"],
        ["verify"],
    ):
        done = sampleloans(ledger, *args)
        assert done.returncode == 0, (args, done.stderr)
    names = {p.name for p in folder.iterdir()} - {f"{name}-wal", f"{name}-shm"}
    assert names == {name, "copy.db", "events.jsonl", "bag"}, names


@pytest.mark.parametrize("name", NAMES)
def test_the_ledgers_own_files_are_never_an_output_whatever_its_name(
    sampleloans: Cli, demo_ledger: Path, tmp_path: Path, name: str
) -> None:
    ledger = copy_of(demo_ledger, tmp_path / name)
    wal = Path(f"{ledger}-wal")
    wal.write_bytes(b"")  # as a live ledger has
    before = digest(ledger)
    for args in (
        ["export", "--events", str(wal), "--force"],
        ["report", "custody", "--loan", "L-2025-OU", "--out", str(wal), "--force"],
        ["backup", str(wal), "--force"],
    ):
        done = sampleloans(ledger, *args, cwd=tmp_path)
        assert done.returncode == 2, (args, done.stderr)
        assert "is the ledger database" in done.stderr, done.stderr
    assert digest(ledger) == before


def test_a_dangling_symlink_as_db_is_named_the_same_way_by_every_command(
    sampleloans: Cli, tmp_path: Path
) -> None:
    link = tmp_path / "ledger.db"
    link.symlink_to(tmp_path / "gone" / "x.db")
    init = ["init", "--curator-email", "curator@naoc.example", "--curator-name", "Li Na"]
    for args in (["verify"], ["loans", "list"], init):
        done = sampleloans(link, *args)
        assert done.returncode == 3, (args, done.stderr)
        assert done.stderr.count("\n") == 1, done.stderr
        assert "symbolic link" in done.stderr and "does not exist" in done.stderr, done.stderr
        assert "run 'sampleloans init'" not in done.stderr  # which would refuse it in turn
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ledger.db"]
