"""Stop 35, lead: the demo's closing summary on an 80-column terminal drew its `loans` and
`standing` columns zero characters wide (`┃ ┃ ┃`): it was the one table printed without
`render.fitted`. It now keeps every column, and falls back to one field per line where the
table cannot fit, as every other table does."""

import io
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.commands.render import demo_summary_table, fitted
from sampleloans.demo import DEMO_TODAY
from sampleloans.services.ledgerfile import transaction
from sampleloans.services.queries import collection_summary
from tests.conftest import demo_copy

HEADINGS = ("institution", "loans", "standing", "issued", "consumed", "returned", "held")


def _summary_of(output: str) -> str:
    return output[output.index("Chang'e-5 international round — summary") :]


def _headings_row(summary: str) -> list[str]:
    """The table's heading cells, as drawn (between the box's `┃`)."""
    row = next(line for line in summary.splitlines() if line.startswith("┃"))
    return [cell.strip() for cell in row.strip("┃").split("┃")]


@pytest.fixture(scope="module")
def demo_output(tmp_path_factory: pytest.TempPathFactory) -> dict[int, str]:
    """The demo's whole output at 80 and at 50 columns (one demo each)."""
    said = {}
    for columns in (80, 50):
        ledger = tmp_path_factory.mktemp("demo") / "d.db"
        env = {"COLUMNS": str(columns), "SAMPLELOANS_NOW": "2026-05-01T10:00:00Z"}
        result = CliRunner().invoke(app, ["--db", str(ledger), "demo"], env=env)
        assert result.exit_code == 0, result.stderr
        said[columns] = result.stdout
    return said


def test_every_column_keeps_its_heading_at_80_columns_cli(demo_output: dict[int, str]) -> None:
    summary = _summary_of(demo_output[80])
    assert _headings_row(summary) == list(HEADINGS)
    drawn = [line for line in summary.splitlines() if line[:1] in "┏┃┡│└"]
    assert len(drawn) >= 12 and all(len(line) <= 80 for line in drawn)
    osaka = [line for line in summary.splitlines() if "Osaka (Japan)" in line]
    assert len(osaka) == 1 and "signed," in osaka[0]  # the standing column is drawn


def test_too_narrow_a_terminal_gives_one_field_a_line_cli(demo_output: dict[int, str]) -> None:
    summary = _summary_of(demo_output[50])
    assert "┃" not in summary
    assert "standing     signed, overdue" in summary
    records = summary[: summary.index("ledger head")].splitlines()
    assert all(len(line) <= 50 for line in records)


def test_the_summary_table_fits_at_service_level(tmp_path: Path) -> None:
    engine = db.open_engine(db.url_for_path(demo_copy(tmp_path)))
    with transaction(engine, write=False) as session:
        rows = collection_summary(session, DEMO_TODAY)
    engine.dispose()
    drawn = io.StringIO()
    Console(file=drawn, width=80, color_system=None).print(
        fitted(demo_summary_table(rows, "7:abc"), 80)
    )
    assert _headings_row(drawn.getvalue()) == list(HEADINGS)
    assert sum(1 for line in drawn.getvalue().splitlines() if line.startswith("│")) >= len(rows)
