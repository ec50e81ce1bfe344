"""Sweep "domain rules and mass accounting": deactivated people take no part in a hand-over.

Naming a deactivated person with `--received-by`/`--released-by` is refused; the same person
taken by default (the loan's PI receives a shipment and releases its return) must be refused
too, naming the option that records who really did it.
"""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.cli_steps import ok, refused, signed_ou_agreement
from tests.conftest import OU_PI

pytestmark = pytest.mark.usefixtures("cli_env", "engine")

CODE = "CE5C0000YJYX070"  # 4.8 mg in the demo catalogue
COLLEAGUE = "Dr R. Colleague"  # not registered: a name


def shipped_then_pi_leaves(runner: CliRunner) -> None:
    """L-1 of CODE to the OU, shipped; then its PI is deactivated."""
    signed_ou_agreement(runner)
    ok(runner, "loans", "request", "L-1", "--agreement", "AG-OU", "--pi", OU_PI, "--sample", CODE)
    ok(runner, "loans", "approve", "L-1")
    ok(runner, "loans", "issue", "L-1")
    ok(runner, "loans", "ship", "L-1", "--container", "N2 box", "--seal", "S-1")
    ok(runner, "people", "deactivate", OU_PI, "--reason", "left the university")


RECEIVE = ("loans", "receive", "L-1", "--seal-intact", "--condition", "pristine")
RETURN = ("loans", "return", "L-1", "--container", "N2 box", "--seal", "R-1")


def test_a_deactivated_pi_is_not_the_default_receiver(runner: CliRunner, db_path: Path) -> None:
    shipped_then_pi_leaves(runner)
    named = refused(runner, db_path, *RECEIVE, "--received-by", OU_PI)
    assert "deactivated" in named
    by_default = refused(runner, db_path, *RECEIVE)
    assert OU_PI in by_default and "deactivated" in by_default, by_default
    assert "--received-by" in by_default, by_default
    ok(runner, *RECEIVE, "--received-by", COLLEAGUE)
    history = ok(runner, "custody", "history", "--loan", "L-1", "--kind", "loan.received", "--json")
    assert COLLEAGUE in history
    ok(runner, "verify")


def test_a_deactivated_pi_is_not_the_default_releaser_of_a_return(
    runner: CliRunner, db_path: Path
) -> None:
    shipped_then_pi_leaves(runner)
    ok(runner, *RECEIVE, "--received-by", COLLEAGUE)
    message = refused(runner, db_path, *RETURN)
    assert OU_PI in message and "--released-by" in message, message
    ok(runner, *RETURN, "--released-by", COLLEAGUE)
    ok(runner, "verify")
