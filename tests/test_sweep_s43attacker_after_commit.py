"""Sweep s43, a careless operator: `checkpoint` whose files cannot be written where asked.

`checkpoint` writes two files only once its checkpoint is kept (committed): `--out FILE` and the
key's record of what it signed, `KEY.signed`. Before, a folder this account may not write (its
mode, a read-only mount) or a write-protected `KEY.signed` was found only then: the command
failed (exit 3) with the checkpoint kept all the same, so the ledger changed although the
command was refused, and a key on a read-only medium could never sign without leaving one kept
each time. Now both are checked (a private temp file made and removed in the folder) before
anything is verified or signed: one `Error:` line, exit 3, the ledger unchanged.
"""

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import fingerprint
from tests.i15_statement_helpers import env_for, invoke

WORKTREE = Path(__file__).resolve().parents[1]
WITHOUT_OVERRIDE = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner"]


@functools.cache
def _modes_bind() -> list[str]:
    """A command prefix under which file modes bind (root keeps its uid but loses the
    capabilities that ignore them); skips, saying why, where there is none."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root and setpriv(1) is missing: file modes do not bind root")
    probe = subprocess.run(
        [*WITHOUT_OVERRIDE, sys.executable, "-c", "import sampleloans"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(WORKTREE)},
    )
    if probe.returncode != 0:
        pytest.skip(f"setpriv cannot drop the override capabilities here: {probe.stderr[-200:]}")
    return WITHOUT_OVERRIDE


@pytest.fixture
def signer(ledger: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A checkpoint key pair, `keys/k` and `keys/k.pub`, beside a copy of the demo ledger."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "keys").mkdir()
    made = invoke(env_for(ledger), "keys", "generate", "--out", "keys/k", "--name", "lender")
    assert made.exit_code == 0, made.stderr
    return tmp_path / "keys" / "k"


def _kept(ledger: Path) -> int:
    """How many checkpoints the ledger keeps."""
    listed = invoke(env_for(ledger), "checkpoint", "list", "--json")
    assert listed.exit_code == 0, listed.stderr
    return int(listed.stdout.count('"id"'))


def _run(ledger: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a subprocess under which file modes bind."""
    env = {**os.environ, **env_for(ledger), "PYTHONPATH": str(WORKTREE)}
    command = [*_modes_bind(), sys.executable, "-m", "sampleloans", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, check=False)


def test_a_write_protected_key_record_refuses_before_a_checkpoint_is_kept(
    ledger: Path, signer: Path
) -> None:
    """Before: `… is write-protected (mode 0400) …; checkpoint 1 was kept`, exit 3."""
    first = invoke(env_for(ledger), "checkpoint", "--key", str(signer))
    assert first.exit_code == 0, first.stderr
    record = Path(f"{signer}.signed")
    record.chmod(0o400)
    before = fingerprint(ledger)
    result = _run(ledger, "checkpoint", "--key", str(signer))
    assert result.returncode == 3, result.stderr
    assert result.stderr.startswith(f"Error: --key (its record): {record} is write-protected")
    assert "was kept" not in result.stderr and result.stderr.count("\n") == 1
    assert fingerprint(ledger) == before
    record.chmod(0o600)  # made writable, as the line says: the next run signs
    again = invoke(env_for(ledger), "checkpoint", "--key", str(signer))
    assert again.exit_code == 0, again.stderr
    assert _kept(ledger) == 2


def test_a_key_in_a_folder_this_account_may_not_write_keeps_no_checkpoint(
    ledger: Path, signer: Path
) -> None:
    """Before: `cannot write in …/keys: Permission denied; checkpoint 1 was kept`."""
    signer.parent.chmod(0o500)
    try:
        before = fingerprint(ledger)
        result = _run(ledger, "checkpoint", "--key", str(signer))
        after = fingerprint(ledger)
    finally:
        signer.parent.chmod(0o700)
    assert result.returncode == 3, result.stderr
    assert result.stderr == (
        f"Error: --key (its record): cannot write in {signer.parent}: Permission denied\n"
    )
    assert after == before
    assert _kept(ledger) == 0


def test_checkpoint_out_in_a_folder_this_account_may_not_write_keeps_no_checkpoint(
    ledger: Path, signer: Path, tmp_path: Path
) -> None:
    """Before: `--out: cannot write in ro: Permission denied; checkpoint 1 was kept: …`."""
    (tmp_path / "ro").mkdir(mode=0o500)
    before = fingerprint(ledger)
    result = _run(ledger, "checkpoint", "--key", str(signer), "--out", "ro/cp.txt")
    assert result.returncode == 3, result.stderr
    assert result.stderr == "Error: --out: cannot write in ro: Permission denied\n"
    assert fingerprint(ledger) == before
    assert os.listdir(tmp_path / "ro") == [] and sorted(os.listdir(signer.parent)) == ["k", "k.pub"]
    written = invoke(env_for(ledger), "checkpoint", "--key", str(signer), "--out", "cp.txt")
    assert written.exit_code == 0, written.stderr
    assert (tmp_path / "cp.txt").read_text(encoding="utf-8").startswith("sampleloans/ledger/")
