"""`sampleloans --version`: the release and the schema revision, with no ledger needed."""

import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from sampleloans import __version__
from sampleloans.cli import app
from sampleloans.db import SCHEMA_HEAD


def test_version_names_the_release_and_the_schema(tmp_path: Path) -> None:
    # a --db that does not exist is never opened: the version needs no ledger
    result = CliRunner().invoke(app, ["--db", str(tmp_path / "none.db"), "--version"])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"sampleloans {__version__} (schema {SCHEMA_HEAD})\n"
    assert not (tmp_path / "none.db").exists()


def test_version_from_the_console_entry_point() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sampleloans", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.startswith("sampleloans ") and SCHEMA_HEAD in done.stdout
