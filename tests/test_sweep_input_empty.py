"""An option given an empty or blank value is one `Error:` line naming it (exit 2), never read
as "not given": before, `balance --loan ''` printed the whole collection's balance,
`incidents report --mass-lost ''` recorded an incident with nothing lost and
`loans request --period ''` a loan of the agreement's longest period."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests import factories
from tests.conftest import CURATOR, OU_PI, Run, fingerprint

S = "CE5C0200YJFM00112"
CASES = {
    "balance --loan": ["balance", "--loan", ""],
    "balance --sample": ["balance", "--sample", " "],
    "status --loan": ["status", "--loan", ""],
    "overdue --institution": ["overdue", "--institution", ""],
    "people list --role": ["people", "list", "--role", ""],
    "agreements list --status": ["agreements", "list", "--status", "\t"],
    "institutions list --kind": ["institutions", "list", "--kind", ""],
    "custody history --since": ["custody", "history", "--sample", S, "--since", ""],
    "custody history --as-of": ["custody", "history", "--sample", S, "--as-of", ""],
    "loans list --due-before": ["loans", "list", "--due-before", ""],
    "incidents report --mass-lost": [
        "incidents", "report", "--sample", S, "--kind", "damage", "--description", "vial",
        "--mass-lost", "",
    ],
    "loans request --period": [
        "loans", "request", "L-9", "--agreement", "AG-OU", "--pi", OU_PI, "--sample", S,
        "--period", "",
    ],
    "loans request --period=": [
        "loans", "request", "L-9", "--agreement", "AG-OU", "--pi", OU_PI, "--sample", S,
        "--period= ",
    ],
}  # fmt: skip


@pytest.fixture
def ledger(run: Run, db_path: Path, cli_env: dict[str, str]) -> Path:
    """A ledger where each command above would succeed with a real value."""
    factories.signed_agreement(run, "OU")
    return db_path


@pytest.mark.parametrize("name", sorted(CASES))
def test_an_empty_option_value_is_refused(name: str, ledger: Path) -> None:
    argv = CASES[name]
    option = next(a for a in reversed(argv) if a.startswith("--")).split("=")[0]
    before = fingerprint(ledger)
    result = CliRunner().invoke(app, ["--as", CURATOR, *argv])
    assert result.exit_code == 2, result.stdout
    expected = f"Error: {option}: must not be empty; give a value, or leave {option} out\n"
    assert result.stderr == expected
    assert result.stdout == ""
    assert fingerprint(ledger) == before


def test_the_same_commands_with_values_still_run(ledger: Path) -> None:
    period = [*CASES["loans request --period"][:-1], "6 months"]
    assert CliRunner().invoke(app, ["--as", CURATOR, *period]).exit_code == 0
    mass = CASES["incidents report --mass-lost"][:-2]
    assert CliRunner().invoke(app, ["--as", CURATOR, *mass]).exit_code == 0


def test_a_blank_word_after_a_flag_is_clicks_stray_argument(ledger: Path) -> None:
    result = CliRunner().invoke(app, ["--as", CURATOR, "loans", "list", "--json", ""])
    assert result.exit_code == 2
    assert "unexpected extra argument" in result.stderr
    assert "--json: must not be empty" not in result.stderr


def test_an_empty_global_option(ledger: Path) -> None:
    result = CliRunner().invoke(app, ["--as", "", "loans", "list"])
    assert result.exit_code == 2
    assert result.stderr == "Error: --as: must not be empty; give a value, or leave --as out\n"
