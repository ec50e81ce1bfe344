"""Sweep s17, trust artefacts as an outside verifier and as an attacker: signing keys."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import demo_env


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo ledger, read and signed by its curator."""
    return demo_env(tmp_path_factory, "curator@naoc.example")


def test_a_key_name_too_long_for_its_own_key_file_is_refused_before_writing(
    tmp_path: Path,
) -> None:
    """Before: `keys generate --name <5,000 characters>` wrote a key pair that every command
    reading it (checkpoint --key, verify --public-key) refused as 'larger than 4096 bytes'."""
    out = tmp_path / "key"
    result = CliRunner().invoke(app, ["keys", "generate", "--out", str(out), "--name", "x" * 5000])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Error: ") and len(result.stderr.splitlines()) == 1
    assert "--name" in result.stderr and "255 bytes" in result.stderr
    assert "x" * 100 not in result.stderr  # the long name is shortened, not echoed whole
    assert not list(tmp_path.iterdir())


def test_a_key_name_at_the_bound_makes_a_key_that_signs_and_verifies(
    tmp_path: Path, demo: dict[str, str]
) -> None:
    """The longest accepted name (255 UTF-8 bytes, here in two-byte letters) round-trips."""
    name = "é" * 127 + "x"
    key = tmp_path / "key"
    runner = CliRunner(env=demo)
    made = runner.invoke(app, ["keys", "generate", "--out", str(key), "--name", name])
    assert made.exit_code == 0, made.output
    signed = runner.invoke(app, ["checkpoint", "--key", str(key), "--out", str(tmp_path / "cp")])
    assert signed.exit_code == 0, signed.output
    checked = runner.invoke(
        app,
        ["verify", "--checkpoint", str(tmp_path / "cp"), "--public-key", f"{key}.pub"],
    )
    assert checked.exit_code == 0, checked.output


@pytest.mark.parametrize("given", ["folder", "huge"])
def test_verify_names_the_checkpoint_option_for_a_file_that_is_none(
    tmp_path: Path, demo: dict[str, str], given: str
) -> None:
    """Before: 'Error: checkpoint: k is a folder, not a file' (and '… is larger than 65536
    bytes'), where every other refusal of the same file says '--checkpoint'."""
    runner = CliRunner(env=demo)
    key = tmp_path / "key"
    assert runner.invoke(app, ["keys", "generate", "--out", str(key)]).exit_code == 0
    path = tmp_path / given
    if given == "folder":
        path.mkdir()
    else:
        path.write_text("a" * 70_000)
    result = runner.invoke(app, ["verify", "--checkpoint", str(path), "--public-key", f"{key}.pub"])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"Error: --checkpoint: {path}"), result.stderr
