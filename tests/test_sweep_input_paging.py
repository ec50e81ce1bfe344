"""--limit/--offset larger than any table: one `Error:` line (exit 2) beyond a 64-bit row count,
and the largest 64-bit numbers read as 'past the end' / 'every row', never a traceback."""

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import CURATOR, fingerprint

LISTS = [
    ["samples", "list"],
    ["loans", "list"],
    ["overdue"],
    ["custody", "history", "--sample", "CE5C0200YJFM00112"],
]
TOO_MANY = "99999999999999999999"  # beyond SQLite's INTEGER and islice's index
MAX = str(2**63 - 1)


@pytest.mark.parametrize("option", ["--limit", "--offset"])
@pytest.mark.parametrize("command", LISTS, ids=" ".join)
def test_a_page_beyond_64_bits_is_one_error_line(
    command: list[str], option: str, engine: Engine, db_path: Path, cli_env: dict[str, str]
) -> None:
    before = fingerprint(db_path)
    result = CliRunner().invoke(app, ["--as", CURATOR, *command, option, TOO_MANY, "--json"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {option}: {TOO_MANY} is more rows than a ledger can hold; give at most {MAX}\n"
    )
    assert result.stdout == ""
    assert fingerprint(db_path) == before


@pytest.mark.parametrize("command", LISTS, ids=" ".join)
def test_the_largest_offset_and_limit_give_no_rows(
    command: list[str], engine: Engine, cli_env: dict[str, str]
) -> None:
    result = CliRunner().invoke(
        app, ["--as", CURATOR, *command, "--offset", MAX, "--limit", MAX, "--json"]
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["events"] if isinstance(data, dict) else data) == []


@pytest.mark.parametrize("command", LISTS[:3], ids=" ".join)
def test_the_largest_limit_gives_every_row(
    command: list[str], engine: Engine, cli_env: dict[str, str]
) -> None:
    every = CliRunner().invoke(app, ["--as", CURATOR, *command, "--json"])
    largest = CliRunner().invoke(app, ["--as", CURATOR, *command, "--limit", MAX, "--json"])
    assert largest.exit_code == every.exit_code == 0, largest.stderr
    assert largest.stdout == every.stdout
