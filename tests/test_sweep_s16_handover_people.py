"""Sweep s16, a researcher as an attacker: a hand-over names nobody they may not read.

A researcher recording their lab's receipt may name who released, who received and a witness.
Naming a person of another borrowing institution used to work (`--witness
terada@osaka-u.example` from Stony Brook), and `loans show` then printed "Kentaro Terada
(Osaka)", a person `people show` refuses them; a wrong side said "terada@osaka-u.example is at
Osaka, not at SBU", where an unknown e-mail said "no registered person has the e-mail …". Such
a person now answers as an unregistered e-mail, for every hand-over field; the lender's staff
and their own institution's people may still be named, and curators may name anyone.

Likewise `samples list --material` refused a material no sample has by listing every material in
the collection, so a researcher learnt what other institutions' samples are made of (and that
`--material basalt` exists where `--material nope` does not): it now knows only their samples.
"""

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import demo_copy, fingerprint

CURATOR = "curator@naoc.example"
NOW = "2026-04-28T10:00:00Z"
SBU_PI = "glotch@stonybrook.example"
RECEIVE = ["loans", "receive", "L-2025-SBU", "--seal-intact", "--condition", "pristine"]


@pytest.fixture(scope="module")
def demo_with_sbu_shipped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo ledger with Stony Brook's loan signed, issued and shipped, not yet received."""
    folder = tmp_path_factory.mktemp("round") / "demo"
    demo_copy(folder)
    env = {"SAMPLELOANS_DB": str(folder / "ledger.db"), "SAMPLELOANS_NOW": NOW}
    for step in (
        ["agreements", "sign", "AG-2025-SBU", "--signed-by", "CNSA and SBU"],
        ["loans", "issue", "L-2025-SBU"],
        ["loans", "ship", "L-2025-SBU", "--container", "N2 box", "--seal", "SL-SBU-1"],
    ):
        result = CliRunner().invoke(app, ["--as", CURATOR, *step], env=env)
        assert result.exit_code == 0, result.output
    return folder / "ledger.db"


@pytest.fixture
def shipped(demo_with_sbu_shipped: Path, tmp_path: Path) -> dict[str, str]:
    """A copy of that ledger for one test, and the environment to use it."""
    copy = tmp_path / "ledger.db"
    shutil.copyfile(demo_with_sbu_shipped, copy)
    return {"SAMPLELOANS_DB": str(copy), "SAMPLELOANS_NOW": NOW}


def refusal(env: dict[str, str], *args: str) -> str:
    """The one error line of a researcher's receipt (exit 2), the ledger unchanged."""
    before = fingerprint(Path(env["SAMPLELOANS_DB"]))
    result = CliRunner().invoke(app, ["--as", SBU_PI, *RECEIVE, *args], env=env)
    assert result.exit_code == 2, result.output
    assert fingerprint(Path(env["SAMPLELOANS_DB"])) == before
    return result.stderr


@pytest.mark.parametrize("option", ["--witness", "--received-by", "--released-by", "--courier"])
def test_another_institutions_person_answers_as_unregistered(
    shipped: dict[str, str], option: str
) -> None:
    """Osaka's PI named by Stony Brook's researcher: the same line as an unknown e-mail."""
    other = refusal(shipped, option, "terada@osaka-u.example")
    unknown = refusal(shipped, option, "nobody@osaka-u.example")
    assert other.replace("terada", "X") == unknown.replace("nobody", "X")
    assert "no registered person has the e-mail" in other
    assert "Osaka" not in other and "Terada" not in other


def test_the_lenders_staff_and_a_curators_choice_still_go_in(shipped: dict[str, str]) -> None:
    """The researcher names a curator who hand-carried it; a curator may name anyone."""
    result = CliRunner().invoke(
        app, ["--as", SBU_PI, *RECEIVE, "--released-by", CURATOR], env=shipped
    )
    assert result.exit_code == 0, result.output
    shown = CliRunner().invoke(app, ["--as", SBU_PI, "loans", "show", "L-2025-SBU"], env=shipped)
    assert "Terada" not in shown.stdout
    back = ["loans", "return", "L-2025-SBU", "--container", "box", "--seal", "SL-SBU-R"]
    result = CliRunner().invoke(
        app, ["--as", CURATOR, *back, "--witness", "terada@osaka-u.example"], env=shipped
    )
    assert result.exit_code == 0, result.output


def test_a_researchers_material_filter_names_only_their_samples_materials(
    shipped: dict[str, str],
) -> None:
    """OU's researcher holds regolith only: a material of other institutions' samples (basalt)
    answers as one no sample has, and the refusal lists only what they may read."""
    env = {**shipped, "SAMPLELOANS_USER": "anand@open.example"}

    def material(value: str) -> str:
        result = CliRunner().invoke(app, ["samples", "list", "--material", value], env=env)
        assert result.exit_code == 2, result.output
        return result.stderr

    elsewhere, nowhere = material("basalt"), material("nope")
    assert elsewhere.replace("'basalt'", "X") == nowhere.replace("'nope'", "X")
    assert nowhere.strip().endswith("give one of regolith")
    found = CliRunner().invoke(app, ["samples", "list", "--material", "Regolith"], env=env)
    assert found.exit_code == 0 and "CE5C0200YJFM00112" in found.stdout
    staff = CliRunner().invoke(
        app, ["--as", CURATOR, "samples", "list", "--material", "x"], env=env
    )
    assert "basalt" in staff.stderr  # staff read every sample's material
