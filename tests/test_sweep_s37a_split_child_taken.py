"""Sweep s37 (task A, users): a split whose child code is already taken names `--child`.

Before, `samples split P --child -01=1mg` (and a researcher's `loans split … --child=-G1`) with
P-01 already registered said "sample P-01 is already registered; choose another suffix": no
option, and "sample" reads as the parent (`PARENT`) or `--sample`. It now leads with `--child`
and the code (exit 1, as before; nothing written), and another suffix is accepted.
"""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from sampleloans.errors import Conflict
from sampleloans.services import loans
from sampleloans.services.samples import split_sample
from tests.cli_steps import ok, received_ou_loan, refused
from tests.conftest import OU_PI, Run, fingerprint

pytestmark = pytest.mark.usefixtures("cli_env", "engine")

P = "CE5C0400YJFM00505"  # 250 mg in the vault of the test ledger
TAKEN = (
    "--child: {code} is already the code of a registered sample; codes are unique: choose "
    "another suffix"
)


def test_a_curator_split_names_the_child_option(runner: CliRunner, db_path: Path) -> None:
    ok(runner, "samples", "split", P, "--child", "-01=1mg")
    for typed in ("-01=1mg", f"{P}-01=1mg"):  # a suffix, or the whole code
        message = refused(runner, db_path, "samples", "split", P, "--child", typed)
        assert message == f"Error: {TAKEN.format(code=f'{P}-01')}\n", message
    ok(runner, "samples", "split", P, "--child", "-02=1mg")


def test_a_curator_split_at_service_level(run: Run) -> None:
    run(split_sample, parent=P, children=[("-01", 1000)])
    with pytest.raises(Conflict) as caught:
        run(split_sample, parent=P, children=[("-01", 1000)])
    assert str(caught.value) == (
        f"child code: {P}-01 is already the code of a registered sample; codes are unique: "
        "choose another suffix"
    )


def test_a_researcher_split_names_the_child_option(
    runner: CliRunner, db_path: Path, run: Run
) -> None:
    """The borrower's split of a held sample (`loans split`), as the PI records it; then the
    same at service level."""
    received_ou_loan(runner, P, "250mg")
    split = ("loans", "split", "L-1", "--sample", P, "--mass", "1 mg", "--child")
    ok(runner, *split, "-G1", actor=OU_PI)
    before = fingerprint(db_path)
    result = runner.invoke(app, ["--as", OU_PI, *split, "-G1"])
    assert result.exit_code == 1, result.output
    assert result.stderr == f"Error: {TAKEN.format(code=f'{P}-G1')}\n", result.stderr
    assert fingerprint(db_path) == before
    with pytest.raises(Conflict) as caught:
        run(loans.borrower_split, actor=OU_PI, number="L-1", parent=P, child="-G1", mass_ug=1000)
    assert str(caught.value).startswith(f"child code: {P}-G1 is already the code of a ")
    ok(runner, *split, "-G2", actor=OU_PI)
