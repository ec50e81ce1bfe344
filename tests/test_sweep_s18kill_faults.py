"""Sweep s18 "kill": `verify` and `checkpoint` whose scratch replay cannot be written (a file
size limit, as a full TMPDIR does) through the real CLI.

That is the environment's fault: exit 3, one `Error:` line naming the scratch replay and
TMPDIR, nothing written, no temp folder left. Before, `verify` reported it as damage of the
ledger itself, "restore the latest verified backup", exit 1, and `checkpoint` refused the
ledger as not verifying: a full /tmp sent a curator to roll the ledger back.
"""

import functools
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from sampleloans import crashpoints, fileio
from tests.conftest import CURATOR, demo_in_a_process, fingerprint

NOW = "2026-06-15T10:00:00Z"


def limited_file_size(limit_bytes: int) -> None:
    """preexec_fn: writes past `limit_bytes` fail with EFBIG (Python ignores SIGXFSZ)."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo ledger with a checkpoint key."""
    folder = tmp_path_factory.mktemp("demo")
    ledger = demo_in_a_process(folder / "made")
    shutil.copyfile(ledger, folder / "ledger.db")
    shutil.rmtree(folder / "made")
    made = cli(folder, ["keys", "generate", "--out", "key"])
    assert made.returncode == 0, made.stderr
    return folder


def cli(
    folder: Path, args: list[str], limit_bytes: int | None = None
) -> "subprocess.CompletedProcess[str]":
    """The real CLI on the folder's ledger, TMPDIR in the folder, optionally size-limited."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAMPLELOANS_")}
    env.pop(crashpoints.ENV_VAR, None)
    env.update(SAMPLELOANS_DB=str(folder / "ledger.db"), SAMPLELOANS_USER=CURATOR)
    env.update(SAMPLELOANS_NOW=NOW, COLUMNS="120", TMPDIR=str(folder))
    return subprocess.run(
        [sys.executable, "-m", "sampleloans", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=folder,
        timeout=300,
        preexec_fn=None
        if limit_bytes is None
        else functools.partial(limited_file_size, limit_bytes),
    )


@pytest.mark.parametrize("limit_bytes", [4 * 1024, 64 * 1024])
@pytest.mark.parametrize(
    "args",
    [["verify"], ["checkpoint", "--key", "key", "--out", "cp.txt"]],
    ids=["verify", "checkpoint"],
)
def test_a_scratch_replay_that_cannot_be_written_is_the_environment_exit_3(
    demo: Path, tmp_path: Path, args: list[str], limit_bytes: int
) -> None:
    folder = tmp_path / "w"
    shutil.copytree(demo, folder)
    before = fingerprint(folder / "ledger.db")
    key_record = folder / "key.signed"
    # an open reader keeps the ledger's -wal and -shm in place: the limit hits the scratch file
    with closing(sqlite3.connect(folder / "ledger.db")) as reader:
        reader.execute("SELECT count(*) FROM ledger_event").fetchone()
        done = cli(folder, args, limit_bytes)
    assert done.returncode == 3, (done.stdout, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), done.stderr
    assert "scratch replay" in lines[0] and "TMPDIR" in lines[0], lines[0]
    assert "damaged" not in done.stdout + done.stderr
    assert "restore" not in done.stdout + done.stderr
    assert fingerprint(folder / "ledger.db") == before
    assert not (folder / "cp.txt").exists() and not key_record.exists()
    assert fileio.temp_names(folder) == []
    again = cli(folder, args)  # with room again, the same command works
    assert again.returncode == 0, again.stdout + again.stderr


def test_a_bag_that_cannot_be_written_names_the_bag_not_its_build_folder(
    demo: Path, tmp_path: Path
) -> None:
    """Before: `Error: --events: cannot write .bag.sampleloans-PID-….bag-tmp/events.jsonl`."""
    folder = tmp_path / "w"
    shutil.copytree(demo, folder)
    with closing(sqlite3.connect(folder / "ledger.db")) as reader:
        reader.execute("SELECT count(*) FROM ledger_event").fetchone()
        done = cli(folder, ["export", "--bag", "bag"], 4 * 1024)
    assert done.returncode == 3, (done.stdout, done.stderr)
    assert done.stderr == "Error: --bag: cannot write bag: File too large\n", done.stderr
    assert not (folder / "bag").exists() and fileio.temp_names(folder) == []
