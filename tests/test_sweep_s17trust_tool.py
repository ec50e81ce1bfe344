"""Sweep s17, trust artefacts: the stand-alone verifier (tools/verify_ledger.py) given a
checkpoint that breaks the C2SP tlog-checkpoint / signed-note rules.

Found: a tree size or head line that Python's int() could not read ended in
"Error: invalid literal for int() with base 10: '10²'" (naming neither the file nor the line),
and a tree size with a leading zero ('0107', which c2sp.org/tlog-checkpoint forbids) or a note
with a control character (which c2sp.org/signed-note forbids) was read as a checkpoint.
"""

import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sampleloans.ledger.checkpoint import Checkpoint, generate_signer, sign_checkpoint
from sampleloans.ledger.merkle import root_of
from tests.i15_statement_helpers import (
    copy_ledger,
    env_for,
    event_hashes,
    invoke,
    make_checkpoint,
    make_demo,
)

TOOL = Path(__file__).parents[1] / "tools" / "verify_ledger.py"


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A demo ledger and a checkpoint of its head, as a lender hands them out."""
    folder = tmp_path_factory.mktemp("tool")
    db = copy_ledger(make_demo(folder / "d"), folder / "ledger.db")
    return {**make_checkpoint(db, folder), "db": db}


def run_tool(*args: Any) -> subprocess.CompletedProcess[str]:
    """The verifier as a borrower runs it: python3 verify_ledger.py …"""
    return subprocess.run(
        [sys.executable, str(TOOL), *map(str, args)], capture_output=True, text=True
    )


@pytest.mark.parametrize(
    ("old", "new", "named"),
    [
        ("\n{size}\n", "\n0{size}\n", "tree size"),
        ("\n{size}\n", "\n{size}²\n", "tree size"),
        ("\n{size}\n", "\n+{size}\n", "tree size"),
        ("\nhead {size}:", "\nhead x{size}:", "head line"),
        ("\nhead {size}:", "\nhead {size}\r:", "control character"),
    ],
    ids=["leading zero", "superscript", "plus sign", "head not a number", "carriage return"],
)
def test_a_malformed_checkpoint_is_unreadable_input_naming_the_line(
    ledger: dict[str, Any], tmp_path: Path, old: str, new: str, named: str
) -> None:
    """Exit 2 (unreadable input), one `Error: checkpoint: …` line naming what is wrong."""
    note = ledger["note"]
    size = ledger["size"]
    bad = note.replace(old.format(size=size), new.format(size=size), 1)
    assert bad != note
    cp = tmp_path / "cp.txt"
    cp.write_bytes(bad.encode("utf-8"))
    for key in ([], ["--public-key", ledger["pub"]]):
        result = run_tool(ledger["db"], "--checkpoint", cp, *key)
        assert result.returncode == 2, (result.stdout, result.stderr)
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: checkpoint: "), lines
        assert named in lines[0] and "invalid literal" not in lines[0]
    assert run_tool(ledger["db"], "--checkpoint", ledger["cp"]).returncode == 0


def test_a_carriage_return_in_the_signature_block_is_refused_by_both_verifiers(
    ledger: dict[str, Any], tmp_path: Path
) -> None:
    """Before: `verify --checkpoint` accepted a checkpoint whose signature line ended in CRLF
    (the signed-note format forbids every control character but newline)."""
    cp = tmp_path / "cp.txt"
    cp.write_bytes(ledger["note"].encode("utf-8")[:-1] + b"\r\n")
    env = {**env_for(ledger["db"]), "COLUMNS": "200"}
    result = invoke(env, "verify", "--checkpoint", str(cp), "--public-key", str(ledger["pub"]))
    assert result.exit_code == 2, result.stdout
    assert result.stderr.startswith("Error: --checkpoint ") and "control character" in result.stderr
    assert len(result.stderr.splitlines()) == 1
    tool = run_tool(ledger["db"], "--checkpoint", cp, "--public-key", ledger["pub"])
    assert tool.returncode == 2 and "control character" in tool.stderr


def test_the_tool_says_which_events_a_checkpoint_of_an_earlier_size_covers(
    ledger: dict[str, Any], tmp_path: Path
) -> None:
    """Before: 'checkpoint: matches this ledger and is signed by …' and 'OK', beside the head
    of later events no signature covers."""
    size = ledger["size"] - 3
    with sqlite3.connect(ledger["db"]) as connection:
        (ledger_id,) = connection.execute(
            "SELECT value FROM ledger_meta WHERE key = 'ledger_id'"
        ).fetchone()
    signer = generate_signer("naoc.example/ledger")
    root = root_of(event_hashes(ledger["db"], size))
    cp, pub = tmp_path / "older.txt", tmp_path / "older.pub"
    older = Checkpoint(f"sampleloans/ledger/{ledger_id}", size, root)
    cp.write_text(sign_checkpoint(older, signer))
    pub.write_text(signer.verifier().encode() + "\n")
    result = run_tool(ledger["db"], "--checkpoint", cp, "--public-key", pub)
    assert result.returncode == 0, result.stdout
    assert f"covers events 1–{size}" in result.stdout
    assert f"events {size + 1}–{ledger['size']} come after it: not covered by it" in (result.stdout)
    whole = run_tool(ledger["db"], "--checkpoint", ledger["cp"], "--public-key", ledger["pub"])
    assert f"covers events 1–{ledger['size']}" in whole.stdout
    assert "come after it" not in whole.stdout


@pytest.mark.parametrize("option", ["--checkpoint", "--public-key"])
def test_the_tool_refuses_a_device_or_an_oversized_checkpoint_or_key(
    ledger: dict[str, Any], tmp_path: Path, option: str
) -> None:
    """Before: the tool read a checkpoint or key file whole, whatever its size, and read
    /dev/zero until memory ran out (the ledger's own commands refuse both)."""
    other = (
        ["--public-key", ledger["pub"]]
        if option == "--checkpoint"
        else ["--checkpoint", ledger["cp"]]
    )
    huge = tmp_path / "huge.txt"
    huge.write_text("a" * 70_000)
    for given, said in ((huge, "larger than"), (Path("/dev/zero"), "not a regular file")):
        result = subprocess.run(
            [sys.executable, str(TOOL), str(ledger["db"]), option, str(given), *map(str, other)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2, (given, result.stderr)
        assert said in result.stderr and len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize("source", ["/dev/zero", "folder"])
def test_the_tool_refuses_a_device_or_folder_as_the_ledger(tmp_path: Path, source: str) -> None:
    """Before: /dev/zero was read as an export's endless first line."""
    given = tmp_path if source == "folder" else Path(source)
    result = subprocess.run(
        [sys.executable, str(TOOL), str(given)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2, result.stderr
    assert "not a regular file" in result.stderr and len(result.stderr.splitlines()) == 1


def test_a_line_appended_after_the_signature_is_refused_by_both_verifiers(
    ledger: dict[str, Any], tmp_path: Path
) -> None:
    """Before: `verify --checkpoint` refused it (exit 2) while the stand-alone tool said OK."""
    cp = tmp_path / "cp.txt"
    cp.write_text(ledger["note"] + "appended\n")
    env = {**env_for(ledger["db"]), "COLUMNS": "200"}
    result = invoke(env, "verify", "--checkpoint", str(cp), "--public-key", str(ledger["pub"]))
    assert result.exit_code == 2 and "signature line must start with" in result.stderr
    tool = run_tool(ledger["db"], "--checkpoint", cp, "--public-key", ledger["pub"])
    assert tool.returncode == 2, tool.stdout
    assert "signature line must start with" in tool.stderr
