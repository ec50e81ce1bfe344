"""Sweep s43, an attacker with sqlite3: projection cells no release writes, met by reads.

Before:
- a period edited in (`loan.loan_period`, `agreement.term` = 'forever') was a ValueError
  traceback in `loans show`, `status --json`, `agreements show` and `report custody`
  (`units._canonical_parts`), where an edited mass or time is one line, exit 3;
- a sample made its own ancestor (`parent_code` leading back to it) hung `balance --sample`,
  `custody history --sample` and `samples tree` for ever (the walk up to the root went round
  the loop), and a sample its own parent was a RecursionError in `samples tree`;
- masses edited to SQLite's largest integer made `balance` print SQLAlchemy's `integer
  overflow` traceback (the collection's sum).
Now each is one `Error:` line saying the tables were edited outside sampleloans, exit 3, and
`verify` names the cell (exit 1).
"""

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from tests.i15_statement_helpers import env_for, invoke

COMPLIANCE = "compliance@naoc.example"
PARENT = "CE5C0800YJFM00102"
CHILD = "CE5C0800YJFM00102-01"
EDITED = "the ledger's tables were edited outside sampleloans"


def _edit(ledger: Path, sql: str) -> None:
    """Change the ledger file by hand, as an attacker with sqlite3 would."""
    with closing(sqlite3.connect(ledger)) as connection, connection:
        connection.executescript(sql)


def _refused_as_edited(ledger: Path, *args: str) -> str:
    """One `Error:` line saying the tables were edited, exit 3, no traceback; the line."""
    result: Any = invoke(env_for(ledger, COMPLIANCE), *args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 3, (args, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), lines
    assert EDITED in lines[0]
    return str(lines[0])


def _verify_names(ledger: Path, words: str) -> None:
    """`verify` fails (exit 1) naming the edited cell."""
    result = invoke(env_for(ledger, COMPLIANCE), "verify")
    assert result.exit_code == 1, result.output
    assert words in result.stdout, result.stdout


@pytest.mark.parametrize(
    ("sql", "args"),
    [
        (
            "UPDATE loan SET loan_period='forever' WHERE number='L-2025-UoC'",
            ["loans", "show", "L-2025-UoC"],
        ),
        (
            "UPDATE loan SET loan_period='forever' WHERE number='L-2025-UoC'",
            ["status", "--institution", "UoC", "--json"],
        ),
        (
            "UPDATE agreement SET term='forever' WHERE number='AG-2025-UoC'",
            ["agreements", "show", "AG-2025-UoC"],
        ),
        (
            "UPDATE agreement SET term='forever' WHERE number='AG-2025-UoC'",
            ["report", "custody", "--loan", "L-2025-UoC", "--out", "r.pdf"],
        ),
        (
            "UPDATE agreement SET max_extension_period='P0D' WHERE number='AG-2025-UoC'",
            ["agreements", "show", "AG-2025-UoC"],
        ),
    ],
    ids=["loan-show", "status-json", "agreement-show", "report", "zero-period"],
)
def test_a_period_edited_into_a_table_is_one_line(
    ledger: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sql: str, args: list[str]
) -> None:
    """Before: `ValueError: not a canonical period: 'forever'` (a traceback)."""
    monkeypatch.chdir(tmp_path)
    _edit(ledger, sql)
    line = _refused_as_edited(ledger, *args)
    assert "a stored period holds 'forever'" in line or "a stored period holds 'P0D'" in line
    assert not (tmp_path / "r.pdf").exists()
    _verify_names(ledger, "but the events give 'P")


@pytest.mark.parametrize(
    "args",
    [
        ["balance", "--sample", PARENT],
        ["custody", "history", "--sample", PARENT],
        ["samples", "tree", PARENT],
        ["samples", "tree", CHILD],
    ],
    ids=" ".join,
)
def test_a_loop_of_parents_is_one_line_not_a_hang(ledger: Path, args: list[str]) -> None:
    """The parent made a child of its own child: before, the walk up to the root never ended
    (the test run would time out here)."""
    _edit(ledger, f"UPDATE sample SET parent_code='{CHILD}' WHERE code='{PARENT}'")
    line = _refused_as_edited(ledger, *args)
    assert "is its own ancestor (its parent_code leads back to it)" in line
    _verify_names(ledger, f"parent_code is '{CHILD}' but the events give None")


def test_a_sample_its_own_parent_is_one_line(ledger: Path) -> None:
    """Before: `samples tree CHILD` recursed into itself until RecursionError; `balance` and
    `custody history` of it hung."""
    _edit(ledger, f"UPDATE sample SET parent_code=code WHERE code='{CHILD}'")
    for args in (
        ["samples", "tree", CHILD],
        ["balance", "--sample", CHILD],
        ["custody", "history", "--sample", CHILD],
    ):
        line = _refused_as_edited(ledger, *args)
        assert f"sample {CHILD} is its own ancestor" in line
    # its old parent's own lineage no longer holds it, and still reads
    assert invoke(env_for(ledger, COMPLIANCE), "samples", "tree", PARENT).exit_code == 0


def test_masses_edited_past_sqlites_integers_are_one_line(ledger: Path) -> None:
    """Before: sqlalchemy.exc.OperationalError: integer overflow (a traceback) from the sum of
    the collection's masses."""
    big = 2**63 - 1
    _edit(
        ledger,
        f"UPDATE sample SET vault_ug={big}, initial_mass_ug={big} WHERE code='CE5C0000YJYX070'",
    )
    for args in (["balance"], ["balance", "--json"]):
        line = _refused_as_edited(ledger, *args)
        assert "a total of stored masses in the ledger" in line
        assert "is beyond SQLite's integers" in line
    _verify_names(ledger, "sample row CE5C0000YJYX070")


@pytest.mark.parametrize(
    ("sql", "args"),
    [
        (
            "UPDATE person SET name=x'c3' WHERE email='muenker@uni-koeln.example'",
            ["people", "list"],
        ),
        (
            "UPDATE institution SET name=x'ff' WHERE short_name='UoC'",
            ["institutions", "list"],
        ),
        (
            "UPDATE agreement SET institution=x'55' WHERE number='AG-2025-UoC'",
            ["agreements", "list"],
        ),
    ],
    ids=["people-list", "institutions-list", "agreements-list"],
)
def test_a_blob_edited_into_a_text_cell_is_one_line(
    ledger: Path, sql: str, args: list[str]
) -> None:
    """SQLite hands a BLOB back as bytes whatever the column's type. Before: `TypeError: a
    bytes-like object is required, not 'dict'` from rich's Text (a traceback)."""
    _edit(ledger, sql)
    line = _refused_as_edited(ledger, *args)
    assert "a stored text holds b'" in line and "not text" in line
