"""Stop 34, attack 2: a checkpoint file edited after signing, in ways an editor, a mail program
or a hand does. Before, `verify --checkpoint` called a file whose last newline was taken off
`truncated` (the stand-alone verifier: `no blank line before the signatures`, though it has
one), spaces added at the end of the signature line `not valid base64` (the verifier printed its
whole report and exit 1), and a second note appended after the first `line 7 is empty`. Each
is now named with how to undo it, exit 2 (malformed), by `sampleloans` (CLI and
`ledger/checkpoint.split_note`) and by `tools/verify_ledger.py` alike; undoing it gives back the
signed bytes."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sampleloans.errors import InvalidInput
from sampleloans.ledger.checkpoint import split_note
from tests.i15_statement_helpers import env_for, invoke, make_checkpoint, make_demo
from tools import verify_ledger

EDITS: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "last newline taken off": (
        lambda note: note.removesuffix(b"\n"),
        "its last line, line 8, the signature, has no newline at its end (an editor took it "
        "off?): add one and check it again",
    ),
    "spaces after the signature": (
        lambda note: note.removesuffix(b"\n") + b"  \n",
        "line 8 ends in spaces or tabs (an editor or a mail program added them?); no line of a "
        "checkpoint does: remove them and check it again",
    ),
    "a tab after the tree size": (
        lambda note: note.replace(b"\n", b"\t\n", 2).replace(b"\t\n", b"\n", 1),
        "line 2 ends in spaces or tabs",
    ),
    "a second note appended": (
        lambda note: note + note,
        "line 8 is a signature line, yet more lines follow it: a second note was appended "
        "after the first (one note per file): keep lines 1 to 8 and check it again",
    ),
}
"""Each edit of a checkpoint file, and what is said of it (after `signed note: ` or
`checkpoint: `)."""


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A demo ledger with a checkpoint, its file and the public key."""
    folder = tmp_path_factory.mktemp("edits")
    ledger = make_demo(folder / "d")
    return {"db": ledger, "dir": folder, **make_checkpoint(ledger, folder)}


def _edited(signed: dict[str, Any], name: str) -> Path:
    path = Path(signed["dir"]) / f"{name.replace(' ', '-')}.txt"
    path.write_bytes(EDITS[name][0](Path(signed["cp"]).read_bytes()))
    return path


@pytest.mark.parametrize("name", sorted(EDITS))
def test_an_edited_checkpoint_is_named_by_verify_cli(signed: dict[str, Any], name: str) -> None:
    edited = _edited(signed, name)
    result = invoke(
        env_for(signed["db"]),
        *("verify", "--checkpoint", str(edited), "--public-key", str(signed["pub"])),
    )
    assert result.exit_code == 2, result.stdout
    assert result.stderr.startswith(f"Error: --checkpoint {edited}: signed note: {EDITS[name][1]}")
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize("name", sorted(EDITS))
def test_an_edited_checkpoint_is_named_by_the_stand_alone_verifier(
    signed: dict[str, Any], name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    edited = _edited(signed, name)
    args = [str(signed["db"]), "--checkpoint", str(edited), "--public-key", str(signed["pub"])]
    assert verify_ledger.main(args) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"Error: checkpoint: {EDITS[name][1]}")
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize("name", sorted(EDITS))
def test_an_edited_checkpoint_is_named_service(signed: dict[str, Any], name: str) -> None:
    note = EDITS[name][0](Path(signed["cp"]).read_bytes()).decode("utf-8")
    with pytest.raises(InvalidInput) as refused:
        split_note(note)
    assert str(refused.value).startswith(f"signed note: {EDITS[name][1]}")


def test_a_note_cut_inside_its_signature_is_still_truncated(signed: dict[str, Any]) -> None:
    """Only a whole signature line without its newline is called so: one cut short is not."""
    note = Path(signed["cp"]).read_text()
    with pytest.raises(InvalidInput, match="truncated"):
        split_note(note[:-20])
    assert split_note(note)[1]  # the file as signed still reads
