"""A mass with its unit and a time with its date never break inside a table cell, at 80 or
100 columns: free text (an e-mail, a note, words) wraps or folds instead ('300.000' over 'mg'
and '2026-05-05' over '08:00' read as other values)."""

import re
from collections import Counter

import pytest
from rich.console import Console
from rich.table import Table
from typer.testing import CliRunner

from sampleloans.cli import app
from sampleloans.commands.render import MASS, TIMESTAMP, fit_to_width
from tests.conftest import demo_env

COMPLIANCE = "compliance@naoc.example"
NOW = "2026-05-01T10:00:00Z"
READS = [
    ["loans", "list"],
    ["loans", "show", "L-2025-OU"],
    ["loans", "show", "L-2025-IPGP"],
    ["samples", "list"],
    ["samples", "show", "CE5C0000YJYX052"],
    ["overdue"],
    ["balance"],
    ["status", "--institution", "OU"],
    ["agreements", "list"],
    ["custody", "history", "--loan", "L-2025-OU"],
    ["custody", "history", "--loan", "L-2025-IPGP", "--as-of", "2025-12-01"],
]
# Where the masses and times cannot all be whole beside every code, the rows come one field
# per line (`render.fitted`): every command, at 80 and 100 columns
AT_100 = READS
AT_80 = READS
CASES = [(args, 100) for args in AT_100] + [(args, 80) for args in AT_80]
UNBROKEN = re.compile(f"{MASS.pattern}|{TIMESTAMP.pattern}")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo ledger read by its compliance officer on 1 May 2026."""
    return demo_env(tmp_path_factory, COMPLIANCE, NOW)


def _read(env: dict[str, str], args: list[str], columns: int) -> str:
    """What a command prints on a terminal `columns` wide."""
    result = CliRunner().invoke(app, args, env={**env, "COLUMNS": str(columns)})
    assert result.exit_code == 0, (args, result.output)
    return result.stdout


def _table_cells(text: str) -> list[str]:
    """Each cell's text inside the table borders, a cell's lines as printed."""
    return [cell for line in text.splitlines() for cell in re.split(r"[│┃]", line)]


@pytest.mark.parametrize(("args", "columns"), CASES, ids=lambda v: str(v))
def test_every_mass_and_time_reads_whole_on_a_narrow_terminal(
    env: dict[str, str], args: list[str], columns: int
) -> None:
    """Every mass and time a wide terminal shows is on one line of one cell at 80 and 100."""
    wide = Counter(UNBROKEN.findall(" ".join(_table_cells(_read(env, args, 400)))))
    narrow = Counter(UNBROKEN.findall(" ".join(_table_cells(_read(env, args, columns)))))
    assert wide, args  # the command shows some: the check can fail
    assert narrow == wide, (args, columns, wide - narrow)


def test_loans_list_at_100_columns_keeps_masses_and_due_times_whole(env: dict[str, str]) -> None:
    """The sweep's case: '300.000 mg' and '2026-05-05 08:00' on one line. A table could keep
    them so only by folding an e-mail to a two-letter last line ('pi@brown.examp' over 'le'),
    so the rows come one field per line, the e-mails whole too (stop 37)."""
    text = _read(env, ["loans", "list"], 100)
    assert "300.000 mg" in text and "2026-05-05 08:00" in text and "2025-10-21 10:00" in text
    assert "PI           glotch@stonybrook.example" in text  # one field per line, whole


def test_fit_to_width_keeps_masses_and_times_before_free_text() -> None:
    """Service level: the fitted table gives each mass and time its width, free text wraps."""
    table = Table()
    table.add_column("loan", no_wrap=True)
    table.add_column("PI")
    table.add_column("issued", justify="right", no_wrap=True)
    table.add_column("due (UTC)", no_wrap=True)
    table.add_row("L-2025-IPGP", "moynier@ipgp.example " * 3, "300.000 mg", "2026-05-05 08:00")
    fitted = fit_to_width(table, 50)
    widths = [column.width for column in fitted.columns]
    assert widths[2] is not None and widths[2] >= len("300.000 mg")
    assert widths[3] is not None and widths[3] >= len("2026-05-05 08:00")
    console = Console(width=50, record=True)
    console.print(fitted)
    printed = console.export_text()
    assert "300.000 mg" in printed and "2026-05-05 08:00" in printed
