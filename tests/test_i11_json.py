"""Issue 11, item 8: one JSON vocabulary, documented in docs/json.md and enforced here.

Every read command runs with --json on the demo ledger (plus an open incident, so every list
has rows); every key of every output, at any depth, must be in docs/json.md's table and hold a
value of the documented type and format.
"""

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sampleloans.cli import COMMANDS, app
from tests.conftest import demo_copy

DOC = Path(__file__).resolve().parents[1] / "docs" / "json.md"
CURATOR = "curator@naoc.example"
# a clock with microseconds: the JSON must still print whole seconds
NOW = "2026-04-28T10:00:00.654321Z"

# Every read command that takes --json, with arguments that reach real records of the demo.
READ_COMMANDS: list[list[str]] = [
    ["samples", "list"],
    ["samples", "show", "CE5C0200YJFM00112"],
    ["samples", "show", "CE5C0100YJFM00201"],
    ["samples", "tree", "CE5C0100YJFM00201"],
    ["institutions", "list"],
    ["institutions", "show", "OU"],
    ["people", "list"],
    ["people", "show", "compliance@naoc.example"],
    ["agreements", "list"],
    ["agreements", "show", "AG-2025-OU"],
    ["loans", "list"],
    ["loans", "show", "L-2025-IPGP"],
    ["loans", "show", "L-2025-UoC"],
    ["loans", "show", "L-2025-OU"],
    ["incidents", "list"],
    ["custody", "history", "--loan", "L-2025-OU"],
    ["custody", "history", "--sample", "CE5C0100YJFM00201"],
    ["custody", "history", "--institution", "NAOC"],
    ["custody", "history", "--loan", "L-2025-OU", "--as-of", "2025-09-01"],
    ["balance", "--sample", "CE5C0100YJFM00201"],
    ["balance", "--loan", "L-2025-OU"],
    ["balance"],
    ["overdue"],
    ["status", "--institution", "OU"],
    ["verify"],
    ["checkpoint", "list"],  # empty on the demo: tests/test_i15_checkpoints.py checks its keys
]

TIME_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
PERIOD_RE = re.compile(r"\d+ (year|month|day)s?( \d+ (year|month|day)s?)*")
TYPES = {
    "string": str,
    "integer": int,
    "boolean": bool,
    "array": list,
    "object": dict,
    "null": type(None),
}


def vocabulary() -> dict[str, tuple[set[str], str, str]]:
    """docs/json.md's table: key → (allowed types, unit/format, commands that emit it)."""
    rows: dict[str, tuple[set[str], str, str]] = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not cells[0].startswith("`"):
            continue
        key = cells[0].strip("`")
        assert key not in rows, f"docs/json.md lists {key!r} twice"
        rows[key] = ({t.strip() for t in cells[1].split(" or ")}, cells[2], cells[3])
    return rows


def walk(value: Any, path: str = "$") -> Iterator[tuple[str, str, Any]]:
    """Every (path, key, value) of a JSON document, at any depth."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield path, key, item
            yield from walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for item in value:
            yield from walk(item, f"{path}[]")


def type_name(value: Any) -> str:
    """The vocabulary's name for a JSON value's type (bool is not an integer here)."""
    if isinstance(value, bool):
        return "boolean"
    return next(name for name, kind in TYPES.items() if type(value) is kind)


def format_problem(key: str, fmt: str, value: Any) -> str | None:
    """Why a value breaks its documented format, or None."""
    items = value if isinstance(value, list) else [value]
    for item in items:
        if not isinstance(item, str | int) or isinstance(item, bool):
            continue
        if fmt.startswith("time") and not TIME_RE.fullmatch(str(item)):
            return f"{key}={item!r} is not whole-second ISO 8601 UTC"
        if fmt.startswith("period") and not PERIOD_RE.fullmatch(str(item)):
            return f"{key}={item!r} is not a period in words"
        if fmt.startswith("word") and (not isinstance(item, str) or "_" in item):
            return f"{key}={item!r} is not spelled as the command line accepts it"
        # a difference of masses (`difference_ug`, "negative: missing") may be below zero
        below_zero = isinstance(item, int) and item < 0 and "negative" not in fmt
        if fmt.startswith("µg") and (not isinstance(item, int) or below_zero):
            return f"{key}={item!r} is not a whole number of micrograms"
        if fmt.startswith("e-mail") and "@" not in str(item):
            return f"{key}={item!r} is not an e-mail address"
    return None


@pytest.fixture(scope="module")
def demo_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo ledger plus an open incident, read at a clock with microseconds."""
    folder = tmp_path_factory.mktemp("json") / "demo"
    runner = CliRunner()
    demo_copy(folder)
    env = {
        "SAMPLELOANS_DB": str(folder / "ledger.db"),
        "SAMPLELOANS_USER": CURATOR,
        "SAMPLELOANS_NOW": NOW,
        "COLUMNS": "120",
        "NO_COLOR": "1",
    }
    incident = ["incidents", "report", "--sample", "CE5C0500YJFM00415", "--kind", "damage"]
    result = runner.invoke(app, [*incident, "--description", "vial cracked"], env=env)
    assert result.exit_code == 0, result.output
    return env


def run_json(env: dict[str, str], args: list[str]) -> Any:
    """Run one read command with --json and parse its output."""
    result = CliRunner().invoke(app, [*args, "--json"], env=env)
    assert result.exit_code == 0, f"{args}: {result.output}"
    return json.loads(result.stdout)


def test_the_list_covers_every_command_that_takes_json() -> None:
    """Every command and sub-command with a --json option is in READ_COMMANDS."""
    import typer.main

    covered = {
        " ".join(a for a in args if not a.startswith("-") and a[:1].islower())
        for args in READ_COMMANDS
    }
    group = typer.main.get_group(app)
    missing = []
    for name in COMMANDS:
        command = group.commands[name]
        subs = getattr(command, "commands", {name: command})
        for sub_name, sub in subs.items():
            full = name if sub is command else f"{name} {sub_name}"
            takes_json = any("--json" in p.opts for p in sub.params)
            if takes_json and not any(c == full or c.startswith(full + " ") for c in covered):
                missing.append(full)
    assert missing == []


def key_problems(document: Any) -> list[str]:
    """Every key of a JSON document that docs/json.md does not list, or lists with another
    type or format, in words."""
    vocab = vocabulary()
    problems = []
    for path, key, value in walk(document):
        if key not in vocab:
            problems.append(f"{path}.{key}: not in docs/json.md")
            continue
        types, fmt, _emitted = vocab[key]
        if type_name(value) not in types:
            problems.append(f"{path}.{key}: {type_name(value)}, documented as {types}")
        elif (problem := format_problem(key, fmt, value)) is not None:
            problems.append(f"{path}.{key}: {problem}")
    return problems


@pytest.mark.parametrize("args", READ_COMMANDS, ids=" ".join)
def test_every_key_is_in_the_vocabulary(demo_env: dict[str, str], args: list[str]) -> None:
    """Every key at any depth is documented, with a value of its documented type and format."""
    assert key_problems(run_json(demo_env, args)) == []
