"""A ledger path a database URL cannot name: "?" starts a URL's options, so SQLAlchemy would open
(or create) another file (`/tmp/a?b/ledger.db` became `/tmp/a`). Such a path is refused, exit 2,
in one line naming it, before any file or folder is made; "#" and spaces work."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import CURATOR

NOW = {"SAMPLELOANS_NOW": "2026-06-01T00:00:00Z", "SAMPLELOANS_DB": "", "SAMPLELOANS_USER": ""}


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=NOW)
    return result.exit_code, result.stdout, result.stderr


def everything_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize(
    "command",
    [
        ["demo"],
        ["init", "--curator-email", "a@b.example", "--curator-name", "Li Na"],
        ["--as", CURATOR, "loans", "list"],
        ["--as", CURATOR, "verify"],
    ],
)
def test_a_path_with_a_question_mark_is_refused_and_nothing_is_made(
    tmp_path: Path, command: list[str]
) -> None:
    folder = tmp_path / "lab?2025"
    folder.mkdir()
    code, out, err = run("--db", str(folder / "ledger.db"), *command)
    assert code == 2, (out, err)
    assert err.startswith("Error: --db: ") and "'?'" in err
    assert str(folder / "ledger.db") in err and len(err.strip().splitlines()) == 1
    assert "Traceback" not in out + err
    assert everything_under(tmp_path) == ["lab?2025"]  # no file here, none at 'lab'


def test_a_demo_folder_with_a_question_mark_is_not_made(tmp_path: Path) -> None:
    code, _out, err = run("demo", "--dir", str(tmp_path / "what?" / "demo"))
    assert code == 2 and "'?'" in err
    assert everything_under(tmp_path) == []


def test_a_path_with_a_hash_and_a_space_works(tmp_path: Path) -> None:
    folder = tmp_path / "lab #2 (2025)"
    folder.mkdir()
    ledger = folder / "ledger.db"
    code, out, err = run("--db", str(ledger), "demo")
    assert code == 0, err
    code, out, err = run("--db", str(ledger), "--as", CURATOR, "loans", "list")
    assert code == 0, err
    assert "L-2025-UoC" in out
    assert everything_under(tmp_path) == sorted(["lab #2 (2025)", "lab #2 (2025)/ledger.db"])
