"""Stop 30, acceptance: a long list's count reads the same in every form of its table.

A list of more than 1,000 rows seen one page at a time (`--limit`, `--offset`, a terminal's
first 50 rows) is drawn as a rich table whose title counts every row of the list; the plain
streamed table and the footer grouped that count's thousands (`Samples (5,028)`, `showing 1–50
of 5,028`) while the rich title printed it bare (`Samples (5028)`), as no other count the
commands print does.
"""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import demo_copy
from tests.test_i13_lists import CURATOR, NOW, with_samples


@pytest.fixture(scope="module")
def thousand(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo ledger (28 samples) with 1,000 more vault samples: 1,028 in all."""
    folder = tmp_path_factory.mktemp("s30-accept-lists")
    demo_copy(folder / "demo")
    return with_samples(folder / "demo" / "ledger.db", folder / "thousand.db", 1_000)


def page(db_path: Path, *args: str) -> list[str]:
    """The lines `samples list` prints with these options (stdout, then stderr)."""
    env = {"SAMPLELOANS_DB": str(db_path), "SAMPLELOANS_USER": CURATOR,
           "SAMPLELOANS_NOW": NOW, "COLUMNS": "120", "NO_COLOR": "1"}  # fmt: skip
    result = CliRunner().invoke(app, ["samples", "list", *args], env=env)
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines() + result.stderr.splitlines()


@pytest.mark.parametrize("args", [["--limit", "2"], ["--offset", "1027"], ["--limit", "50"]])
def test_a_page_of_a_long_list_counts_it_with_grouped_thousands(
    thousand: Path, args: list[str]
) -> None:
    lines = page(thousand, *args)
    assert lines[0].strip() == "Samples (1,028)"
    assert "│" in lines[4]  # the rich table (its first row), not the plain one
    assert lines[-1].startswith("showing ") and " of 1,028" in lines[-1]


def test_the_whole_list_and_a_page_of_it_give_one_title(thousand: Path) -> None:
    whole = page(thousand)  # piped: every row, a plain table beyond 1,000 rows
    assert "│" not in whole[3]
    assert whole[0] == page(thousand, "--limit", "2")[0].strip() == "Samples (1,028)"
