"""Sweep "the whole 2025 round, as each user": `--help` says what the README says.

The README writes each command's arguments as placeholders (`loans show NUMBER`, `people add
EMAIL`); `--help` printed the parameter's Python name instead (`{number}`, `{short_name}`), and a
missing argument was named that way too ("Missing argument 'short_name'").
"""

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
ROW = re.compile(r"^\| `([a-z][a-z -]*[a-z])` \| `([A-Z][^`]*)`", re.M)
PLACEHOLDER = re.compile(r"[A-Z][A-Z.a-z-]*")


def readme_arguments() -> list[tuple[str, list[str]]]:
    """Each command row of the README whose syntax starts with arguments, and their names."""
    rows = []
    for command, syntax in ROW.findall(README):
        head = re.split(r" \[| --|\|", syntax, maxsplit=1)[0]
        rows.append((command, [w for w in head.split() if PLACEHOLDER.fullmatch(w)]))
    return rows


ROWS = readme_arguments()


def test_the_readme_has_commands_with_arguments() -> None:
    """The parse finds the README's argument placeholders (a guard for the test below)."""
    found = dict(ROWS)
    assert found["loans show"] == ["NUMBER"]
    assert found["checkpoint check-consistency"] == ["OLD", "NEW", "PROOF"]
    assert len(ROWS) >= 20


@pytest.mark.parametrize(("command", "names"), ROWS, ids=[c for c, _ in ROWS])
def test_help_names_the_arguments_as_the_readme_does(command: str, names: list[str]) -> None:
    """The usage line of `--help` names each argument with the README's placeholder."""
    result = CliRunner().invoke(app, [*command.split(), "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    usage = result.stdout.splitlines()[0]
    words = [w.removesuffix("...").strip("{}[]") for w in usage.split()]
    assert [w for w in words if w in names] == names, usage


def test_a_missing_argument_is_named_as_the_readme_does(tmp_path: Path) -> None:
    """A command typed without its argument names the README's placeholder."""
    result = CliRunner().invoke(app, ["institutions", "add"], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: SHORT: missing; this command requires it")
