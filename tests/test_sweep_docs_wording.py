"""Sweep "a newcomer who trusts the documentation": messages that name things as the README does.

A loan has a number, an agreement a number and an institution a short name (`loans request
NUMBER`, `agreements add NUMBER`, `institutions add SHORT`), but the refusal of a case twin told
every one of them to "choose a code that differs in more than case".
"""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import CURATOR, OU_PI, fingerprint
from tests.test_sweep_input_case import AGREEMENT, INSTITUTION, VAULT, ledger  # noqa: F401

TWIN_FIELDS = {
    "institution": (
        ["institutions", "add", "ou", *INSTITUTION, "--kind", "borrower"],
        "Error: institution ou differs only in case from institution OU; use OU or choose a "
        "short name that differs in more than case\n",
    ),
    "agreement": (
        ["agreements", "add", "ag-ou", *AGREEMENT],
        "Error: agreement ag-ou differs only in case from agreement AG-OU; use AG-OU or choose "
        "a number that differs in more than case\n",
    ),
    "loan": (
        ["loans", "request", "l-1", "--agreement", "AG-OU", "--pi", OU_PI, "--sample", VAULT],
        "Error: loan l-1 differs only in case from loan L-1; use L-1 or choose a number that "
        "differs in more than case\n",
    ),
}


@pytest.mark.xfail(
    strict=True,
    reason="lead: services/common.py refuse_case_twin says 'choose a code' for every kind; it "
    "should name the column's own field (column.key: number, short_name -> 'short name')",
)
@pytest.mark.parametrize("kind", sorted(TWIN_FIELDS))
def test_a_case_twin_refusal_names_the_records_own_field(ledger: Path, kind: str) -> None:  # noqa: F811
    """Exit 1, nothing written, and the advice names the field the user typed."""
    argv, message = TWIN_FIELDS[kind]
    before = fingerprint(ledger)
    result = CliRunner().invoke(app, ["--as", CURATOR, *argv])
    assert result.exit_code == 1
    assert fingerprint(ledger) == before
    assert result.stderr == message


@pytest.mark.parametrize("institution", ["OU", "XYZ"])
def test_init_at_an_institution_that_curates_nothing_names_the_option_and_the_choice(
    tmp_path: Path, institution: str
) -> None:
    """`init --institution OU` said "institution: OU is not a curating institution" (an
    unknown one: "does not exist"), naming neither the option nor what it accepts; now one line
    names both, exit 2, and no ledger file is left."""
    new_file = tmp_path / "lab.db"
    argv = ["--db", str(new_file), "init", "--curator-email", "li@naoc.example"]
    result = CliRunner().invoke(
        app, [*argv, "--curator-name", "Li Na", "--institution", institution]
    )
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: --institution: {institution} is not a curating institution; the first curator "
        "works at one of NAOC\n"
    )
    assert not new_file.exists()


def test_notify_refused_to_a_compliance_officer_says_their_role_in_words(tmp_path: Path) -> None:
    """Every refusal names the role in words ("a compliance officer"); notify's said "a
    compliance_officer", the stored spelling."""
    folder = tmp_path / "demo"
    assert CliRunner().invoke(app, ["demo", "--dir", str(folder)]).exit_code == 0
    env = {"SAMPLELOANS_DB": str(folder / "ledger.db")}
    argv = ["--as", "compliance@naoc.example", "notify", "--outbox", str(tmp_path / "out")]
    result = CliRunner().invoke(app, argv, env=env)
    assert result.exit_code == 4
    assert result.stderr == (
        "Error: compliance@naoc.example is a compliance officer; only curators may run notify\n"
    )


def test_the_return_report_is_confirmed_as_form_f_75(tmp_path: Path) -> None:
    """`report return` confirmed "sample return report (f-75)": the form's name keeps its
    capital, as the README and the report itself write it."""
    folder = tmp_path / "demo"
    assert CliRunner().invoke(app, ["demo", "--dir", str(folder)]).exit_code == 0
    env = {"SAMPLELOANS_DB": str(folder / "ledger.db"), "SAMPLELOANS_USER": CURATOR}
    argv = ["report", "return", "--loan", "L-2025-IPGP", "--out", str(tmp_path / "f75.pdf")]
    result = CliRunner().invoke(app, argv, env=env)
    assert result.exit_code == 0, result.stderr
    assert ": sample return report (F-75), loan L-2025-IPGP; ledger head " in result.stdout
