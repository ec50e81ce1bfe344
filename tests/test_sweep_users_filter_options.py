"""Sweep "what users see": a filter option naming a record the reader cannot have is refused
naming the option, when the option is not the record's kind (`--pi` names a person,
`--custodian` an institution), for staff and researchers alike, and a researcher still gets
the same answer for "not yours" as for "does not exist"."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import demo_copy

RESEARCHER = "anand@open.example"  # OU
STAFF = "curator@naoc.example"
OTHER_PI = "muenker@uni-koeln.example"  # UoC: exists, not the researcher's


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo ledger, read at its own 'today'."""
    folder = tmp_path_factory.mktemp("filters") / "demo"
    demo_copy(folder)
    return {"SAMPLELOANS_DB": str(folder / "ledger.db"), "SAMPLELOANS_NOW": "2026-04-28T09:00:00Z"}


def _error(demo: dict[str, str], actor: str, *args: str) -> str:
    result = CliRunner().invoke(app, ["--as", actor, *args], env=demo)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    return result.stderr


@pytest.mark.parametrize(
    ("args", "lead"),
    [
        (("loans", "list", "--pi"), "person"),
        (("samples", "list", "--custodian"), "institution"),
    ],
)
def test_a_researcher_is_told_which_option_named_what_they_cannot_read(
    demo: dict[str, str], args: tuple[str, ...], lead: str
) -> None:
    """Another institution's record and a missing one get one answer, led by the option."""
    value = OTHER_PI if "--pi" in args else "UoC"
    missing = "nobody@nowhere.example" if "--pi" in args else "Nowhere"
    theirs = _error(demo, RESEARCHER, *args, value)
    absent = _error(demo, RESEARCHER, *args, missing)
    assert theirs == (
        f"Error: {args[-1]} {value!r}: no such {lead} among the records you may read; "
        f"see 'sampleloans {'people' if '--pi' in args else 'institutions'} list'\n"
    )
    assert absent == theirs.replace(repr(value), repr(missing))


def test_staff_are_told_the_same_option(demo: dict[str, str], tmp_path: Path) -> None:
    """A curator's unknown --pi and --custodian are led by the option too."""
    pi = _error(demo, STAFF, "loans", "list", "--pi", "nobody@nowhere.example")
    assert pi.startswith("Error: --pi 'nobody@nowhere.example': no such person; see"), pi
    custodian = _error(demo, STAFF, "samples", "list", "--custodian", "Nowhere")
    assert custodian.startswith("Error: --custodian 'Nowhere': no such institution; see")
