"""Sweep s18 (the whole round, as a curator): a return weighed heavier than what is out.

A borrower consumed 1 mg of a 4.8 mg sample; the return was weighed at 4.0 mg. The refusal
said "more than the 3.800 mg issued and accountable": but 4.800 mg was issued, and 3.800 mg is
what is still accountable. It now names both, and the command that shows the balance; a sample
of which nothing was used is still "more than the 4.800 mg issued". Nothing is written.
"""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.cli_steps import ok, refused, signed_ou_agreement
from tests.conftest import OU_PI

pytestmark = pytest.mark.usefixtures("cli_env", "engine")

CODE = "CE5C0000YJYX070"  # 4.8 mg in the demo samples
ACCEPT = ("loans", "accept-return", "L-1", "--seal-intact", "--condition", "as sent")


def on_its_way_back(runner: CliRunner, *, consumed: str | None) -> None:
    """L-1 (CODE) issued to the OU, received, optionally a consumption, released for return."""
    signed_ou_agreement(runner)
    ok(runner, "loans", "request", "L-1", "--agreement", "AG-OU", "--pi", OU_PI, "--sample", CODE)
    ok(runner, "loans", "approve", "L-1")
    ok(runner, "loans", "issue", "L-1")
    ok(runner, "loans", "ship", "L-1", "--container", "box", "--seal", "S-1")
    ok(runner, "loans", "receive", "L-1", "--seal-intact", "--condition", "as sent")
    if consumed:
        ok(runner, "loans", "consume", "L-1", "--sample", CODE, "--technique", "EPMA",
           "--mass", consumed, "--non-destructive")  # fmt: skip
    ok(runner, "loans", "return", "L-1", "--container", "box", "--seal", "S-2")


def test_an_excess_after_a_consumption_names_what_is_accountable(
    runner: CliRunner, db_path: Path
) -> None:
    on_its_way_back(runner, consumed="1 mg")
    message = refused(runner, db_path, *ACCEPT, "--weighed", f"{CODE}=4.0mg")
    assert message == (
        f"Error: sample {CODE} weighs 4.000 mg, more than the 3.800 mg still accountable of the "
        "4.800 mg issued; a return never brings back more than is out: check 'balance --loan "
        "L-1' and reweigh\n"
    )
    out = ok(runner, *ACCEPT, "--weighed", f"{CODE}=3.8mg")
    assert "the loan is returned" in out, out


def test_an_excess_over_an_untouched_sample_names_the_issued_mass(
    runner: CliRunner, db_path: Path
) -> None:
    on_its_way_back(runner, consumed=None)
    message = refused(runner, db_path, *ACCEPT, "--weighed", f"{CODE}=4.801mg")
    assert message.startswith(
        f"Error: sample {CODE} weighs 4.801 mg, more than the 4.800 mg issued; "
    ), message
