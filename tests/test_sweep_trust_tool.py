"""Sweep of issue 15 as an outsider: the stand-alone verifier (tools/verify_ledger.py) with a
checkpoint and keys as a borrower would hand them to it.

Found: with --checkpoint but no --public-key it printed "OK" without a word that the signature
was never checked (anyone can write a checkpoint); a private key given as --public-key was a
check failure (exit 1) instead of unreadable input (exit 2); a checkpoint read with newline
translation let a CRLF copy pass where `sampleloans verify --checkpoint` refuses it; a
non-UTF-8 checkpoint gave Python's codec message without the file's name.
"""

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.i15_statement_helpers import copy_ledger, env_for, invoke, make_checkpoint, make_demo

TOOL = Path(__file__).resolve().parent.parent / "tools" / "verify_ledger.py"


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("tool")
    ledger = copy_ledger(make_demo(folder / "d"), folder / "ledger.db")
    return {"db": ledger, **make_checkpoint(ledger, folder), "dir": folder}


def tool(*args: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(TOOL), *map(str, args)], capture_output=True, text=True, timeout=300
    )


def test_a_checkpoint_without_a_key_says_its_signature_was_not_checked(
    signed: dict[str, Any],
) -> None:
    unsigned = tool(signed["db"], "--checkpoint", signed["cp"])
    assert unsigned.returncode == 0, unsigned.stdout + unsigned.stderr
    assert "signature NOT checked (no --public-key)" in unsigned.stdout
    as_json = json.loads(tool(signed["db"], "--checkpoint", signed["cp"], "--json").stdout)
    assert as_json["checkpoint_signature"] == "not checked"
    keyed = tool(signed["db"], "--checkpoint", signed["cp"], "--public-key", signed["pub"])
    assert keyed.returncode == 0, keyed.stdout + keyed.stderr
    assert "NOT checked" not in keyed.stdout
    assert "signed by naoc.example/ledger" in keyed.stdout
    keyed_json = tool(
        signed["db"], "--checkpoint", signed["cp"], "--public-key", signed["pub"], "--json"
    )
    assert json.loads(keyed_json.stdout)["checkpoint_signature"] == "checked"


def test_a_private_key_as_public_key_is_unreadable_input_never_echoed(
    signed: dict[str, Any],
) -> None:
    done = tool(signed["db"], "--checkpoint", signed["cp"], "--public-key", signed["key"])
    assert done.returncode == 2
    assert done.stderr.startswith("Error: public key:") and "private key" in done.stderr
    secret = signed["key"].read_text().strip().split("+", 4)[4]
    assert secret not in done.stdout + done.stderr
    garbage = signed["dir"] / "garbage.pub"
    garbage.write_text("hello\n")
    done = tool(signed["db"], "--checkpoint", signed["cp"], "--public-key", garbage)
    assert done.returncode == 2 and "not NAME+KEYID+BASE64" in done.stderr


def test_a_checkpoint_is_read_byte_for_byte(signed: dict[str, Any]) -> None:
    crlf = signed["dir"] / "crlf.txt"
    crlf.write_bytes(signed["cp"].read_bytes().replace(b"\n", b"\r\n"))
    done = tool(signed["db"], "--checkpoint", crlf, "--public-key", signed["pub"])
    assert done.returncode == 2 and done.stderr.startswith("Error: checkpoint:")
    same = invoke(env_for(signed["db"]), "verify", "--checkpoint", str(crlf),
                  "--public-key", str(signed["pub"]))  # fmt: skip
    assert same.exit_code == 2  # the program and the stand-alone tool agree
    binary = signed["dir"] / "binary.txt"
    binary.write_bytes(b"\xff\xfe garbage\n")
    done = tool(signed["db"], "--checkpoint", binary, "--public-key", signed["pub"])
    assert done.returncode == 2 and str(binary) in done.stderr and "UTF-8" in done.stderr


def test_a_signature_line_that_is_not_base64_is_a_failure_not_a_crash(
    signed: dict[str, Any],
) -> None:
    text = signed["cp"].read_text()
    head, _, line = text.rstrip("\n").rpartition("\n")
    broken = signed["dir"] / "broken.txt"
    broken.write_text(head + "\n" + line[:-3] + "!!!\n")
    done = tool(signed["db"], "--checkpoint", broken, "--public-key", signed["pub"])
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL: checkpoint: the signature line of naoc.example/ledger is not base64" in (
        done.stdout
    )


def test_a_ledger_in_a_folder_named_with_hash_and_question_mark(
    signed: dict[str, Any], tmp_path: Path
) -> None:
    """The verifier opened `file:PATH?mode=ro` unescaped: a '#' cut the path short, SQLite
    created that shorter file, and the ledger was "not a readable ledger"."""
    folder = tmp_path / "archive #2?copy"
    folder.mkdir()
    ledger = copy_ledger(signed["db"], folder / "ledger.db")
    done = tool(ledger, "--checkpoint", signed["cp"], "--public-key", signed["pub"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().endswith("OK")
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]  # no "archive " file beside


def test_a_float_in_a_tampered_row_is_a_failure_of_that_event(
    signed: dict[str, Any], tmp_path: Path
) -> None:
    ledger = copy_ledger(signed["db"], tmp_path / "ledger.db")
    with sqlite3.connect(ledger) as connection:
        triggers = connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'ledger_event'"
        ).fetchall()
        for (name,) in triggers:
            connection.execute(f"DROP TRIGGER {name}")
        connection.execute("UPDATE ledger_event SET corrects_seq = 1.5 WHERE seq = 50")
    done = tool(ledger)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL: event 50: a field outside the format" in done.stdout
