"""Sweep "a newcomer who trusts the documentation": every `--help` example can be copied.

The README says every command has `--help` with an example. Click rewrapped each example with
the prose around it, at the terminal's width, and at hyphens: `verify-document`'s ended its
line in `--trust-root lender/root-` and went on with `cert.pem`, `loans list`'s with
`--due-before` and its value on the next line. Pasted into a shell, the first line runs alone,
without a required option or with half a path. Examples are now their own paragraph, kept as
written (Click's `\\b`), a long one continued with a shell `\\`.
"""

import shlex
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import demo_copy
from tests.test_readme import command_paths

ROOT: Any = typer.main.get_command(app)
COMMANDS = command_paths(ROOT)
GLOBAL_OPTIONS = {"--db", "--as"}


def help_text(path: str, columns: int) -> str:
    """`sampleloans PATH --help` at a terminal this wide."""
    result = CliRunner().invoke(app, [*path.split(), "--help"], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    return result.stdout


def examples(text: str) -> list[str]:
    """Each example as a user copies it from the help: its line, and the next ones while a
    line ends in a shell continuation `\\`."""
    found: list[str] = []
    lines = iter(text.splitlines())
    for line in lines:
        if not line.strip().startswith("Example:"):
            continue
        command = line.strip().removeprefix("Example:").strip()
        while command.endswith("\\"):
            command = command[:-1] + next(lines).strip()
        found.append(command)
    return found


def command_of(words: list[str]) -> tuple[Any, list[str]]:
    """The Click command an example runs and its own arguments (global options dropped)."""
    assert words[0] == "sampleloans", words
    rest = words[1:]
    while rest and rest[0] in GLOBAL_OPTIONS:
        rest = rest[2:]
    command = ROOT
    while hasattr(command, "commands") and rest and rest[0] in command.commands:
        command, rest = command.commands[rest[0]], rest[1:]
    return command, rest


def test_every_command_is_found() -> None:
    """A guard for the tests below: the command list is the CLI's."""
    assert "verify-document" in COMMANDS and "loans list" in COMMANDS and len(COMMANDS) > 60


@pytest.mark.parametrize("path", COMMANDS)
def test_every_help_example_is_a_whole_command_at_80_columns(path: str) -> None:
    """Each command shows an example; copied from an 80-column help, it is a command line
    that command accepts (no missing option, no half path, no stray argument)."""
    shown = examples(help_text(path, 80))
    assert shown, f"{path}: --help shows no example"
    for example in shown:
        command, args = command_of(shlex.split(example))
        assert command.name == path.split()[-1], example
        with command.make_context(path, [*args], resilient_parsing=False) as context:
            assert context.command is command


def test_an_example_is_the_same_at_any_width() -> None:
    """The example is kept as written, not rewrapped at the terminal's width."""
    narrow = examples(help_text("verify-document", 60))
    wide = examples(help_text("verify-document", 200))
    assert (
        narrow
        == wide
        == ["sampleloans verify-document custody.pdf --trust-root lender/root-cert.pem"]
    )


READ_COMMANDS = [
    "samples list", "samples show", "samples tree", "institutions list", "institutions show",
    "people list", "people show", "agreements list", "agreements show", "loans list",
    "loans show", "incidents list", "custody history", "balance", "overdue", "status",
    "checkpoint list",
]  # fmt: skip


@pytest.fixture(scope="module")
def demo_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo ledger, read as its curator at the demo's own today."""
    folder = tmp_path_factory.mktemp("help") / "demo"
    demo_copy(folder)
    return {
        "SAMPLELOANS_DB": str(folder / "ledger.db"),
        "SAMPLELOANS_USER": "curator@naoc.example",
        "SAMPLELOANS_NOW": "2026-04-28T12:00:00Z",
    }


@pytest.mark.parametrize("path", READ_COMMANDS)
def test_every_read_example_runs_on_the_demo_ledger(path: str, demo_env: dict[str, str]) -> None:
    """A newcomer tries a read command's example on the demo: it answers (before, `loans show
    L-1`, `balance --loan L-2025-003` and `samples tree CE5C0400YJFM00505-G1` named records the
    demo does not have: exit 2)."""
    assert path in COMMANDS
    for example in examples(help_text(path, 200)):
        words = shlex.split(example)[1:]
        result = CliRunner().invoke(app, words, env=demo_env)
        assert result.exit_code == 0, (example, result.stderr)
