"""A negative number typed where a command takes a number as its argument (`custody correct
-5`) is read by Click as an option: the one line says no number there is negative, not only that
there is no such option. Click names only its first two characters (`-1` of `-12`)."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.i15_statement_helpers import CURATOR, make_demo


@pytest.mark.parametrize(
    "args",
    [
        ("custody", "correct", "-5", "--text", "x"),
        ("checkpoint", "show", "-3"),
        ("custody", "correct", "-12", "--text", "x"),
    ],
)
def test_a_negative_number_argument_is_one_line_saying_no_number_is_negative(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    ledger = make_demo(tmp_path)
    before = ledger.read_bytes()
    result = CliRunner().invoke(app, ["--db", str(ledger), "--as", CURATOR, *args])
    command = " ".join(args[:2])
    assert (result.exit_code, result.stderr) == (
        2,
        f"Error: {args[2][:2]}: no such option (a number typed with '-' is read as an option; "
        f"no number this command takes is negative) (try 'sampleloans {command} --help')\n",
    )
    assert ledger.read_bytes() == before


def test_an_unknown_option_that_is_no_number_keeps_its_words(tmp_path: Path) -> None:
    ledger = make_demo(tmp_path)
    result = CliRunner().invoke(app, ["--db", str(ledger), "--as", CURATOR, "loans", "list", "-x"])
    assert (result.exit_code, result.stderr) == (
        2,
        "Error: -x: no such option (try 'sampleloans loans list --help')\n",
    )
