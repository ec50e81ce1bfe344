"""Sweep s19 "small classes": a checkpoint kept without its `--out` file can be written out.

`checkpoint --key K --out FILE` keeps the checkpoint, then writes FILE. Killed (or stopped by
Ctrl-C, or its disk full) between the two, the checkpoint was kept and FILE never written, and
nothing wrote it later: a rerun signed the next checkpoint. Now `checkpoint show ID [--out FILE]`
prints or writes a kept checkpoint exactly as it was signed; the Ctrl-C line and the error line
name it.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import demo_env, fingerprint
from tests.terminal import sigint_as_in_a_terminal

CURATOR = "curator@naoc.example"


@pytest.fixture
def demo(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> dict[str, str]:
    """A demo ledger (its own, as checkpoints are added) and a checkpoint key in tmp_path."""
    env = demo_env(tmp_path_factory, CURATOR)
    made = CliRunner().invoke(app, ["keys", "generate", "--out", str(tmp_path / "cp.key")])
    assert made.exit_code == 0, made.stderr
    return env


def _kept_notes(env: dict[str, str]) -> list[str]:
    """The notes of the kept checkpoints, oldest first."""
    listed = CliRunner().invoke(app, ["checkpoint", "list", "--json"], env=env)
    assert listed.exit_code == 0, listed.stderr
    return [k["note"] for k in json.loads(listed.stdout)]


def _checkpoint_in_a_process(
    env: dict[str, str], key: Path, out: Path, **extra: str
) -> subprocess.CompletedProcess[str]:
    """`checkpoint --key KEY --out OUT` in its own process (to be killed or interrupted)."""
    return subprocess.run(
        [sys.executable, "-m", "sampleloans", "checkpoint", "--key", str(key), "--out", str(out)],
        env={**os.environ, **env, **extra},
        capture_output=True,
        text=True,
    )


def _checkpoint_when_out_is_written(
    env: dict[str, str], tmp_path: Path, out: Path, instead: str
) -> subprocess.CompletedProcess[str]:
    """`checkpoint --key tmp_path/cp.key --out OUT` in its own process, running the Python line
    `instead` where OUT is written, after the checkpoint was kept (a Ctrl-C, a full disk)."""
    script = (
        "from sampleloans import fileio\n"
        "write_atomic = fileio.write_atomic\n"
        "def written(path, *args, **kwargs):\n"
        f"    if str(path) != {str(out)!r}:  # the key's record of what it signed\n"
        "        return write_atomic(path, *args, **kwargs)\n"
        f"    {instead}\n"
        "fileio.write_atomic = written\n"
        "import sys\n"
        f"sys.argv = ['sampleloans', 'checkpoint', '--key', {str(tmp_path / 'cp.key')!r}, "
        f"'--out', {str(out)!r}]\n"
        "from sampleloans.__main__ import main\n"
        "main()\n"
    )
    return subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        preexec_fn=sigint_as_in_a_terminal,
    )


def test_show_writes_a_checkpoint_whose_run_was_killed_after_keeping_it(
    demo: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "cp-1.txt"
    killed = _checkpoint_in_a_process(
        demo, tmp_path / "cp.key", out, SAMPLELOANS_CRASH_AT="before_replace"
    )
    assert killed.returncode == -9, killed.stderr
    assert not out.exists()
    [note] = _kept_notes(demo)
    shown = CliRunner().invoke(app, ["checkpoint", "show", "1", "--out", str(out)], env=demo)
    assert shown.exit_code == 0, shown.stderr
    assert shown.stdout.startswith("Wrote checkpoint 1 (107 events, 107:")
    assert str(out) in shown.stdout
    assert out.read_text(encoding="utf-8") == note
    assert out.stat().st_mode & 0o777 == 0o600
    printed = CliRunner().invoke(app, ["checkpoint", "show", "1"], env=demo)
    assert printed.exit_code == 0 and printed.stdout == note
    # the file is the signed checkpoint: verify takes it
    checked = CliRunner().invoke(
        app,
        ["verify", "--checkpoint", str(out), "--public-key", str(tmp_path / "cp.key.pub")],
        env=demo,
    )
    assert checked.exit_code == 0, checked.stderr


def test_ctrl_c_after_the_checkpoint_is_kept_names_show(
    demo: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "cp-1.txt"
    # a Ctrl-C while the file is being written, after the checkpoint was kept
    run = _checkpoint_when_out_is_written(
        demo, tmp_path, out, "import os, signal; os.kill(os.getpid(), signal.SIGINT)"
    )
    assert run.returncode == 130, run.stderr
    assert run.stderr == (
        "Error: interrupted (Ctrl-C) after it committed: checkpoint 1 was kept but not written "
        f"to --out (no partial file left): 'sampleloans checkpoint show 1 --out {out}' writes "
        "it\n"
    )
    assert not out.exists() and len(_kept_notes(demo)) == 1


def test_an_unwritable_out_after_keeping_names_show(demo: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "cp-1.txt"
    run = _checkpoint_when_out_is_written(
        demo,
        tmp_path,
        out,
        "from sampleloans.errors import StorageError; "
        "raise StorageError(f'--out: cannot write {path}: No space left on device')",
    )
    assert run.returncode == 3, run.stderr
    assert run.stderr == (
        f"Error: --out: cannot write {out}: No space left on device; checkpoint 1 was kept: "
        f"'sampleloans checkpoint show 1 --out {out}' writes it\n"
    )


def test_show_refuses_an_unknown_id_an_existing_file_and_a_researcher(
    demo: dict[str, str], tmp_path: Path
) -> None:
    made = CliRunner().invoke(
        app, ["checkpoint", "--key", str(tmp_path / "cp.key"), "--out", str(tmp_path / "a")],
        env=demo,
    )  # fmt: skip
    assert made.exit_code == 0, made.stderr
    ledger = Path(demo["SAMPLELOANS_DB"])
    before = fingerprint(ledger)
    unknown = CliRunner().invoke(app, ["checkpoint", "show", "7"], env=demo)
    assert unknown.exit_code == 2
    assert unknown.stderr == (
        "Error: ID: no checkpoint 7 is kept (the newest is 1); 'sampleloans checkpoint list' "
        "shows them\n"
    )
    existing = tmp_path / "a"
    kept = existing.read_bytes()
    existing.write_text("mine\n")
    refused = CliRunner().invoke(app, ["checkpoint", "show", "1", "--out", str(existing)], env=demo)
    assert refused.exit_code == 3 and "exists; pass --force" in refused.stderr
    assert existing.read_text() == "mine\n"
    forced = CliRunner().invoke(
        app, ["checkpoint", "show", "1", "--out", str(existing), "--force"], env=demo
    )
    assert forced.exit_code == 0 and existing.read_bytes() == kept
    researcher = CliRunner().invoke(
        app, ["checkpoint", "show", "1"], env={**demo, "SAMPLELOANS_USER": "anand@open.example"}
    )
    assert researcher.exit_code == 4
    assert fingerprint(ledger) == before
