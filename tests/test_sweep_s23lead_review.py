"""Fixes from the review of wave s23: an unknown option's name is shown escaped; a suggested
command line holds a mass the parser accepts; a Ctrl-C held over a COMMIT that fails is raised
then, never kept for the next commit."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans import interrupts
from sampleloans.cli import app
from sampleloans.units import format_mass, parse_mass_ug, typed_mass
from tests.conftest import CURATOR, demo_in_a_process, fingerprint


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo ledger (never written by these tests)."""
    return demo_in_a_process(tmp_path_factory.mktemp("review") / "demo")


@pytest.mark.parametrize(
    "typed", ["--x\x1b[2J\x1b[HVerified OK\n", "--x\u2028y", "--x\ty=\x1b[31m"]
)
def test_an_unknown_option_is_shown_escaped_on_one_line(ledger: Path, typed: str) -> None:
    before = fingerprint(ledger)
    env = {"SAMPLELOANS_DB": str(ledger), "NO_COLOR": "1"}
    result = CliRunner().invoke(app, ["--as", CURATOR, "loans", "list", typed], env=env)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: --x")
    assert "\x1b" not in result.stderr and "\t" not in result.stderr
    assert "\u2028" not in result.stderr and "no such option" in result.stderr
    assert fingerprint(ledger) == before


@pytest.mark.parametrize("mass_ug", [1, 200, 1_000_000_000, 1_200_000_000, 9_999_999_999])
def test_a_suggested_mass_is_one_the_parser_takes(mass_ug: int) -> None:
    """A shortfall of 1 kg or more was suggested as '--mass-lost 1,200.000g', then refused."""
    typed = typed_mass(mass_ug)
    assert " " not in typed and "," not in typed
    assert parse_mass_ug(typed) == mass_ug
    assert format_mass(mass_ug).replace(" ", "").replace(",", "") == typed


def test_a_ctrl_c_held_over_a_failed_commit_is_raised_then() -> None:
    """It stayed 'deferred' and a later, successful commit raised an interrupt nobody pressed."""
    interrupts.start_run()
    with pytest.raises(KeyboardInterrupt) as raised, interrupts.held():
        interrupts._note_and_raise(2, None)  # Ctrl-C during the COMMIT
        raise OSError("disk full at COMMIT")
    assert isinstance(raised.value.__context__, OSError)
    with interrupts.held():  # the next commit: nothing pending
        pass
    interrupts._Interrupt.received = False


def test_a_receipt_shortfall_of_a_kilogram_suggests_a_command_that_works() -> None:
    from sampleloans.commands.loans import _receipt_discrepancy
    from sampleloans.services.loan_views import DiscrepancyView

    shortfall = DiscrepancyView(1, "S1", 1_500_000_000, 300_000_000, -1_200_000_000)
    said = _receipt_discrepancy("L-1", shortfall)
    assert "1,200.000 g less than the 1,500.000 g issued" in said
    suggested = said.split("--mass-lost ")[1].split()[0]
    assert parse_mass_ug(suggested) == 1_200_000_000
