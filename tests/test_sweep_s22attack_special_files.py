"""Sweep s22, an attacker with a bag or a key folder: files that are not files.

A bag is handed over to be checked by someone who trusts nothing in it. With `data/events.jsonl`
replaced by a FIFO (and the checksums of the tag files regenerated, as anyone can), `verify-bag`
waited forever, reading it; with a symbolic link there, it read a file outside the bag, which
bagit called "unsafe" as if the folder were no bag at all (exit 2). `export --bag` writes
regular files and folders only: anything else in a bag is named before a byte is read, exit 1.

A bag's file names are the bag maker's: one holding a carriage return and escape sequences,
named in the error line, was written raw to the checker's terminal, so that it could repaint
the line (`\\r` then "bag: a valid bag"). Every `Error:` line now shows terminal controls as
their escapes, as tables already did.

`checkpoint --key KEY` compares KEY.pub beside it with the key; a FIFO planted there as KEY.pub
(by anyone who may write in the key's folder) made `checkpoint` wait forever. A KEY.pub that
is no regular file is now no public half: the key alone decides, as when there is none.
"""

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.i15_statement_helpers import env_for, invoke


@pytest.fixture(scope="module")
def bag(demo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bag of the demo ledger, exported once."""
    folder = tmp_path_factory.mktemp("bag")
    ledger = Path(shutil.copy(demo, folder / "ledger.db"))
    made = invoke(env_for(ledger), "export", "--bag", str(folder / "bag"))
    assert made.exit_code == 0, made.stderr
    return folder / "bag"


def _retagged(bag: Path) -> None:
    """Drop the payload's size from bag-info.txt (a FIFO has none) and regenerate the tag
    manifests, as anyone can: only the payload's own checksums then stand in the way."""
    info = bag / "bag-info.txt"
    kept = [line for line in info.read_text().splitlines() if not line.startswith("Payload-Oxum")]
    info.write_text("\n".join(kept) + "\n")
    for algorithm in ("sha256", "sha512"):
        tags = ["bagit.txt", "bag-info.txt", "manifest-sha256.txt", "manifest-sha512.txt"]
        lines = [f"{hashlib.new(algorithm, (bag / t).read_bytes()).hexdigest()}  {t}" for t in tags]
        (bag / f"tagmanifest-{algorithm}.txt").write_text("\n".join(lines) + "\n")


def _verify_bag(bag: Path) -> "subprocess.CompletedProcess[str]":
    """`sampleloans verify-bag BAG` in its own process: a hang fails the test, not the suite."""
    return subprocess.run(
        [sys.executable, "-m", "sampleloans", "verify-bag", str(bag)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_fifo_for_the_events_is_named_not_read_forever(bag: Path, tmp_path: Path) -> None:
    """Before: verify-bag never returned."""
    copy = Path(shutil.copytree(bag, tmp_path / "bag"))
    (copy / "data" / "events.jsonl").unlink()
    os.mkfifo(copy / "data" / "events.jsonl")
    _retagged(copy)
    done = _verify_bag(copy)
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines() == [
        "Error: BAG: 'data/events.jsonl' is a FIFO (named pipe), not a file: 'export --bag' "
        "writes regular files only, so the bag was changed after it was made"
    ]


@pytest.mark.parametrize("target", ["data/events.jsonl", "data/docs"])
def test_a_symbolic_link_in_a_bag_is_a_changed_bag(bag: Path, tmp_path: Path, target: str) -> None:
    """Before: 'is not a BagIt bag (Path … is unsafe)', exit 2, as if it were no bag."""
    copy = Path(shutil.copytree(bag, tmp_path / "bag"))
    moved = shutil.move(copy / target, tmp_path / "outside")
    os.symlink(moved, copy / target)  # the same bytes, read from outside the bag
    done = _verify_bag(copy)
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines() == [
        f"Error: BAG: {target!r} is a symbolic link, not a file: 'export --bag' writes regular "
        "files only, so the bag was changed after it was made"
    ]


def test_the_exported_bag_itself_still_checks_out(bag: Path) -> None:
    done = _verify_bag(bag)
    assert done.returncode == 0, done.stderr


def test_a_fifo_beside_the_signing_key_is_not_waited_on(ledger: Path, tmp_path: Path) -> None:
    """Before: `checkpoint --key KEY` never returned."""
    env = env_for(ledger)
    key = tmp_path / "lender.key"
    made = invoke(env, "keys", "generate", "--out", str(key))
    assert made.exit_code == 0, made.stderr
    Path(f"{key}.pub").unlink()
    os.mkfifo(f"{key}.pub")
    done = subprocess.run(
        [sys.executable, "-m", "sampleloans", "checkpoint", "--key", str(key)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("sampleloans/ledger/"), done.stdout


def test_a_file_name_in_a_bag_cannot_repaint_the_error_line(bag: Path, tmp_path: Path) -> None:
    """Before: the name's CR and escape sequences reached the terminal as they were."""
    copy = Path(shutil.copytree(bag, tmp_path / "bag"))
    (copy / "data" / "x\x1b[2K\rbag: a valid bag").write_text("added")
    done = subprocess.run(  # bytes: text mode would turn the CR into a newline
        [sys.executable, "-m", "sampleloans", "verify-bag", str(copy)],
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert b"\x1b" not in done.stderr and b"\r" not in done.stderr
    assert done.stderr.decode() == (
        f"Error: BAG: {copy} fails validation: data/x\\x1b[2K\\rbag: a valid bag: not in the "
        "manifest (a file was added)\n"
    )
