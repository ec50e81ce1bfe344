"""A ledger path holding "?" is refused naming the option it was typed in (`--db`, the
environment's `SAMPLELOANS_DB`, `demo --dir`), as every other refusal of a path does; before,
the line began "database path:", which names no option a user typed."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import CURATOR

ENV = {"SAMPLELOANS_NOW": "2026-06-01T00:00:00Z", "SAMPLELOANS_DB": "", "SAMPLELOANS_USER": ""}


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env={**ENV, **(env or {})})
    return result.exit_code, result.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["demo"],
        ["init", "--curator-email", "a@b.example", "--curator-name", "Li Na"],
        ["--as", CURATOR, "status"],
    ],
)
def test_db_with_a_question_mark_names_db(tmp_path: Path, command: list[str]) -> None:
    ledger = tmp_path / "lab?2025" / "ledger.db"
    code, err = run("--db", str(ledger), *command)
    assert code == 2
    assert err.startswith(f"Error: --db: '{ledger}' holds a '?'"), err
    assert "(check --db / SAMPLELOANS_DB)" in err and len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_environment_db_with_a_question_mark_names_db(tmp_path: Path) -> None:
    ledger = tmp_path / "lab?.db"
    code, err = run("--as", CURATOR, "loans", "list", env={"SAMPLELOANS_DB": str(ledger)})
    assert code == 2 and err.startswith("Error: --db: ") and "SAMPLELOANS_DB" in err, err


def test_demo_dir_with_a_question_mark_names_dir(tmp_path: Path) -> None:
    folder = tmp_path / "what?" / "demo"
    code, err = run("demo", "--dir", str(folder))
    assert code == 2
    assert err.startswith(f"Error: --dir: '{folder}' holds a '?'"), err
    assert list(tmp_path.iterdir()) == []
