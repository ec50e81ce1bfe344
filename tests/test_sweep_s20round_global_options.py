"""Sweep s20-round: a global option typed after the command says where it goes.

A researcher typed `sampleloans loans receive L-1 … --as pi@ipgp.example` and read "No such
option: --as (Possible options: --at)": the one option suggested back-dates the record. Now the
line says `--as` (and `--db`, `--version`) is a global option and shows the command with it
before the command; exit 2, nothing written.
"""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import demo_env, fingerprint


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo ledger; no acting person in the environment (the line is about `--as`)."""
    env = demo_env(tmp_path_factory, "curator@naoc.example")
    return {**env, "SAMPLELOANS_USER": ""}


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (
            ["loans", "consume", "L-2025-OU", "--sample", "CE5C0200YJFM00112", "--technique",
             "EPMA", "--mass", "1 mg", "--destructive", "--as", "anand@open.example"],
            "'sampleloans --as EMAIL loans consume …'",
        ),
        (["loans", "list", "--as=curator@naoc.example"], "'sampleloans --as EMAIL loans list …'"),
        (["verify", "--db", "other.db"], "'sampleloans --db PATH verify …'"),
        (["status", "--version"], "'sampleloans --version'"),
    ],
)  # fmt: skip
def test_a_global_option_after_the_command_says_where_it_goes(
    demo: dict[str, str], args: list[str], shown: str
) -> None:
    """One line naming the option and showing it before the command; exit 2; no change."""
    before = fingerprint(Path(demo["SAMPLELOANS_DB"]))
    result = CliRunner().invoke(app, args, env=demo, prog_name="sampleloans")
    option = args[-2] if args[-1] != "--version" and "=" not in args[-1] else args[-1]
    option = option.partition("=")[0]
    assert result.exit_code == 2, result.output
    last = result.stderr.strip().splitlines()[-1]
    assert last == f"Error: {option} is a global option: give it before the command ({shown})"
    assert "Possible options" not in result.stderr
    assert fingerprint(Path(demo["SAMPLELOANS_DB"])) == before


def test_an_unknown_option_is_still_clicks_line(demo: dict[str, str]) -> None:
    """An option that is nobody's is refused in one line, with Click's suggestions."""
    result = CliRunner().invoke(app, ["loans", "list", "--bogus"], env=demo)
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --bogus: no such option")
