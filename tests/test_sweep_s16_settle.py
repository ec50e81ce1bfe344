"""Sweep s16, consistency between commands: what a loan owes is the same for `status` and
`loans settle`.

A sample came back, was accepted into the vault, and the curator then found it cracked
(`incidents report`: the incident is the vault's, no loan's). `status` and the statement owed
nothing for it on the loan, but `loans settle` refused: "incident 101 on … is open; resolve it
first", for an incident of no loan (or of the next loan the sample went out on). Settlement now
waits on the loan's own open incidents, the ones `status` lists.

And a mass correction says what it changed, as every other write that records a mass does.
"""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.cli_steps import ok, refused, signed_ou_agreement
from tests.conftest import OU_PI

pytestmark = pytest.mark.usefixtures("cli_env", "engine")

CODE = "CE5C0000YJYX070"


def returned_loan(runner: CliRunner) -> None:
    """L-1 to the Open University: issued, shipped, received, returned and accepted whole."""
    signed_ou_agreement(runner)
    ok(runner, "loans", "request", "L-1", "--agreement", "AG-OU", "--pi", OU_PI, "--sample", CODE)
    ok(runner, "loans", "approve", "L-1")
    ok(runner, "loans", "issue", "L-1")
    ok(runner, "loans", "ship", "L-1", "--container", "box", "--seal", "S-1")
    ok(runner, "loans", "receive", "L-1", "--seal-intact", "--condition", "pristine")
    ok(runner, "loans", "return", "L-1", "--container", "box", "--seal", "S-2")
    ok(
        runner, "loans", "accept-return", "L-1", "--seal-intact", "--condition", "as sent",
        "--weighed", f"{CODE}=4.8mg",
    )  # fmt: skip


def test_a_vault_incident_after_the_return_does_not_hold_the_settlement(
    runner: CliRunner,
) -> None:
    returned_loan(runner)
    ok(runner, "incidents", "report", "--sample", CODE, "--kind", "damage", "--description",
       "cracked in the vault")  # fmt: skip
    status = ok(runner, "status", "--loan", "L-1", "--json")
    assert "incident" not in status
    ok(runner, "loans", "settle", "L-1", "--obligations", "report received")
    ok(runner, "loans", "close", "L-1")


def test_the_loans_own_open_incident_still_holds_it(runner: CliRunner, db_path: Path) -> None:
    signed_ou_agreement(runner)
    ok(runner, "loans", "request", "L-1", "--agreement", "AG-OU", "--pi", OU_PI, "--sample", CODE)
    ok(runner, "loans", "approve", "L-1")
    ok(runner, "loans", "issue", "L-1")
    ok(runner, "loans", "ship", "L-1", "--container", "box", "--seal", "S-1")
    ok(runner, "loans", "receive", "L-1", "--seal-intact", "--condition", "pristine")
    ok(runner, "incidents", "report", "--sample", CODE, "--kind", "loss", "--description",
       "spilled", "--mass-lost", "4.8 mg")  # fmt: skip
    assert "open incident" in ok(runner, "status", "--loan", "L-1")
    message = refused(runner, db_path, "loans", "settle", "L-1", "--obligations", "x")
    assert "is open; resolve it first" in message


def test_a_mass_correction_says_what_it_changed(runner: CliRunner) -> None:
    """Every write that records a mass prints it back ('400 µg of … consumed'); a mass
    correction printed only 'Recorded mass correction of event 57 (event 60).'."""
    returned_loan(runner)
    out = ok(runner, "incidents", "report", "--sample", CODE, "--kind", "loss", "--description",
             "grain lost in the vault", "--mass-lost", "0.5 mg")  # fmt: skip
    incident = int(out.split("Incident ")[1].split()[0])
    out = ok(runner, "custody", "correct", str(incident), "--mass", "0.2mg", "--reason", "found")
    assert out == (
        f"Recorded mass correction of event {incident} (event {incident + 1}): loss of {CODE} "
        "500 µg → 200 µg.\n"
    )
