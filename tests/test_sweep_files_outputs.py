"""Sweep "files": output paths an unlucky operator gives — a write-protected file, a read-only
folder, the command's own key (by name or through a symlink) — and a ledger file that was
read-only for a while. Real subprocesses; the permission cases run as an unprivileged account
(`nobody` through setpriv when the tests run as root: root may write anything)."""

import functools
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_sweep_files_damaged import Cli, cli, copy_of, demo_ledger, digest, sampleloans
from tests.warm_cli import Done

# the module fixtures, shared with test_sweep_files_damaged: real CLI processes forked from one
# that has done the imports (tests/warm_cli.py), so each run pays for the command, not ~1.3 s
# of imports
__all__ = ["cli", "demo_ledger", "sampleloans"]

UNPRIVILEGED = "nobody"


def unprivileged_prefix() -> list[str]:
    """The command prefix that runs as an account file modes apply to (skip if none)."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root and setpriv(1) is missing: file modes do not bind root")
    try:
        pwd.getpwnam(UNPRIVILEGED)
    except KeyError:
        pytest.skip(f"running as root and there is no '{UNPRIVILEGED}' account to drop to")
    prefix = ["setpriv", f"--reuid={UNPRIVILEGED}", "--regid=nogroup", "--clear-groups"]
    refused = _cannot_run_as(tuple(prefix))
    if refused:
        pytest.skip(
            f"the '{UNPRIVILEGED}' account cannot run this checkout's sampleloans with "
            f"{sys.executable} ({refused}): the checkout or its virtual environment is in a "
            "folder only the tests' own account may read (e.g. a private temporary folder)"
        )
    return prefix


@functools.cache
def _cannot_run_as(prefix: tuple[str, ...]) -> str:
    """Why the account of `prefix` cannot import the package under test ('' when it can)."""
    probe = subprocess.run(
        [*prefix, sys.executable, "-c", "import sampleloans"],
        capture_output=True,
        text=True,
        cwd="/",
        timeout=120,
    )
    lines = (probe.stderr.strip() or f"exit {probe.returncode}").splitlines()
    return "" if probe.returncode == 0 else lines[-1]


def as_unprivileged(folder: Path, db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real CLI as the curator, run by an account that file modes bind, in `folder`."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SAMPLELOANS_")}
    environment.update(
        SAMPLELOANS_DB=str(db),
        SAMPLELOANS_USER="curator@naoc.example",
        SAMPLELOANS_NOW="2026-06-15T10:00:00Z",
        COLUMNS="120",
        HOME=str(folder),
        TMPDIR=str(folder),
    )
    return subprocess.run(
        [*unprivileged_prefix(), sys.executable, "-m", "sampleloans", *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=folder,
        timeout=300,
    )


@pytest.fixture
def workspace(demo_ledger: Path) -> Iterator[Path]:
    """A folder the unprivileged account owns, holding a copy of the demo ledger (in the
    system's temp folder: pytest's own is private to the user running the tests)."""
    unprivileged_prefix()  # skips (with its reason) before anything is made
    folder = Path(tempfile.mkdtemp(prefix="sweep-files-"))
    folder.chmod(0o755)
    copy_of(demo_ledger, folder / "ledger.db")
    if os.geteuid() == 0:
        account = pwd.getpwnam(UNPRIVILEGED)
        for path in (folder, folder / "ledger.db"):
            os.chown(path, account.pw_uid, account.pw_gid)
    yield folder
    for path in folder.rglob("*"):  # so that every file the account made can be removed
        if path.is_dir():
            path.chmod(0o755)
    shutil.rmtree(folder)


def one_error_line(result: subprocess.CompletedProcess[str] | Done, code: int) -> str:
    """The single `Error:` line of a refused command with its exit code."""
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert result.returncode == code, (result.returncode, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


OUTPUTS = {
    "report": ["report", "custody", "--loan", "L-2025-OU", "--out", "{}", "--force"],
    "events": ["export", "--events", "{}", "--force"],
    "backup": ["backup", "{}", "--force"],
    "keys": ["keys", "generate", "--out", "{}", "--force"],
}


@pytest.mark.parametrize("command", OUTPUTS.values(), ids=OUTPUTS.keys())
def test_force_never_replaces_a_write_protected_file(workspace: Path, command: list[str]) -> None:
    target = workspace / "kept.out"
    target.write_bytes(b"an operator's file, made read-only on purpose\n")
    target.chmod(0o444)
    if os.geteuid() == 0:
        account = pwd.getpwnam(UNPRIVILEGED)
        os.chown(target, account.pw_uid, account.pw_gid)
    before = digest(target)
    args = [a.replace("{}", target.name) for a in command]
    line = one_error_line(as_unprivileged(workspace, workspace / "ledger.db", *args), 3)
    assert "kept.out" in line and "write-protected" in line
    assert digest(target) == before
    assert oct(target.stat().st_mode & 0o777) == oct(0o444)
    leftovers = sorted(p.name for p in workspace.iterdir())
    assert leftovers == ["kept.out", "ledger.db"], leftovers


@pytest.mark.parametrize("command", OUTPUTS.values(), ids=OUTPUTS.keys())
def test_a_read_only_folder_is_one_line_exit_3(workspace: Path, command: list[str]) -> None:
    folder = workspace / "sealed"
    folder.mkdir(mode=0o555)
    if os.geteuid() == 0:
        account = pwd.getpwnam(UNPRIVILEGED)
        os.chown(folder, account.pw_uid, account.pw_gid)
    args = [a.replace("{}", "sealed/x.out") for a in command]
    line = one_error_line(as_unprivileged(workspace, workspace / "ledger.db", *args), 3)
    assert "sealed" in line
    assert list(folder.iterdir()) == []


def test_a_ledger_that_was_read_only_for_a_while_takes_writes_once_writable(
    workspace: Path,
) -> None:
    ledger = workspace / "ledger.db"
    ledger.chmod(0o444)
    read = as_unprivileged(workspace, ledger, "loans", "list")
    assert read.returncode == 0, read.stderr
    move = ["samples", "move", "CE5C0000YJBP005", "--location", "cabinet Z"]
    refused = as_unprivileged(workspace, ledger, *move)
    assert "read-only" in one_error_line(refused, 3)
    ledger.chmod(0o600)  # the operator makes it writable again
    again = as_unprivileged(workspace, ledger, *move)
    assert again.returncode == 0, again.stderr
    assert as_unprivileged(workspace, ledger, "verify").returncode == 0


@pytest.fixture
def keyed(sampleloans: Cli, demo_ledger: Path, tmp_path: Path) -> Path:
    """A copy of the demo ledger with a checkpoint key beside it (key, key.pub)."""
    ledger = copy_of(demo_ledger, tmp_path / "ledger.db")
    made = sampleloans(ledger, "keys", "generate", "--out", "key", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    first = sampleloans(ledger, "checkpoint", "--key", "key", "--out", "cp1.txt", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    (tmp_path / "link-to-key").symlink_to("key")
    return ledger


@pytest.mark.parametrize("out", ["key", "link-to-key", "key.signed", "./key", "cp1.txt"])
def test_a_checkpoint_never_overwrites_its_own_key_or_record(
    sampleloans: Cli, keyed: Path, tmp_path: Path, out: str
) -> None:
    kept = {name: digest(tmp_path / name) for name in ("key", "key.pub", "key.signed", "cp1.txt")}
    inputs = ["checkpoint", "--key", "key", "--out", out, "--force"]
    if out == "cp1.txt":  # proving cp1 against itself: its own input as the output
        inputs = ["checkpoint", "prove", "cp1.txt", "cp1.txt", "--out", out, "--force"]
    result = sampleloans(keyed, *inputs, cwd=tmp_path)
    line = one_error_line(result, 2)
    assert "reads it" in line, line
    assert {name: digest(tmp_path / name) for name in kept} == kept
    assert sampleloans(keyed, "checkpoint", "--key", "key", cwd=tmp_path).returncode == 0


def test_a_key_whose_pub_is_another_keys_signs_nothing(
    sampleloans: Cli, keyed: Path, tmp_path: Path
) -> None:
    """What a `keys generate --force` killed between its two files leaves: the new public key
    beside the old private one. A checkpoint signed then would fail every reader's check."""
    other = sampleloans(keyed, "keys", "generate", "--out", "other", cwd=tmp_path)
    assert other.returncode == 0, other.stderr
    (tmp_path / "key.pub").write_bytes((tmp_path / "other.pub").read_bytes())
    before = sampleloans(keyed, "checkpoint", "list", "--json", cwd=tmp_path).stdout
    result = sampleloans(keyed, "checkpoint", "--key", "key", cwd=tmp_path)
    line = one_error_line(result, 3)
    assert "key.pub" in line and "keys generate" in line, line
    assert sampleloans(keyed, "checkpoint", "list", "--json", cwd=tmp_path).stdout == before
