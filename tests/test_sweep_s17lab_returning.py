"""Sweep s17-lab: `loans list` names the part of a loan's held mass on its way back, in every
format, with the same figure `status` gives (before: the same held total, silently)."""

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import CURATOR, OU_PI, OU_RETURNED, demo_with_a_return_in_flight

RETURNED = OU_RETURNED  # 20.000 mg of L-2025-OU, released for return by the fixture


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo at its usual moment, one OU sample released for return (on its way back)."""
    return demo_with_a_return_in_flight(tmp_path_factory, OU_PI)


def _run(env: dict[str, str], *args: str) -> str:
    result = CliRunner().invoke(app, list(args), env={**env, "COLUMNS": "200"})
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_loans_list_json_gives_the_part_on_its_way_back_as_status_does(env: dict[str, str]) -> None:
    status = json.loads(_run(env, "status", "--json"))["loans"]
    listed = json.loads(_run(env, "loans", "list", "--json"))
    by_loan = {row["number"]: row for row in listed}
    for loan in status:
        row = by_loan[loan["number"]]
        assert (row["held_ug"], row["returning_ug"]) == (loan["held_ug"], loan["returning_ug"])
    assert by_loan["L-2025-OU"]["returning_ug"] == 20_000


def test_loans_list_table_and_csv_name_the_part_on_its_way_back(env: dict[str, str]) -> None:
    assert "(20.000 mg of it on its way back)" in _run(env, "status")
    assert "(20.000 mg returning)" in _run(env, "loans", "list")  # short words (sweep s34)
    rows = list(csv.DictReader(io.StringIO(_run(env, "loans", "list", "--csv"))))
    # the CSV gives each mass its own column, in micrograms (sweep s21 leftcli)
    assert (rows[0]["held (µg)"], rows[0]["on its way back (µg)"]) == ("59500", "20000")


def test_a_loan_with_nothing_on_its_way_back_says_nothing_of_it(env: dict[str, str]) -> None:
    listed = json.loads(_run(env, "--as", CURATOR, "loans", "list", "--json"))
    uoc = next(row for row in listed if row["number"] == "L-2025-UoC")
    assert uoc["returning_ug"] == 0
    assert (
        "on its way back"
        not in _run(env, "--as", CURATOR, "loans", "list", "--csv")
        .split("L-2025-UoC")[1]
        .splitlines()[0]
    )
