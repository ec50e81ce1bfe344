"""Sweep s39 (README audit): `import FILE` names a missing file or a folder as every input is
named (README "Exit codes", 2: one rule for every input file, `fileio.open_input`).

Before, the name's ending was judged first: `import /data/catalogues` (a folder) said
"'catalogues' is neither a sample catalogue (.csv) nor a history (.jsonl)", naming the folder
by its last part and blaming its name, and a missing `list.txt` was called a wrong format too.
"""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import fingerprint

CURATOR = "first@naoc.example"
GIVE = "give the path of a .csv or .jsonl file"


def _run(db: Path, *args: str) -> tuple[int, str, str]:
    """Run the CLI on `db` as the first curator: exit code, stdout, stderr."""
    env = {"SAMPLELOANS_DB": str(db), "NO_COLOR": "1", "COLUMNS": "80", "SAMPLELOANS_NOW": ""}
    result = CliRunner().invoke(app, ["--as", CURATOR, *args], env=env, prog_name="sampleloans")
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    """A new ledger."""
    db = tmp_path / "ledger.db"
    made = _run(db, "init", "--curator-email", CURATOR, "--curator-name", "First Curator")
    assert made[0] == 0, made
    return db


def test_a_folder_is_named_a_folder_whatever_its_name(ledger: Path, tmp_path: Path) -> None:
    folder = tmp_path / "catalogues"
    folder.mkdir()
    before = fingerprint(ledger)
    said = f"Error: FILE: {folder} is a folder, not a file; {GIVE}\n"
    assert _run(ledger, "import", str(folder)) == (2, "", said)
    assert fingerprint(ledger) == before


def test_a_missing_file_is_named_missing_whatever_its_name(ledger: Path, tmp_path: Path) -> None:
    missing = tmp_path / "list.txt"
    said = f"Error: FILE: {missing} does not exist; {GIVE}\n"
    assert _run(ledger, "import", str(missing)) == (2, "", said)


def test_a_file_with_another_ending_is_still_refused_by_its_name(
    ledger: Path, tmp_path: Path
) -> None:
    """The format rule itself is unchanged, once the file is there."""
    text = tmp_path / "list.txt"
    text.write_text("code,mission\n", encoding="utf-8")
    code, out, err = _run(ledger, "import", str(text))
    assert (code, out) == (2, "")
    assert err == (
        "Error: FILE: 'list.txt' is neither a sample catalogue (.csv) nor a history (.jsonl); "
        "name it with one of those endings\n"
    )
