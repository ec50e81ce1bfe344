"""Sweep s21, a careless user: a checkpoint file that went through an editor or a mail program.

A borrower who saved the lender's checkpoint on Windows (every line now ending in CR LF) was
told `signed note: no blank line before the signatures (truncated?)`; one whose editor added a
byte-order mark was told the signature does not verify, "the text was changed after signing, or
it was signed by another key" (exit 1, an alarm). Neither was true: taking the CRs or the mark
out gives back the signed bytes. Both are now named, with what to do (exit 2, malformed), by
`sampleloans` and by the stand-alone verifier alike; a lone CR stays a control character.
"""

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.i15_statement_helpers import env_for, invoke, make_checkpoint, make_demo

TOOL = Path(__file__).resolve().parent.parent / "tools" / "verify_ledger.py"


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A demo ledger with a checkpoint, its file and the public key."""
    folder = tmp_path_factory.mktemp("editors")
    ledger = make_demo(folder / "d")
    made = make_checkpoint(ledger, folder)
    return {"db": ledger, "dir": folder, **made}


def _verify(signed: dict[str, Any], checkpoint: Path) -> Any:
    """`sampleloans verify --checkpoint FILE --public-key KEY.pub` on the demo."""
    return invoke(
        env_for(signed["db"]),
        *("verify", "--checkpoint", str(checkpoint), "--public-key", str(signed["pub"])),
    )


def _tool(signed: dict[str, Any], checkpoint: Path) -> subprocess.CompletedProcess[str]:
    """The stand-alone verifier on the same ledger and checkpoint."""
    args = [str(signed["db"]), "--checkpoint", str(checkpoint), "--public-key", str(signed["pub"])]
    return subprocess.run(
        [sys.executable, str(TOOL), *args], capture_output=True, text=True, check=False
    )


def test_crlf_line_ends_are_named(signed: dict[str, Any]) -> None:
    """Before: 'no blank line before the signatures (truncated?)'."""
    crlf = signed["dir"] / "crlf.txt"
    crlf.write_bytes(signed["cp"].read_bytes().replace(b"\n", b"\r\n"))
    result = _verify(signed, crlf)
    assert result.exit_code == 2, result.stdout
    assert result.stderr == (
        f"Error: --checkpoint {crlf}: signed note: its lines end in CR LF (saved or mailed on "
        "Windows?), a signed note's in LF alone: convert it back (e.g. 'dos2unix FILE') and "
        "check it again\n"
    )
    tool = _tool(signed, crlf)
    assert tool.returncode == 2 and "its lines end in CR LF" in tool.stderr
    converted = signed["dir"] / "converted.txt"
    converted.write_bytes(crlf.read_bytes().replace(b"\r\n", b"\n"))
    assert _verify(signed, converted).exit_code == 0  # the advice gives the signed bytes back


def test_a_byte_order_mark_is_named_not_called_a_forgery(signed: dict[str, Any]) -> None:
    """Before: exit 1, 'the signature … does not verify: the text was changed after signing'."""
    marked = signed["dir"] / "bom.txt"
    marked.write_bytes(b"\xef\xbb\xbf" + signed["cp"].read_bytes())
    result = _verify(signed, marked)
    assert result.exit_code == 2, result.stdout
    assert "starts with a byte-order mark (U+FEFF) that an editor added" in result.stderr
    assert "does not verify" not in result.stderr
    tool = _tool(signed, marked)
    assert tool.returncode == 2 and "byte-order mark" in tool.stderr


def test_a_changed_checkpoint_is_still_a_failure(signed: dict[str, Any]) -> None:
    """The marks are named only as such: an edited tree size still fails its signature."""
    text = signed["cp"].read_text(encoding="utf-8")
    lines = text.split("\n")
    lines[1] = str(int(lines[1]) - 1)
    edited = signed["dir"] / "edited.txt"
    edited.write_text("\n".join(lines), encoding="utf-8")
    result = _verify(signed, edited)
    assert result.exit_code == 1 and "does not verify" in result.stderr


def test_the_tool_counts_its_problems_in_words(signed: dict[str, Any]) -> None:
    """Before: the stand-alone verifier ended with '2 problem(s)', where `sampleloans verify`
    says '1 problem found'."""
    text = signed["cp"].read_text(encoding="utf-8")
    lines = text.split("\n")
    lines[1] = str(int(lines[1]) - 1)
    edited = signed["dir"] / "edited-for-tool.txt"
    edited.write_text("\n".join(lines), encoding="utf-8")
    tool = _tool(signed, edited)
    assert tool.returncode == 1
    last = tool.stdout.strip().splitlines()[-1]
    assert last in {"1 problem found"} | {f"{n} problems found" for n in range(2, 9)}, last
