"""Stop 34, attack 2: `--db` naming a loop of symbolic links (`a` → `b` → `a`). Before, `init`
said `a is a symbolic link to b, which does not exist` (b exists: it leads back to a), and
every other command Python's `Too many levels of symbolic links`. Both now name the loop, exit
3, nothing created. Held, and checked elsewhere: a folder, a FIFO, `/dev/null`, a file that is
not SQLite, another program's SQLite file (`test_bad_input.py`, `test_sweep_s32attack_files.py`)."""

import os
import re
from pathlib import Path

import pytest

from sampleloans import db, fileio
from sampleloans.errors import StorageError
from tests.i15_statement_helpers import CURATOR, invoke

LOOP = "is a loop of symbolic links (to b.db, which leads back)"


@pytest.fixture
def loop(tmp_path: Path) -> Path:
    """`a.db` → `b.db` → `a.db`, in a folder of their own."""
    os.symlink("b.db", tmp_path / "a.db")
    os.symlink("a.db", tmp_path / "b.db")
    return tmp_path / "a.db"


def _env(ledger: Path) -> dict[str, str]:
    return {"SAMPLELOANS_DB": str(ledger), "SAMPLELOANS_USER": CURATOR, "COLUMNS": "200"}


@pytest.mark.parametrize(
    "args",
    [
        ("init", "--curator-email", "li@naoc.example", "--curator-name", "Li Na"),
        ("status",),
        ("verify",),
    ],
    ids=lambda args: args[0],
)
def test_a_loop_of_links_as_the_db_is_named_cli(loop: Path, args: tuple[str, ...]) -> None:
    result = invoke(_env(loop), *args)
    assert result.exit_code == 3, result.stdout
    assert result.stderr.startswith(f"Error: --db: {loop} {LOOP}; give the ledger file itself")
    assert len(result.stderr.splitlines()) == 1
    assert sorted(p.name for p in loop.parent.iterdir()) == ["a.db", "b.db"]


def test_a_loop_of_links_as_the_db_is_named_service(loop: Path) -> None:
    with pytest.raises(StorageError, match=re.escape(LOOP)):
        db.check_ledger_file(loop)
    with pytest.raises(StorageError, match="is a loop of symbolic links"):
        db.create_ledger_file(loop, lambda engine: None)
    dangling = loop.parent / "c.db"
    os.symlink("nowhere.db", dangling)
    with pytest.raises(
        StorageError, match=re.escape("is a symbolic link to nowhere.db, which does not")
    ):
        db.check_ledger_file(dangling)


DEMO_ADVICE = "the demo writes only a new ledger: give a new file name"


@pytest.mark.parametrize("kind", ["loop", "dangling"])
def test_demo_on_a_broken_link_names_it_cli(loop: Path, kind: str) -> None:
    """Stop 35: `demo --db` on a loop of links (or a link to nothing) said "a.db exists"."""
    target, said = loop, LOOP
    if kind == "dangling":
        target = loop.parent / "c.db"
        os.symlink("nowhere.db", target)
        said = "is a symbolic link to nowhere.db, which does not exist"
    before = sorted(p.name for p in loop.parent.iterdir())
    result = invoke({"COLUMNS": "200"}, "--db", str(target), "demo")
    assert result.exit_code == 3, result.stdout
    assert result.stderr == f"Error: --db: {target} {said}; {DEMO_ADVICE}\n"
    assert sorted(p.name for p in loop.parent.iterdir()) == before


def test_a_broken_link_is_described_with_the_advice_given_service(loop: Path) -> None:
    assert fileio.dangling_link_problem(loop, "ADVICE") == f"--db: {loop} {LOOP}; ADVICE"
    assert fileio.dangling_link_problem(loop) == f"--db: {loop} {LOOP}; {fileio.OPEN_ADVICE}"
    plain = loop.parent / "plain.db"
    plain.write_bytes(b"")
    assert fileio.dangling_link_problem(plain) is None
