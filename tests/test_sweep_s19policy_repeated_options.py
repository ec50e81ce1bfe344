"""Sweep s19 (policy): a value repeated in a repeatable option is refused, not merged.

`loans request L-1 --sample X --sample X` recorded a loan of one sample and said "1 sample":
the second `--sample` was most likely meant for another code (a paste slip), and the curator
never learnt that sample was left out. The same held for `loans return --sample`, `agreements
add --purpose` and `custody history --kind`. Each now refuses the repeat with one line naming
the option and the value (exit 2, nothing written), as `--weighed` already did. The services
refuse it too, so an imported `loan.requested` or `agreement.created` with a repeated sample or
purpose follows the same rule. `export --bag --report/--checkpoint/--public-key` keep merging
the same file given twice: the bag holds one copy of a file either way (README).
"""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from sampleloans.errors import InvalidInput
from sampleloans.services import agreements, loans
from tests.cli_steps import ok, refused, signed_ou_agreement
from tests.conftest import CURATOR, OU_PI, Run

pytestmark = pytest.mark.usefixtures("cli_env", "engine")

CODE = "CE5C0000YJYX070"
OTHER = "CE5C0000YJYX061"
REQUEST = ("loans", "request", "L-1", "--agreement", "AG-OU", "--pi", OU_PI)


def test_a_sample_named_twice_in_a_request_is_refused(runner: CliRunner, db_path: Path) -> None:
    signed_ou_agreement(runner)
    message = refused(runner, db_path, *REQUEST, "--sample", CODE, "--sample", CODE, code=2)
    assert message == f"Error: --sample: {CODE} is given twice; name each sample once\n"
    out = ok(runner, *REQUEST, "--sample", CODE, "--sample", OTHER)
    assert "requested: 2 samples" in out, out


def test_a_sample_named_twice_in_a_return_is_refused(runner: CliRunner, db_path: Path) -> None:
    signed_ou_agreement(runner)
    ok(runner, *REQUEST, "--sample", CODE, "--sample", OTHER)
    ok(runner, "loans", "approve", "L-1")
    ok(runner, "loans", "issue", "L-1")
    ok(runner, "loans", "ship", "L-1", "--container", "box", "--seal", "S-1")
    ok(runner, "loans", "receive", "L-1", "--seal-intact", "--condition", "pristine")
    args = ("loans", "return", "L-1", "--container", "box", "--seal", "S-2")
    message = refused(runner, db_path, *args, "--sample", OTHER, "--sample", OTHER, code=2)
    assert message == f"Error: --sample: {OTHER} is given twice; name each sample once\n"
    ok(runner, *args, "--sample", OTHER)


def test_a_purpose_named_twice_is_refused(runner: CliRunner, db_path: Path) -> None:
    add = (
        "agreements", "add", "AG-OU", "--institution", "OU", "--term", "5 years",
        "--max-mass", "1 g", "--max-loan-period", "12 months",
    )  # fmt: skip
    twice = ("--purpose", "public-welfare", "--purpose", "public_welfare")
    message = refused(runner, db_path, *add, *twice, code=2)
    assert message == "Error: --purpose: public-welfare is given twice; name each purpose once\n"


def test_a_kind_named_twice_is_refused(runner: CliRunner) -> None:
    kinds = ("--kind", "loan.issued", "--kind", "loan.issued")
    result = runner.invoke(app, ["--as", CURATOR, "custody", "history", *kinds])
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stderr == "Error: --kind: loan.issued is given twice; name each kind once\n"
    assert result.stdout == ""


def test_the_services_refuse_a_repeat_for_import_too(runner: CliRunner, run: Run) -> None:
    """`import` replays `loan.requested` and `agreement.created` through these functions."""
    signed_ou_agreement(runner)
    with pytest.raises(InvalidInput, match=f"^sample: {CODE} is given twice"):
        run(
            loans.request_loan,
            number="L-1",
            agreement="AG-OU",
            pi=OU_PI,
            samples=[CODE, OTHER, CODE],
        )
    with pytest.raises(InvalidInput, match=r"^purpose: research is given twice"):
        run(
            agreements.create_agreement,
            number="AG-2",
            institution="OU",
            term="P1Y",
            max_total_mass_ug=10**6,
            allowed_purposes=["research", "Research"],
            max_loan_period="P6M",
        )
