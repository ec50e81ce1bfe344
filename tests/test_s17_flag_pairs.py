"""A required on/off flag left out names both of its spellings: before, `loans receive` without
one said "Missing option '--seal-intact'", telling a curator whose seal arrived broken to claim
it intact (and `loans consume` asked for '--destructive' alone)."""

from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from sampleloans.cli import COMMANDS, LazyGroup, app
from tests.conftest import CURATOR, demo_env, fingerprint


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo ledger, read and written as its curator."""
    return demo_env(tmp_path_factory, CURATOR)


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["loans", "receive", "L-2025-Brown", "--condition", "pristine"],
         "'--seal-intact' / '--seal-broken'"),
        (["loans", "consume", "L-2025-OU", "--sample", "CE5C0200YJFM00112", "--technique",
          "SIMS", "--mass", "1 mg"], "'--destructive' / '--non-destructive'"),
    ],
)  # fmt: skip
def test_a_missing_flag_pair_names_both_and_writes_nothing(
    env: dict[str, str], argv: list[str], named: str
) -> None:
    before = fingerprint(Path(env["SAMPLELOANS_DB"]))
    result = CliRunner().invoke(app, argv, env=env)
    assert result.exit_code == 2
    plain = named.replace("'", "")
    assert result.stderr.startswith(f"Error: {plain}: missing; give one of them")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
    assert fingerprint(Path(env["SAMPLELOANS_DB"])) == before


def _options(command: Any) -> list[Any]:
    """Every option of a command and of its subcommands (Typer's own Click classes)."""
    found = [p for p in command.params if hasattr(p, "secondary_opts")]
    for sub in getattr(command, "commands", {}).values():
        found.extend(_options(sub))
    return found


def test_every_required_flag_pair_of_every_command_names_both() -> None:
    group: Any = typer.main.get_command(app)
    assert type(group) is LazyGroup
    pairs = [
        option
        for name in sorted(COMMANDS)
        for option in _options(group.get_command(typer.Context(group), name))
        if option.required and option.secondary_opts
    ]
    assert len(pairs) >= 2  # receive's seal and consume's destruction at least
    for option in pairs:
        hint = option.get_error_hint(None)
        assert all(f"'{flag}'" in hint for flag in (*option.opts, *option.secondary_opts)), hint
