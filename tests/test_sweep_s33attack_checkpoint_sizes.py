"""Sweep s33, an attacker's checkpoint files: a tree size of thousands of digits, and a note
whose last line lost its newline.

A checkpoint whose tree size line held more than 4,300 digits made every reader of it
(`verify --checkpoint`, `checkpoint check-consistency`, `verify-document`, `verify-bag`) end in
Python's own `ValueError: Exceeds the limit (4300 digits) for integer string conversion`, a
traceback (exit 1); the stand-alone verifier printed that sentence as its error. A tree size is
a uint64 (c2sp.org/tlog-checkpoint): now anything longer or larger is named, exit 2, by both.
A note cut just before its last newline was said to have "-1 blank line after its signature
line"; now it is called truncated, as a note cut anywhere else is.
"""

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from sampleloans.errors import InvalidInput
from sampleloans.ledger.checkpoint import (
    CheckpointRefused,
    generate_signer,
    open_note,
    parse_checkpoint,
    sign_note,
    split_note,
)

TOOL = Path(__file__).resolve().parent.parent / "tools" / "verify_ledger.py"
ROOT_B64 = "xJQqrUDv4Ghuwj1AzvufK83gFJbTLTXEE1biU7wcRo8="
ORIGIN = "sampleloans/ledger/e2fcc228-5c6e-481e-afd4-66cdd4dbc73d"
UINT64_MAX = "18446744073709551615"


def _note(size_text: str) -> str:
    """A checkpoint note with this tree size line, validly signed (its signer's own mistake)."""
    signer = generate_signer("naoc.example/ledger")
    return sign_note(f"{ORIGIN}\n{size_text}\n{ROOT_B64}\n", signer)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A key pair's public half and a well-formed older checkpoint and proof file beside it."""
    here = tmp_path_factory.mktemp("sizes")
    signer = generate_signer("naoc.example/ledger")
    (here / "KEY.pub").write_text(signer.verifier().encode() + "\n", "utf-8")
    (here / "old.txt").write_text(sign_note(f"{ORIGIN}\n1\n{ROOT_B64}\n", signer), "utf-8")
    (here / "proof.json").write_text("{}", "utf-8")
    return {"dir": here, "signer": signer}


@pytest.mark.parametrize("size_text", ["9" * 5000, "9" * 21, "18446744073709551616"])
def test_a_tree_size_beyond_a_uint64_is_named(size_text: str) -> None:
    """Before: ValueError (Exceeds the limit (4300 digits)) for the 5,000 digits."""
    with pytest.raises(InvalidInput, match=r"line 2, the tree size, .* is not a decimal number"):
        parse_checkpoint(split_note(_note(size_text))[0])


def test_the_largest_uint64_is_a_tree_size() -> None:
    """The bound is the format's, not lower: 2**64 - 1 is read (the ledger then says it is
    larger than the ledger, as for any size it does not hold)."""
    assert parse_checkpoint(split_note(_note(UINT64_MAX))[0]).size == 2**64 - 1


def test_check_consistency_names_a_size_of_thousands_of_digits(folder: dict[str, Any]) -> None:
    """Through the CLI a user runs: one line, exit 2, no traceback (before: exit 1,
    ValueError)."""
    new = folder["dir"] / "new.txt"
    new.write_text(_note("9" * 5000), "utf-8")
    args = ["checkpoint", "check-consistency", str(folder["dir"] / "old.txt"), str(new)]
    key = ["--public-key", str(folder["dir"] / "KEY.pub")]
    result = CliRunner().invoke(app, [*args, str(folder["dir"] / "proof.json"), *key])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stderr.startswith("Error: NEW checkpoint: the file is not a checkpoint: line 2")
    assert f"is not a decimal number from 0 to {UINT64_MAX}" in result.stderr
    assert result.stderr.count("\n") == 1


def test_the_stand_alone_verifier_names_it_too(folder: dict[str, Any]) -> None:
    """tools/verify_ledger.py (in every bag): before, 'Error: Exceeds the limit (4300 digits)
    …', which names neither the file nor the line."""
    checkpoint = folder["dir"] / "huge.txt"
    checkpoint.write_text(_note("9" * 5000), "utf-8")
    events = folder["dir"] / "events.jsonl"
    events.write_text("", "utf-8")
    tool = subprocess.run(
        [sys.executable, str(TOOL), str(events), "--checkpoint", str(checkpoint)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert tool.returncode == 2, tool.stdout
    assert tool.stderr.startswith("Error: checkpoint: tree size '99999"), tool.stderr
    assert "is not a decimal number" in tool.stderr and "Traceback" not in tool.stderr


def test_a_note_without_its_last_newline_is_truncated_not_minus_one_blank_line() -> None:
    """Before: 'signed note: -1 blank line after its signature line (an editor …)'; since
    stop 34 its whole signature line is named as missing its newline (a cut one: truncated)."""
    note = _note("1")
    with pytest.raises(InvalidInput, match=r"^signed note: its last line, line 5, the signature"):
        split_note(note.rstrip("\n"))
    with pytest.raises(InvalidInput, match=r"^signed note: truncated \(it must end with"):
        split_note(note[:-10])


def test_a_key_of_the_same_name_is_told_apart_by_its_key_id() -> None:
    """Two key pairs made under one name (`keys generate --name naoc.example/ledger` run
    again): before, 'not signed by key N+ID (signed by 'N')', as if the name matched."""
    signer, other = generate_signer("naoc.example/ledger"), generate_signer("naoc.example/ledger")
    note = sign_note(f"{ORIGIN}\n1\n{ROOT_B64}\n", signer)
    with pytest.raises(CheckpointRefused) as refused:
        open_note(note, other.verifier())
    assert str(refused.value) == (
        f"signed note: not signed by key naoc.example/ledger+{other.verifier().key_id.hex()} "
        f"(signed by 'naoc.example/ledger'+{signer.verifier().key_id.hex()}); a different key "
        "under the same name: check that you gave the key that signed it"
    )


def test_check_consistency_names_the_key_ids(folder: dict[str, Any]) -> None:
    """Through the CLI: exit 1 (a checkpoint that does not check out), one line."""
    other = generate_signer("naoc.example/ledger")
    new = folder["dir"] / "other.txt"
    new.write_text(sign_note(f"{ORIGIN}\n2\n{ROOT_B64}\n", other), "utf-8")
    args = ["checkpoint", "check-consistency", str(folder["dir"] / "old.txt"), str(new)]
    key = ["--public-key", str(folder["dir"] / "KEY.pub")]
    result = CliRunner().invoke(app, [*args, str(folder["dir"] / "proof.json"), *key])
    assert result.exit_code == 1, result.output
    assert (
        f"(signed by 'naoc.example/ledger'+{other.verifier().key_id.hex()}); a different key"
        in (result.stderr)
    )
    assert result.stderr.count("\n") == 1
