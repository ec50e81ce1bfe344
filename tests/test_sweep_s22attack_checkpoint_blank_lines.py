"""Sweep s22, the world's accidents: a checkpoint file with blank lines after its signature.

A mail program or an editor that adds an empty line at the end of a file (or a user who pastes
the checkpoint with one) left a checkpoint that `verify --checkpoint` called `signed note:
needs 1 to 16 signature lines` — the signature line is right there. Like CR LF line ends and a
byte-order mark (sweep s21), the blank lines are now named with what to do (exit 2, malformed),
by `sampleloans` and by the stand-alone verifier alike; removing them gives back the signed
bytes. A note cut before its signature is still called what it is.
"""

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sampleloans.errors import InvalidInput
from sampleloans.ledger.checkpoint import split_note
from tests.i15_statement_helpers import env_for, invoke, make_checkpoint, make_demo

TOOL = Path(__file__).resolve().parent.parent / "tools" / "verify_ledger.py"


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A demo ledger with a checkpoint, its file and the public key."""
    folder = tmp_path_factory.mktemp("blank")
    ledger = make_demo(folder / "d")
    return {"db": ledger, "dir": folder, **make_checkpoint(ledger, folder)}


def _verify(signed: dict[str, Any], checkpoint: Path) -> Any:
    """`sampleloans verify --checkpoint FILE --public-key KEY.pub` on the demo."""
    return invoke(
        env_for(signed["db"]),
        *("verify", "--checkpoint", str(checkpoint), "--public-key", str(signed["pub"])),
    )


@pytest.mark.parametrize("blank", [1, 3])
def test_blank_lines_after_the_signature_are_named(signed: dict[str, Any], blank: int) -> None:
    """Before: 'signed note: needs 1 to 16 signature lines'."""
    padded = signed["dir"] / f"padded-{blank}.txt"
    padded.write_bytes(signed["cp"].read_bytes() + b"\n" * blank)
    result = _verify(signed, padded)
    assert result.exit_code == 2, result.stdout
    lines = "line" if blank == 1 else "lines"
    assert result.stderr == (
        f"Error: --checkpoint {padded}: signed note: {blank} blank {lines} after its signature "
        "line (an editor or a mail program added them?); a signed note ends with its last "
        "signature line: remove them and check it again\n"
    )
    args = [str(signed["db"]), "--checkpoint", str(padded), "--public-key", str(signed["pub"])]
    tool = subprocess.run(
        [sys.executable, str(TOOL), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert tool.returncode == 2, tool.stdout
    assert f"{blank} blank line(s) after its signature line" in tool.stderr
    mended = signed["dir"] / "mended.txt"
    mended.write_bytes(padded.read_bytes().rstrip(b"\n") + b"\n")
    assert _verify(signed, mended).exit_code == 0  # the advice gives the signed bytes back


def test_a_note_cut_before_its_signature_is_not_called_padded(signed: dict[str, Any]) -> None:
    """Only blank lines after a signature line are named so: a note with none is truncated."""
    text = signed["note"].split("\n\n")[0] + "\n\n\n"
    with pytest.raises(InvalidInput, match="needs 1 to 16 signature lines"):
        split_note(text)
