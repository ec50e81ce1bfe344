"""`checkpoint prove 1 2` (the IDs `checkpoint list` numbers, where the README says OLD and NEW
are checkpoint files) answered `Error: OLD: 1 does not exist`, which did not say what to give.
It now names the file it needs and the command that writes it, exit 2, nothing written; the
role still comes first (exit 4)."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import COMPLIANCE, CURATOR, OU_PI, demo_env
from tests.i15_statement_helpers import make_checkpoint


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo with one checkpoint kept, read by its compliance officer."""
    env = demo_env(tmp_path_factory, COMPLIANCE)
    make_checkpoint(Path(env["SAMPLELOANS_DB"]), tmp_path_factory.mktemp("keys"))
    return env


def test_ids_are_refused_naming_checkpoint_show(env: dict[str, str], tmp_path: Path) -> None:
    """IDs for OLD and NEW: one line naming `checkpoint show ID --out FILE`, exit 2."""
    out = tmp_path / "proof.json"
    done = CliRunner().invoke(app, ["checkpoint", "prove", "1", "2", "--out", str(out)], env=env)
    assert done.exit_code == 2, done.stderr
    assert done.stderr == (
        "Error: OLD: 1 is no file: give a checkpoint file, not the ID 'checkpoint list' numbers "
        "('checkpoint show 1 --out FILE' writes checkpoint 1 to FILE)\n"
    )
    assert not out.exists()


def test_the_role_comes_before_the_ids(env: dict[str, str], tmp_path: Path) -> None:
    """A researcher hears about their role, whatever they typed."""
    args = ["--as", OU_PI, "checkpoint", "prove", "1", "2", "--out", str(tmp_path / "p")]
    done = CliRunner().invoke(app, args, env=env)
    assert (done.exit_code, "is a researcher" in done.stderr) == (4, True), done.stderr


def test_the_file_it_names_proves(env: dict[str, str], tmp_path: Path) -> None:
    """Following the advice works: `checkpoint show 1 --out` writes a file `prove` takes."""
    cp = tmp_path / "cp1.txt"
    shown = CliRunner().invoke(app, ["checkpoint", "show", "1", "--out", str(cp)], env=env)
    assert shown.exit_code == 0, shown.stderr
    args = ["checkpoint", "prove", str(cp), str(cp), "--out", str(tmp_path / "p.json")]
    done = CliRunner().invoke(app, [*args], env={**env, "SAMPLELOANS_USER": CURATOR})
    assert done.exit_code == 0, done.stderr
