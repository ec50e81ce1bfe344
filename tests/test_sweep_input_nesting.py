"""JSON nested deeper than Python's stack in a file a user gives (an events export, a
consistency proof, a key's record of signed checkpoints): one `Error:` line (exit 2), no
RecursionError traceback, nothing written."""

from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import CURATOR, fingerprint

DEEP = "[" * 50_000  # far past the interpreter's recursion limit, well under every size limit


@pytest.fixture
def signed(engine: Engine, db_path: Path, cli_env: dict[str, str], tmp_path: Path) -> Path:
    """A key and one checkpoint of this ledger (cp.txt) beside it."""
    runner = CliRunner()
    key = tmp_path / "cp.key"
    assert runner.invoke(app, ["keys", "generate", "--out", str(key)]).exit_code == 0
    made = runner.invoke(
        app, ["--as", CURATOR, "checkpoint", "--key", str(key), "--out", str(tmp_path / "cp.txt")]
    )
    assert made.exit_code == 0, made.stderr
    return tmp_path


def refused(argv: list[str], db_path: Path) -> str:
    before = fingerprint(db_path)
    result = CliRunner().invoke(app, ["--as", CURATOR, *argv])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 2, result.stdout + result.stderr
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
    assert fingerprint(db_path) == before
    return result.stderr


def test_restore_events_of_deeply_nested_json(signed: Path, db_path: Path) -> None:
    export = signed / "deep.jsonl"
    export.write_text(DEEP + "\n")
    message = refused(["restore", str(export), "--events", "--force"], db_path)
    expected = "not valid JSON (nested too deeply; an event is a flat object)"
    assert message == f"Error: {export} line 1: {expected}\n"


def test_check_consistency_with_a_deeply_nested_proof(signed: Path, db_path: Path) -> None:
    proof = signed / "proof.json"
    proof.write_text(DEEP)
    checkpoint, key = str(signed / "cp.txt"), str(signed / "cp.key.pub")
    argv = ["checkpoint", "check-consistency", checkpoint, checkpoint, str(proof)]
    message = refused([*argv, "--public-key", key], db_path)
    assert "is not a consistency proof written by 'checkpoint prove'" in message


def test_checkpoint_with_a_deeply_nested_key_record(signed: Path, db_path: Path) -> None:
    memory = signed / "cp.key.signed"
    memory.write_text('{"origin": ' + DEEP)
    message = refused(["checkpoint", "--key", str(signed / "cp.key")], db_path)
    assert "is damaged or not this key's; move it aside" in message
    assert memory.read_text() == '{"origin": ' + DEEP  # left as it was for the curator to see
