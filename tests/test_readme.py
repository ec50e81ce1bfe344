"""The README stays true: it mentions every command, and its Quick start is two commands."""

import re
from pathlib import Path
from typing import Any

import typer

from sampleloans.cli import app

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def command_paths(group: Any, prefix: tuple[str, ...] = ()) -> list[str]:
    """Every leaf command as 'noun verb' (or 'verb' at the top)."""
    paths = []
    for name, command in sorted(group.commands.items()):
        if hasattr(command, "commands"):  # a sub-app (Typer's group)
            paths += command_paths(command, (*prefix, name))
        else:
            paths.append(" ".join((*prefix, name)))
    return paths


def test_readme_mentions_every_command() -> None:
    commands = command_paths(typer.main.get_command(app))
    assert len(commands) > 3
    missing = [c for c in commands if not re.search(rf"`(sampleloans )?{re.escape(c)}\b", README)]
    assert missing == [], f"commands missing from README.md: {missing}"


def test_readme_documents_no_command_that_does_not_exist() -> None:
    commands = set(command_paths(typer.main.get_command(app)))
    nouns = {c.split()[0] for c in commands}
    documented = set(re.findall(r"^\| `([a-z-]+(?: [a-z-]+)?)`", README, flags=re.MULTILINE))
    unknown = [d for d in documented if d not in commands and d.split()[0] in nouns | commands]
    assert unknown == []


def test_quick_start_is_two_commands_and_ci_runs_the_test_command() -> None:
    block = re.search(r"## Quick start.*?```sh\n(.*?)```", README, flags=re.DOTALL)
    assert block is not None
    lines = [line for line in block.group(1).splitlines() if line.strip()]
    assert len(lines) == 2
    assert "sampleloans demo" in lines[0]
    ci = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert lines[1] in ci


def test_readme_states_every_exit_code() -> None:
    for code in (*range(5), 130):  # 130: Ctrl-C
        assert re.search(rf"^\| {code} \|", README, flags=re.MULTILINE), f"exit code {code}"
