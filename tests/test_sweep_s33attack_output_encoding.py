"""Sweep s33, hostile configuration: a standard output that cannot print every character.

With `PYTHONIOENCODING=ascii` (or latin-1, or a C locale without Python's UTF-8 mode) a write
whose confirmation names something non-ASCII (`samples move … --location "Köln vault"`,
`report` lines naming a person) committed its event and then ended in
`UnicodeEncodeError`, a traceback and exit 1: the user, told it failed, ran it again and it was
recorded twice. Now every command refuses such an output first, in one line naming the setting,
exit 2, and nothing is read or written.
"""

import io
import sqlite3
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from sampleloans.cli import app

CURATOR = "li@naoc.example"
ENV = {"SAMPLELOANS_NOW": "2026-03-01T10:00:00Z", "SAMPLELOANS_USER": CURATOR}


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new ledger (`init`): a curator and the reference data, no demo."""
    path = tmp_path_factory.mktemp("encoding") / "ledger.db"
    made = CliRunner().invoke(
        app,
        ["--db", str(path), "init", "--curator-email", CURATOR, "--curator-name", "Li Na"],
        env=ENV,
    )
    assert made.exit_code == 0, made.output
    return path


def _events(path: Path) -> int:
    """How many events the ledger holds."""
    with sqlite3.connect(path) as connection:
        return int(connection.execute("SELECT count(*) FROM ledger_event").fetchone()[0])


MOVE = ["samples", "move", "CE5C0000YJYX048", "--location", "Köln vault"]


@pytest.mark.parametrize(
    ("setting", "charset"),
    [("PYTHONIOENCODING=ascii", "ascii"), ("PYTHONIOENCODING=latin-1", "latin-1")],
)
def test_a_write_to_a_narrow_output_records_nothing(
    ledger: Path, setting: str, charset: str
) -> None:
    """Before: the move was recorded, then UnicodeEncodeError (exit 1) printing its line."""
    before = _events(ledger)
    env = {**ENV, "PYTHONIOENCODING": setting.split("=")[1]}
    result = CliRunner(charset=charset).invoke(app, ["--db", str(ledger), *MOVE], env=env)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"Error: {setting}: standard output's encoding is ")
    assert result.stderr.endswith("run the command again: nothing was done\n")
    assert result.stderr.count("\n") == 1 and result.stderr.isascii()
    assert _events(ledger) == before


def test_a_utf8_output_is_written_as_before(ledger: Path) -> None:
    """The refusal is for narrow outputs only: the same write to UTF-8 goes through."""
    before = _events(ledger)
    result = CliRunner().invoke(app, ["--db", str(ledger), *MOVE], env=ENV)
    assert result.exit_code == 0, result.output
    assert "Köln vault" in result.stdout
    assert _events(ledger) == before + 1


def test_the_locale_is_named_when_no_python_setting_chose_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """At the callback's level: a C locale's ASCII output names LC_ALL, the variable to change."""
    from sampleloans import cli

    monkeypatch.delenv("PYTHONIOENCODING", raising=False)
    monkeypatch.setenv("LC_ALL", "C")
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(io.BytesIO(), encoding="ascii"))
    with pytest.raises(typer.Exit) as stopped:
        cli._refuse_narrow_stdout()
    assert stopped.value.exit_code == 2
    assert capsys.readouterr().err.startswith("Error: LC_ALL=C: standard output's encoding is ")
