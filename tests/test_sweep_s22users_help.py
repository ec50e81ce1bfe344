"""Sweep s22 "a curator and a researcher, through the CLI": `--help` says what to type.

Typer 0.29 drew each argument on the usage line in braces, `loans request [OPTIONS] {NUMBER}`
(a shell user reads brace expansion), listed it as `NUMBER <str>`, and showed every option's
value as a Python type: `--agreement <str>`, `--sample <list[str]>`, `--out <path>`,
`--limit <int>`. Every command's help now names what to type, as the README does:
`--agreement NUMBER`, `--sample CODE`, `--at DATETIME`, `--limit N`, `--out FILE.pdf`; plain
`TEXT` only for free text (a reason, a note, a description), which has no other name. A whole
number that is none (`--limit x`, `incidents resolve 12x`) was refused in Typer's words, "Input
should be a valid integer, unable to parse string as an integer": now "'x' is not a whole
number; give digits, e.g. 50".
"""

import re
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.test_readme import command_paths

ROOT: Any = typer.main.get_command(app)
COMMANDS = command_paths(ROOT)

FREE_TEXT = {"--reason", "--description", "--note", "--obligations", "--resolution", "--text"}
"""Options whose value is free text: `TEXT` is its kind."""

GENERIC = {"TEXT", "STRING", "STR", "INTEGER", "INT", "PATH", "FLOAT", "VALUE", "DATE"}
"""Click's and Typer's type names, which say nothing about what the value is."""


def command_at(path: str) -> Any:
    """The Click command `sampleloans PATH` runs."""
    command = ROOT
    for word in path.split():
        command = command.commands[word]
    return command


def help_of(words: list[str]) -> str:
    """`sampleloans WORDS --help` as printed, 100 columns."""
    result = CliRunner().invoke(app, [*words, "--help"], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    return result.stdout


def test_every_command_is_walked() -> None:
    """The walk finds the commands (a guard for the tests below)."""
    assert {"loans request", "report statement", "samples split", "status"} <= set(COMMANDS)


@pytest.mark.parametrize("path", ["", *COMMANDS], ids=["(root)", *COMMANDS])
def test_help_shows_no_python_type_nor_braces(path: str) -> None:
    """No `<str>`, `<path>`, `<list[str]>` nor `{NUMBER}` in any help."""
    text = help_of(path.split())
    assert re.search(r"<[a-zA-Z\[\]., |]+>", text) is None, text
    usage = text.splitlines()[0]
    assert "{" not in usage, usage


@pytest.mark.parametrize("path", COMMANDS)
def test_every_value_is_named_by_its_kind(path: str) -> None:
    """Every option that takes a value, and every argument, has a placeholder naming its kind
    (not Click's generic TEXT, but TEXT for free text), and the help shows it."""
    text = help_of(path.split())
    for param in command_at(path).params:
        if getattr(param, "is_flag", False) or param.name == "help":
            continue
        flag = param.opts[0]
        assert param.metavar, f"{path} {flag}: no placeholder"
        generic = param.metavar.upper() in GENERIC
        assert not generic or (param.metavar == "TEXT" and flag in FREE_TEXT), (path, flag)
        shown = param.metavar if param.param_type_name == "argument" else f"{flag} {param.metavar}"
        assert shown in text, (path, shown)


def test_the_usage_line_names_arguments_as_click_and_the_readme_do() -> None:
    """Required `NUMBER`, repeatable `CODE...`; nothing else around them."""
    assert help_of(["loans", "request"]).splitlines()[0] == (
        "Usage: sampleloans loans request [OPTIONS] NUMBER"
    )
    assert help_of(["samples", "transfer"]).splitlines()[0].endswith("[OPTIONS] CODE...")
    assert "\n  NUMBER  The loan number" in help_of(["loans", "show"])


def test_the_global_options_are_named_as_the_readme_writes_them() -> None:
    """`--db PATH` and `--as EMAIL`, as the README's "Commands" introduces them."""
    text = help_of([])
    assert "--db PATH" in text and "--as EMAIL" in text


WHOLE_NUMBERS = [
    ("loans", "list", "--limit", "x"),
    ("samples", "list", "--offset", "1.5"),
    ("custody", "correct", "12x", "--text", "t"),
    ("incidents", "resolve", "٣", "--resolution", "r"),
    ("checkpoint", "show", "abc"),
    ("agreements", "add", "AG-X", "--institution", "OU", "--term", "5 years", "--max-mass",
     "1 g", "--purpose", "research", "--max-loan-period", "12 months", "--max-extensions",
     "two"),
]  # fmt: skip


@pytest.mark.parametrize("words", WHOLE_NUMBERS, ids=[" ".join(w[:2]) for w in WHOLE_NUMBERS])
def test_a_whole_number_that_is_none_is_refused_in_words(words: tuple[str, ...]) -> None:
    """Before: "Input should be a valid integer, unable to parse string as an integer" (and
    `٣`, an Arabic-Indic three, read as 3 by Python); now it says what to type."""
    result = CliRunner().invoke(app, ["--as", "x@y.example", *words], env={"COLUMNS": "200"})
    assert result.exit_code == 2, result.output
    assert "is not a whole number; give digits, e.g. 50" in result.stderr
    assert "parse string" not in result.stderr


def test_every_whole_number_is_read_by_the_one_parser() -> None:
    """Each option or argument typed as a whole number goes through `whole_number`."""
    from sampleloans.commands.common import whole_number

    found = []
    for path in COMMANDS:
        for param in command_at(path).params:
            if param.type_descriptor.annotation is int:
                found.append(param.name)
                assert param.type_descriptor.parameter_info.parser is whole_number, (path, param)
    assert len(found) >= 14
