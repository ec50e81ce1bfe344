"""A range given backwards is refused the same way by every command: `custody history --since`
after `--until` already was (exit 2); `loans list --due-after` not before `--due-before` (both
strict) matched nothing and printed an empty list, exit 0, as if no loan were due then."""

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import CURATOR


@pytest.mark.parametrize(
    ("after", "before"), [("2027-01-01", "2026-01-01"), ("2026-01-01", "2026-01-01")]
)
def test_loans_list_refuses_an_empty_or_backward_due_range(
    after: str, before: str, engine: Engine, cli_env: dict[str, str]
) -> None:
    argv = ["--as", CURATOR, "loans", "list", "--json"]
    result = CliRunner().invoke(app, [*argv, "--due-after", after, "--due-before", before])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"Error: --due-after: {after}T00:00:00Z is not before --due-before {before}T00:00:00Z; "
        "give a range that moves forward\n"
    )


def test_a_forward_due_range_still_lists(engine: Engine, cli_env: dict[str, str]) -> None:
    argv = ["--as", CURATOR, "loans", "list", "--json"]
    result = CliRunner().invoke(
        app, [*argv, "--due-after", "2026-01-01", "--due-before", "2026-01-02"]
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_custody_history_words_it_alike(engine: Engine, cli_env: dict[str, str]) -> None:
    argv = ["--as", CURATOR, "custody", "history", "--sample", "CE5C0200YJFM00112"]
    result = CliRunner().invoke(app, [*argv, "--since", "2027-01-01", "--until", "2026-01-01"])
    assert result.exit_code == 2
    assert result.stderr.endswith("; give a range that moves forward\n")
