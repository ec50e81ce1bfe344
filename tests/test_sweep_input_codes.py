"""A new record code holds only what the error message promises: ASCII letters, digits and
- , . _ ; before, any printable ASCII passed (a loan `%`, an institution `../x`, a sample `*`)."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests import factories
from tests.conftest import CURATOR, OU_PI, Run, fingerprint

S = "CE5C0200YJFM00112"
ODD = ["%", "*", "../x", "L'1", "L-1;rm", 'L"1', "L<1>", "L|1", "L\\1", "L#1", "L+1", "L`1`"]
COMMANDS = {
    "loans request": (
        ["loans", "request", "{}", "--agreement", "AG-OU", "--pi", OU_PI, "--sample", S],
        "NUMBER",
    ),
    "institutions add": (
        ["institutions", "add", "{}", "--name", "N U", "--country", "UK", "--city", "Ely",
         "--kind", "borrower"],
        "SHORT",
    ),
    "agreements add": (
        ["agreements", "add", "{}", "--institution", "OU", "--term", "5 years", "--max-mass",
         "1 g", "--purpose", "research", "--max-loan-period", "12 months"],
        "NUMBER",
    ),
    "samples register": (
        ["samples", "register", "CE5C{}", "--mission", "CE-5", "--mass", "1 mg", "--origin",
         "scoop", "--material", "glass", "--form", "bead", "--purpose", "research",
         "--location", "cabinet B"],
        "CODE",
    ),
}  # fmt: skip


@pytest.fixture
def ledger(run: Run, db_path: Path, cli_env: dict[str, str]) -> Path:
    factories.signed_agreement(run, "OU")
    return db_path


@pytest.mark.parametrize("odd", ODD)
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_code_with_other_characters_is_refused(command: str, odd: str, ledger: Path) -> None:
    argv, field = COMMANDS[command]
    before = fingerprint(ledger)
    result = CliRunner().invoke(app, ["--as", CURATOR, *(a.replace("{}", odd) for a in argv)])
    assert result.exit_code == 2, result.stdout
    assert result.stderr.startswith(f"Error: {field}: ")
    assert result.stderr.endswith("codes are ASCII letters, digits and - , . _ without spaces\n")
    assert result.stderr.count("\n") == 1
    assert fingerprint(ledger) == before


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_the_characters_it_names_are_taken(command: str, ledger: Path) -> None:
    argv, _field = COMMANDS[command]
    code = "X-1,2.3_4" if command != "samples register" else "0000YJYX1-2,3.4_5"
    result = CliRunner().invoke(app, ["--as", CURATOR, *(a.replace("{}", code) for a in argv)])
    assert result.exit_code == 0, result.stderr
