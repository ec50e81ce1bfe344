"""Sweep s37 (task A, users): mass refusals name the option and a bound the user can act on.

- A researcher's (or curator's) consumption or split of more than the borrower holds said
  "cannot consume 25.000 mg of S: …" with no field: every other refused value leads with the
  option it was typed in. It now leads with `--mass`.
- An issue over the agreement's total mass said "allows 1.000 g in total; … would exceed it"
  and nothing more: a loan's samples are fixed once requested, so `--mass` is no way out. It
  now names how much more can go under the agreement, and how (withdraw, request one of less,
  a split lends part of a sample); done as said, the smaller loan is issued.
"""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.errors import RuleViolation
from sampleloans.services import loans
from tests.cli_steps import ok, received_ou_loan, refused, signed_ou_agreement
from tests.conftest import OU_PI, Run

pytestmark = pytest.mark.usefixtures("cli_env", "engine")

SMALL = "CE5C0400YJFM00505"  # 250 mg in the vault of the test ledger
BIG = "CE5C0400YJFM00507"  # 1.5 g: more than the agreement's 1 g in all


@pytest.mark.parametrize(
    ("verb", "args"),
    [
        ("consume", ("loans", "consume", "L-1", "--sample", SMALL, "--technique", "SIMS",
                     "--non-destructive", "--mass", "300 mg")),
        ("split", ("loans", "split", "L-1", "--sample", SMALL, "--child", "-G1",
                   "--mass", "300 mg")),
    ],
)  # fmt: skip
def test_more_than_held_names_the_mass_option(
    runner: CliRunner, db_path: Path, run: Run, verb: str, args: tuple[str, ...]
) -> None:
    received_ou_loan(runner, SMALL, "250mg")
    message = refused(runner, db_path, *args)
    assert message == (
        f"Error: --mass: cannot {verb} 300.000 mg of {SMALL}: the borrower holds only "
        "250.000 mg on loan L-1\n"
    ), message
    with pytest.raises(RuleViolation, match=rf"^mass: cannot {verb} 300\.000 mg of "):
        if verb == "consume":
            run(loans.consume, actor=OU_PI, number="L-1", sample=SMALL, technique="SIMS",
                mass_ug=300_000, destructive=False)  # fmt: skip
        else:
            run(loans.borrower_split, actor=OU_PI, number="L-1", parent=SMALL, child="-G1",
                mass_ug=300_000)  # fmt: skip
    ok(runner, *args[:-1], "250 mg", actor=OU_PI)  # all it holds: accepted


def test_an_issue_over_the_agreements_total_says_what_can_go(
    runner: CliRunner, db_path: Path, run: Run
) -> None:
    signed_ou_agreement(runner)
    ok(runner, "loans", "request", "L-1", "--agreement", "AG-OU", "--pi", OU_PI, "--sample", BIG)
    ok(runner, "loans", "approve", "L-1")
    message = refused(runner, db_path, "loans", "issue", "L-1")
    assert message == (
        "Error: agreement AG-OU allows 1.000 g in total; 0 µg already issued + 1.500 g now "
        "would exceed it; at most 1.000 g more can be issued under it: withdraw loan L-1 "
        "('loans withdraw') and request one of less ('samples split' lends part of a sample)\n"
    ), message
    with pytest.raises(RuleViolation, match=r"; at most 1\.000 g more can be issued under it"):
        run(loans.issue_loan, number="L-1")
    # done as the refusal says: the part that fits is issued
    ok(runner, "loans", "withdraw", "L-1", "--reason", "over the agreement's total")
    ok(runner, "samples", "split", BIG, "--child", "-01=1g")
    ok(runner, "loans", "request", "L-2", "--agreement", "AG-OU", "--pi", OU_PI,
       "--sample", f"{BIG}-01")  # fmt: skip
    ok(runner, "loans", "approve", "L-2")
    assert "1.000 g left the vault" in ok(runner, "loans", "issue", "L-2")
