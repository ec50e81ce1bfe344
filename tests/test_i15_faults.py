"""Issue 15 "bad input and faults" through the CLI: a private key others may read, a bag folder
a SIGKILL left behind, and checkpoints of another ledger, truncated, re-signed or checked with
the wrong key: one `Error:` line each with the documented exit code, nothing written."""

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sampleloans import fileio
from sampleloans.ledger import checkpoint as notes
from tests.conftest import fingerprint
from tests.i15_statement_helpers import (
    another_demo,
    copy_ledger,
    env_for,
    invoke,
    make_checkpoint,
    make_demo,
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_demo(tmp_path_factory.mktemp("demo"))


@pytest.fixture
def ledger(demo: Path, tmp_path: Path) -> dict[str, Any]:
    path = copy_ledger(demo, tmp_path / "ledger.db")
    (tmp_path / "k").mkdir()
    return {"db": path, "dir": tmp_path, **make_checkpoint(path, tmp_path / "k")}


def one_error_line(result: Any, code: int, *needles: str) -> str:
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), lines
    for needle in needles:
        assert needle in lines[0], lines[0]
    return str(lines[0])


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_private_key_others_may_read_is_refused_like_ssh(
    ledger: dict[str, Any], mode: int
) -> None:
    key: Path = ledger["key"]
    key.chmod(mode)
    before = fingerprint(ledger["db"])
    out = ledger["dir"] / "new-cp.txt"
    result = invoke(env_for(ledger["db"]), "checkpoint", "--key", str(key), "--out", str(out))
    line = one_error_line(result, 3, "--key", f"mode {mode:04o}", f"chmod 600 {key}")
    assert "PRIVATE" not in line and key.read_text().strip()[-20:] not in line
    assert not out.exists() and fingerprint(ledger["db"]) == before
    key.chmod(0o600)
    again = invoke(env_for(ledger["db"]), "checkpoint", "--key", str(key), "--out", str(out))
    assert again.exit_code == 0, again.stderr


def test_a_bag_folder_left_by_a_sigkill_is_removed_by_the_next_export(
    ledger: dict[str, Any], tmp_path: Path
) -> None:
    bag = tmp_path / "bags" / "archive"
    bag.parent.mkdir()
    env = {**os.environ, **env_for(ledger["db"]), "SAMPLELOANS_CRASH_AT": "before_bag_rename"}
    killed = subprocess.run(
        [sys.executable, "-m", "sampleloans", "export", "--bag", str(bag)],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    left = fileio.temp_names(bag.parent)
    assert len(left) == 1 and left[0].name.endswith(".bag-tmp") and left[0].is_dir()
    assert not bag.exists()
    with fileio.private_build_dir(bag.parent, "live") as live:  # a live export's: kept
        done = invoke(env_for(ledger["db"]), "export", "--bag", str(bag))
        assert done.exit_code == 0, done.stderr
        assert fileio.temp_names(bag.parent) == [live]
    assert fileio.temp_names(bag.parent) == []
    checked = invoke({"COLUMNS": "120"}, "verify-bag", str(bag))
    assert checked.exit_code == 0, checked.stdout + checked.stderr


def faulty_checkpoints(ledger: dict[str, Any], demo: Path) -> dict[str, Path]:
    """A checkpoint of another ledger, one cut short, one re-signed by another key."""
    folder: Path = ledger["dir"]
    other = another_demo(folder / "other")  # another ledger: its own id and events
    (folder / "ko").mkdir()
    for name in ("lender.key", "lender.key.pub"):  # signed with the lender's own key
        (folder / "ko" / name).write_bytes((folder / "k" / name).read_bytes())
    (folder / "ko" / "lender.key").chmod(0o600)
    foreign = make_checkpoint(other, folder / "ko")
    note: str = ledger["note"]
    (folder / "cut.txt").write_text(note[: len(note) // 2])
    text, _signatures = notes.split_note(note)
    stranger = notes.generate_signer("naoc.example/ledger")  # the lender's name, not its key
    (folder / "resigned.txt").write_text(notes.sign_note(text, stranger))
    return {"other": foreign["cp"], "cut": folder / "cut.txt", "resigned": folder / "resigned.txt"}


# (fault, command) → exit code and words of the one line (README "Bad checkpoints")
EXPECTED = {
    ("other", "verify"): (1, "not of this ledger"),
    ("cut", "verify"): (2, "truncated"),
    ("resigned", "verify"): (1, "not signed by key"),
    ("other", "since"): (1, "not a checkpoint this ledger made and kept"),
    ("cut", "since"): (2, "truncated"),
    ("resigned", "since"): (1, "not a checkpoint this ledger made and kept"),
    ("other", "statement"): (1, "another ledger"),
    ("cut", "statement"): (2, "truncated"),
    ("resigned", "statement"): (1, "not a checkpoint this ledger made and keeps"),
}


def test_bad_checkpoints_give_one_line_and_the_documented_exit_code(
    ledger: dict[str, Any], demo: Path
) -> None:
    faults = faulty_checkpoints(ledger, demo)
    env = env_for(ledger["db"])
    out = ledger["dir"] / "st"
    out.mkdir()
    before = fingerprint(ledger["db"])
    for (fault, command), (code, words) in EXPECTED.items():
        given = str(faults[fault])
        statement = ["report", "statement", "--institution", "Osaka", "--out", str(out)]
        args = {
            "verify": ["verify", "--checkpoint", given, "--public-key", str(ledger["pub"])],
            "since": ["verify", "--since", given],
            "statement": [*statement, "--checkpoint", given],
        }[command]
        one_error_line(invoke(env, *args), code, words)
    assert list(out.iterdir()) == [] and fingerprint(ledger["db"]) == before
    wrong = invoke(
        env, "verify", "--checkpoint", str(ledger["cp"]), "--public-key", str(faults["other"])
    )
    one_error_line(wrong, 2, "--public-key")  # a checkpoint file is not a key


def test_the_wrong_public_key_is_one_line_exit_1(ledger: dict[str, Any], tmp_path: Path) -> None:
    other = tmp_path / "other.key"
    made = invoke(env_for(ledger["db"]), "keys", "generate", "--out", str(other), "--name", "x")
    assert made.exit_code == 0, made.stderr
    args = ["verify", "--checkpoint", str(ledger["cp"]), "--public-key", f"{other}.pub"]
    one_error_line(invoke(env_for(ledger["db"]), *args), 1, "not signed by key x+")
