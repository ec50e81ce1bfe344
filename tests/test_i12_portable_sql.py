"""Portable SQL (issue 12): the driver and its dialect live in `db.py` only.

`db.py` is the exception because it is where the program meets the database engine: the
connection set-up (WAL, busy timeout, foreign keys, `BEGIN IMMEDIATE`), SQLite's integrity check,
and the whole-file backup and restore through SQLite's backup API are SQLite's own, and the
next backend adds its branches there. Everything else, the write path above all
(`ledger/unit.py`), speaks SQLAlchemy Core, so it runs on any dialect `db.py` supports.
"""

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "sampleloans"
ALLOWED = {PACKAGE / "db.py"}
FORBIDDEN = re.compile(r"sqlite3|pragma", re.IGNORECASE)


def _modules() -> list[Path]:
    return sorted(path for path in PACKAGE.rglob("*.py") if path not in ALLOWED)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_driver_or_pragma_outside_db(path: Path) -> None:
    lines = [
        f"{n}: {line.strip()}"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if FORBIDDEN.search(line)
    ]
    assert not lines, f"{path.name} names the SQLite driver or a PRAGMA: {lines}"


def test_the_rule_would_catch_a_raw_cursor() -> None:
    planted = "import sqlite3\ncursor.execute('PRAGMA journal_mode = WAL')\n"
    assert len([line for line in planted.splitlines() if FORBIDDEN.search(line)]) == 2


def test_the_unit_writes_through_core_statements_only() -> None:
    """No SQL text and no driver cursor on the write path: `text(`, `exec_driver_sql` and
    `driver_connection` do not occur in the unit of work, `apply` or the replay."""
    for name in ("unit.py", "apply.py", "replay.py"):
        tree = ast.parse((PACKAGE / "ledger" / name).read_text(encoding="utf-8"))
        calls = {ast.unparse(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
        attributes = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
        assert "text" not in calls, name
        assert not {"exec_driver_sql", "driver_connection", "executemany"} & attributes, name
