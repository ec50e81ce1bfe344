"""Sweep s38, help at 80 columns.

- On an 80-column terminal Click cut 61 of the command lists' summaries with "...", e.g.
  `loans --help`: "Release an issued loan's samples for shipment in a...". Every first
  sentence now fits the room Click gives it (80 - 2 - 6 - the list's longest name), and the
  detail it lost is in the next paragraph of the command's own --help.
"""

import os
import re
import subprocess
import sys

import pytest
import typer
from typer._click import Context  # Typer's own Click, as sampleloans.cli
from typer.core import TyperGroup
from typer.testing import CliRunner

from sampleloans.cli import app

COLUMNS = 80
ROOT = typer.main.get_command(app)
assert isinstance(ROOT, TyperGroup)


def groups(group: TyperGroup, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every group's path under `group` (itself first), from the command tree itself."""
    found = [path]
    for name in group.list_commands(Context(group)):
        sub = group.get_command(Context(group), name)
        if isinstance(sub, TyperGroup):
            found += groups(sub, (*path, name))
    return found


GROUPS = groups(ROOT)


def shown_help(*names: str) -> str:
    """`sampleloans NAMES --help` in a real process on a terminal COLUMNS wide."""
    env = {**os.environ, "COLUMNS": str(COLUMNS)}
    argv = [sys.executable, "-m", "sampleloans", *names, "--help"]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
    return done.stdout


def command_list(help_text: str) -> dict[str, str]:
    """A group's command list: name → its one-line summary; a line spilling over fails."""
    section = help_text.split("\nCommands:\n", 1)[1].split("\n\n", 1)[0]
    listed = {}
    for line in section.splitlines():
        entry = re.fullmatch(r"  (\S+)\s+(\S.*)", line)
        assert entry, f"not one line per command: {line!r}"
        listed[entry[1]] = entry[2]
    return listed


def first_sentence(help_text: str) -> str:
    """The first sentence of a command's own --help: its text after the usage, up to the
    first word that ends with a full stop (where Click ends a summary)."""
    blocks = help_text.split("\n\n")[1:]
    described = " ".join(blocks[0].split())
    assert not described.startswith(("Arguments:", "Options:")), help_text
    sentence = re.match(r"(.*?\.)(?:\s|$)", described)
    assert sentence, described
    return sentence[1]


def test_every_group_is_read() -> None:
    """The groups the tests below read include the ones users know (none left out)."""
    named = {path[0] for path in GROUPS if path}
    expected = {"loans", "samples", "agreements", "people", "institutions", "incidents"}
    expected |= {"custody", "report", "keys", "checkpoint", "db"}
    assert expected <= named
    assert () in GROUPS


@pytest.mark.parametrize("path", GROUPS, ids=lambda path: " ".join(("sampleloans", *path)))
def test_at_80_columns_every_summary_is_a_whole_first_sentence(path: tuple[str, ...]) -> None:
    """No entry of the command list ends with '...', each ends with a full stop and is the
    first sentence of that command's own --help, word for word."""
    listed = command_list(shown_help(*path))
    assert listed
    cut = {name: summary for name, summary in listed.items() if summary.endswith("...")}
    assert cut == {}
    runner = CliRunner()
    for name, summary in listed.items():
        assert len(f"  {name}") + len(summary) < COLUMNS
        own = runner.invoke(app, [*path, name, "--help"])
        assert own.exit_code == 0, own.output
        assert summary.endswith(".") and first_sentence(own.output) == summary, name


def test_the_detail_a_summary_lost_is_in_its_own_help() -> None:
    """A summary made short keeps its detail in the next paragraph: the withdrawn loan's
    two ways, and who may act."""
    withdraw = " ".join(shown_help("loans", "withdraw").split())
    assert "Withdraw a loan never issued (requested or approved). The PI withdrew it or " in (
        withdraw
    )
    deactivate = " ".join(shown_help("people", "deactivate").split())
    assert "Their record and history stay. Curators only." in deactivate
