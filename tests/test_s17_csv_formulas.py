"""A CSV cell a spreadsheet would run as a formula is written as text: before, an institution
named `=HYPERLINK(…)` or a material typed `@SUM(…)` (by a curator or an import) came out of
`institutions list --csv` / `samples list --csv` as is, and ran when a compliance officer opened
the file in a spreadsheet (OWASP "CSV injection"). `--json` keeps every value as recorded."""

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from sampleloans.commands.render import FORMULA_STARTS, csv_cell
from tests.conftest import CURATOR, demo_env

NAME = '=HYPERLINK("http://x.example","click")'


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo ledger with an institution and a sample whose text starts a formula."""
    env = demo_env(tmp_path_factory, CURATOR)
    for argv in (
        ["institutions", "add", "EVIL", "--name", NAME, "--country", "UK", "--city", "+London",
         "--kind", "borrower"],
        ["samples", "register", "CE5C0000YJYX091", "--mission", "CE-5", "--mass", "1 mg",
         "--origin", "scoop", "--material", "@SUM(1+1)", "--form", "rock fragment",
         "--purpose", "research", "--location", "-cabinet B"],
    ):  # fmt: skip
        result = CliRunner().invoke(app, argv, env=env)
        assert result.exit_code == 0, result.stderr
    return env


def _csv_rows(env: dict[str, str], *argv: str) -> list[dict[str, str]]:
    result = CliRunner().invoke(app, [*argv, "--csv"], env=env)
    assert result.exit_code == 0, result.stderr
    return list(csv.DictReader(io.StringIO(result.stdout)))


def test_a_name_that_starts_a_formula_is_written_as_text(env: dict[str, str]) -> None:
    row = next(r for r in _csv_rows(env, "institutions", "list") if r["short"] == "EVIL")
    assert row["name"] == "'" + NAME
    assert row["city"] == "'+London"
    shown = CliRunner().invoke(app, ["institutions", "list", "--json"], env=env)
    recorded = next(i for i in json.loads(shown.stdout) if i["short_name"] == "EVIL")
    assert (recorded["name"], recorded["city"]) == (NAME, "+London")


def test_a_streamed_list_writes_a_formula_as_text(env: dict[str, str]) -> None:
    row = next(r for r in _csv_rows(env, "samples", "list") if r["code"] == "CE5C0000YJYX091")
    assert row["material"] == "'@SUM(1+1)"
    assert row["initial (µg)"] == "1000"  # ordinary cells as they were, one fact a cell


@pytest.mark.parametrize("start", FORMULA_STARTS)
def test_every_formula_start_is_guarded_and_nothing_else(start: str) -> None:
    # a carriage return (a control, never recorded) is shown as `\r`: no formula either
    guarded = "\\r1+1" if start == "\r" else f"'{start}1+1"
    assert csv_cell(f"{start}1+1") == guarded
    assert csv_cell("-3") == "-3"  # a whole number (days left once late) is not a formula
    for plain in ("basalt", "— ", "12.400 mg", "2026-04-28 10:00 UTC", "'quoted"):
        assert csv_cell(plain) == plain
