"""Sweep s18, an attacker: terminal escape sequences in text edited into the ledger file.

Every command refuses control characters on input, but text read back from the ledger was
printed as stored: a person's name set in the file (or by anyone with write access to a
PostgreSQL ledger) to `ESC]8;;http://evil BEL click …` or `ESC[2J` reached the compliance
officer's terminal as a hidden link and a cleared screen, in `people list`, `loans show`, and
the CSV. Now every table, message and CSV cell shows such a control as its escape (`\\x1b`);
`--json` already escaped it (`\\u001b`).
"""

import shutil
import sqlite3
from pathlib import Path

import pytest

from sampleloans.text import visible
from tests.i15_statement_helpers import env_for, invoke, make_demo

EVIL = "Kentaro \x1b]8;;http://evil\x07click\x1b]8;;\x07 \x1b[2J\x1b[31mTerada\u202e"


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo with Osaka's PI renamed in the file, escape sequences and all."""
    folder = tmp_path_factory.mktemp("terminal")
    ledger = folder / "ledger.db"
    shutil.copy(make_demo(folder / "d"), ledger)
    with sqlite3.connect(ledger) as connection:
        connection.execute(
            "UPDATE person SET name = ? WHERE email = 'terada@osaka-u.example'", (EVIL,)
        )
    return ledger


@pytest.mark.parametrize(
    "args",
    [("people", "list"), ("people", "list", "--csv"), ("loans", "show", "L-2025-Osaka")],
    ids=" ".join,
)
def test_no_escape_sequence_from_the_ledger_reaches_the_terminal(
    ledger: Path, args: tuple[str, ...]
) -> None:
    """Before: the ESC, BEL and U+202E bytes printed as stored."""
    result = invoke(env_for(ledger), *args)
    assert result.exit_code == 0, result.stderr
    for control in ("\x1b", "\x07", "\u202e"):
        assert control not in result.stdout, (args, control)
    assert "\\x1b[2J\\x1b[31mTerada" in result.stdout


def test_json_keeps_the_value_as_recorded(ledger: Path) -> None:
    """`--json` gives every value as recorded, escaped by JSON itself."""
    result = invoke(env_for(ledger), "people", "list", "--json")
    assert "\\u001b[2J" in result.stdout and "\x1b" not in result.stdout


def test_visible_leaves_ordinary_text_alone() -> None:
    """Tabs, new lines, accents and CJK stay; controls and bidi marks become escapes."""
    assert visible("Frédéric Moynier\t嫦娥五号\n") == "Frédéric Moynier\t嫦娥五号\n"
    assert visible("a\rb\x9bc\u202ed") == "a\\rb\\x9bc\\u202ed"
