"""An input file that is a FIFO or a device: one `Error:` line naming the option (exit 2) at
once. Before, a FIFO blocked the command until someone wrote to it (for ever, unattended) and
`verify-document /dev/zero` read without end. Run as real processes with a timeout, so that a
regression fails instead of hanging the suite."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import CURATOR, fingerprint

CASES = {
    "import": (["import", "{fifo}.csv"], "FILE"),
    "verify-document": (["verify-document", "{fifo}"], "FILE"),
    "verify-document /dev/zero": (["verify-document", "/dev/zero"], "FILE"),
    "verify --checkpoint": (
        ["verify", "--checkpoint", "{fifo}", "--public-key", "{dir}/cp.key.pub"],
        "--checkpoint",
    ),
    "verify --public-key": (
        ["verify", "--checkpoint", "{dir}/cp.txt", "--public-key", "{fifo}"],
        "--public-key",
    ),
    "checkpoint --key": (["checkpoint", "--key", "{fifo}"], "--key"),
    "verify-document --trust-root": (
        ["verify-document", "{dir}/cp.txt", "--trust-root", "{fifo}"],
        "--trust-root",
    ),
    "report --signer-key": (
        [
            "report", "custody", "--sample", "CE5C0200YJFM00112", "--out", "{dir}/r.pdf",
            "--sign", "--signer-key", "{fifo}", "--signer-cert", "{dir}/cp.txt",
        ],
        "--signer-key",
    ),
    "report statement --checkpoint": (
        ["report", "statement", "--institution", "OU", "--out", "{dir}", "--checkpoint", "{fifo}"],
        "--checkpoint",
    ),
}  # fmt: skip


@pytest.fixture
def folder(engine: Engine, db_path: Path, cli_env: dict[str, str], tmp_path: Path) -> Path:
    """A key, a checkpoint of the ledger and two FIFOs nobody writes to."""
    key = tmp_path / "cp.key"
    assert CliRunner().invoke(app, ["keys", "generate", "--out", str(key)]).exit_code == 0
    made = CliRunner().invoke(
        app, ["--as", CURATOR, "checkpoint", "--key", str(key), "--out", str(tmp_path / "cp.txt")]
    )
    assert made.exit_code == 0, made.stderr
    os.mkfifo(tmp_path / "fifo")
    os.mkfifo(tmp_path / "fifo.csv")
    return tmp_path


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_fifo_or_device_as_input_is_refused_at_once(
    name: str, folder: Path, db_path: Path
) -> None:
    argv, option = CASES[name]
    fifo = str(folder / "fifo")
    real = [a.replace("{fifo}", fifo).replace("{dir}", str(folder)) for a in argv]
    before, listing = fingerprint(db_path), sorted(p.name for p in folder.iterdir())
    done = subprocess.run(
        [sys.executable, "-m", "sampleloans", "--as", CURATOR, *real],
        capture_output=True,
        text=True,
        timeout=60,  # a blocked open would wait for ever
        env={**os.environ, "NO_COLOR": "1"},
    )
    shown = next(a for a in real if a.startswith(fifo) or a == "/dev/zero")
    assert done.returncode == 2, done.stderr
    assert done.stderr == (
        f"Error: {option}: {shown} is not a regular file (a device, FIFO or socket); give the "
        "file itself\n"
    )
    assert fingerprint(db_path) == before
    assert sorted(p.name for p in folder.iterdir()) == listing
