"""Sweep s17-left: `balance --loan` names the part on its way back in its total, as `status`
and `loans list` do (before: only the row of the sample in a return in transit said so)."""

import csv
import io

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import CURATOR, OU_RETURNED, demo_with_a_return_in_flight

RETURNED = OU_RETURNED  # 20.000 mg of L-2025-OU, released for return by the fixture
ON_ITS_WAY = "20.000 mg of it on its way back"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo at its usual moment, one OU sample released for return (on its way back)."""
    return demo_with_a_return_in_flight(tmp_path_factory, CURATOR)


def _run(env: dict[str, str], *args: str) -> str:
    result = CliRunner().invoke(app, list(args), env={**env, "COLUMNS": "200"})
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_the_total_row_names_the_part_on_its_way_back(env: dict[str, str]) -> None:
    total = next(
        line for line in _run(env, "balance", "--loan", "L-2025-OU").splitlines() if "total" in line
    )
    assert ON_ITS_WAY in total and "59.500 mg" in total
    assert ON_ITS_WAY in _run(env, "status", "--loan", "L-2025-OU")  # the same words


def test_the_csv_total_names_it_too(env: dict[str, str]) -> None:
    # one fact a cell (sweep s21-csv): the mass in its own column, in whole micrograms
    out = _run(env, "balance", "--loan", "L-2025-OU", "--csv")
    rows = {row["sample"]: row for row in csv.DictReader(io.StringIO(out))}
    assert rows["total"]["on its way back (µg)"] == "20000"
    assert rows[RETURNED]["on its way back (µg)"] == "20000"


def test_a_loan_with_nothing_on_its_way_back_says_nothing_of_it(env: dict[str, str]) -> None:
    out = _run(env, "balance", "--loan", "L-2025-UoC")
    assert "on its way back" not in out
