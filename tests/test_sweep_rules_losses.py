"""Sweep "domain rules and mass accounting": a sample whose whole mass is lost is lost.

Wherever the last microgram goes (in the vault, held by the borrower, on its way out or back),
the sample's custody state says where its mass went, not "vault": nothing of it is in the
vault, and `samples list --state vault` must not list it. Finding lost mass again (a correction
of the loss) brings it back where it was.
"""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from sampleloans.ledger import checks
from tests.cli_steps import ok, refused, signed_ou_agreement
from tests.conftest import OU_PI

pytestmark = pytest.mark.usefixtures("cli_env", "engine")

CODE = "CE5C0000YJYX070"  # 4.8 mg agglutinate in the demo catalogue
OTHER = "CE5C0000YJYX061"  # 12.4 mg breccia


def sample(runner: CliRunner, code: str = CODE) -> dict:
    """`samples show --json` parsed."""
    return json.loads(ok(runner, "samples", "show", code, "--json"))


def listed(runner: CliRunner, state: str) -> set[str]:
    """The codes `samples list --state STATE` lists."""
    rows = json.loads(ok(runner, "samples", "list", "--state", state, "--json"))
    return {row["code"] for row in rows}


def loan(runner: CliRunner, number: str = "L-1") -> dict:
    """`loans show --json` parsed."""
    return json.loads(ok(runner, "loans", "show", number, "--json"))


def report_loss(runner: CliRunner, mass: str, code: str = CODE) -> int:
    """A loss incident, resolved at once; returns the incident's seq."""
    out = ok(
        runner, "incidents", "report", "--sample", code, "--kind", "loss",
        "--description", "vial cracked", "--mass-lost", mass,
    )  # fmt: skip
    seq = int(out.split()[1])
    ok(runner, "incidents", "resolve", str(seq), "--resolution", "written off")
    return seq


def lend(runner: CliRunner, *codes: str, number: str = "L-1", received: bool = True) -> None:
    """An OU agreement, and loan `number` of `codes` issued, shipped (and received)."""
    if "AG-OU" not in ok(runner, "agreements", "list"):
        signed_ou_agreement(runner)
    samples = [arg for code in codes for arg in ("--sample", code)]
    ok(runner, "loans", "request", number, "--agreement", "AG-OU", "--pi", OU_PI, *samples)
    ok(runner, "loans", "approve", number)
    ok(runner, "loans", "issue", number)
    ok(runner, "loans", "ship", number, "--container", "N2 box", "--seal", "S-1")
    if received:
        ok(runner, "loans", "receive", number, "--seal-intact", "--condition", "pristine")


# --- in the vault -------------------------------------------------------------------------------


def test_part_then_the_rest_lost_in_the_vault_leaves_a_lost_sample(
    runner: CliRunner, db_path: Path
) -> None:
    report_loss(runner, "1.8 mg")
    assert sample(runner)["custody_state"] == "vault"
    report_loss(runner, "3 mg")  # the remaining mass
    shown = sample(runner)
    assert shown["custody_state"] == "lost", shown
    assert (shown["vault_ug"], shown["lost_ug"]) == (0, 4_800)
    assert CODE in listed(runner, "lost") and CODE not in listed(runner, "vault")
    message = refused(runner, db_path, "samples", "move", CODE, "--location", "NAOC N2 cabinet C")
    assert "lost" in message, message
    ok(runner, "verify")


def test_a_lost_sample_found_again_is_back_in_the_vault(runner: CliRunner) -> None:
    seq = report_loss(runner, "4.8 mg")
    assert sample(runner)["custody_state"] == "lost"
    ok(runner, "custody", "correct", str(seq), "--mass", "0.5 mg", "--reason", "found in a drawer")
    shown = sample(runner)
    assert shown["custody_state"] == "vault", shown
    assert (shown["vault_ug"], shown["lost_ug"]) == (4_300, 500)
    lend(runner, CODE)  # it can be lent again
    ok(runner, "verify")


def test_a_sample_split_whole_into_children_is_split(runner: CliRunner) -> None:
    children = ("--child", "-01=4mg", "--child", "-02=0.7mg")
    ok(runner, "samples", "split", CODE, *children, "--loss", "0.1mg")
    shown = sample(runner)
    assert shown["custody_state"] == "split", shown
    assert CODE not in listed(runner, "vault")
    assert {f"{CODE}-01", f"{CODE}-02"} <= listed(runner, "vault")
    ok(runner, "verify")


# --- on a loan ----------------------------------------------------------------------------------


def test_part_then_the_rest_lost_by_the_borrower_leaves_a_lost_sample(runner: CliRunner) -> None:
    lend(runner, CODE)
    report_loss(runner, "1 mg")
    report_loss(runner, "3.8 mg")
    assert sample(runner)["custody_state"] == "lost"
    assert loan(runner)["items"][0]["custody_state"] == "lost"
    ok(runner, "loans", "settle", "L-1", "--obligations", "loss reported")
    ok(runner, "verify")


def test_a_sample_lost_whole_on_its_way_back_does_not_come_back_to_the_vault(
    runner: CliRunner,
) -> None:
    lend(runner, CODE, OTHER)
    ok(runner, "loans", "return", "L-1", "--container", "N2 box", "--seal", "R-1")
    report_loss(runner, "4.8 mg")  # the vial never arrived
    out = ok(
        runner, "loans", "accept-return", "L-1", "--seal-intact", "--condition", "unchanged",
        "--weighed", f"{CODE}=0mg", "--weighed", f"{OTHER}=12.4mg",
    )  # fmt: skip
    assert "returned" in out
    shown = sample(runner)
    assert shown["custody_state"] == "lost", shown
    assert CODE not in listed(runner, "vault")
    states = {i["sample_code"]: i["custody_state"] for i in loan(runner)["items"]}
    assert states == {CODE: "lost", OTHER: "returned"}
    assert sample(runner, OTHER)["custody_state"] == "vault"
    ok(runner, "loans", "settle", "L-1", "--obligations", "loss reported")
    ok(runner, "verify")


def test_a_loan_whose_only_sample_was_lost_on_its_way_back_can_be_settled(
    runner: CliRunner,
) -> None:
    lend(runner, CODE)
    ok(runner, "loans", "return", "L-1", "--container", "N2 box", "--seal", "R-1")
    report_loss(runner, "4.8 mg")
    ok(
        runner, "loans", "accept-return", "L-1", "--seal-broken", "--condition", "vial missing",
        "--weighed", f"{CODE}=0mg",
    )  # fmt: skip
    assert sample(runner)["custody_state"] == "lost"
    assert loan(runner)["status"] == "returned"
    ok(runner, "loans", "settle", "L-1", "--obligations", "loss reported")
    ok(runner, "verify")


def test_a_sample_lost_whole_on_its_way_out_is_not_held_by_the_borrower(runner: CliRunner) -> None:
    lend(runner, CODE, received=False)
    report_loss(runner, "4.8 mg")  # lost by the courier
    ok(runner, "loans", "receive", "L-1", "--seal-broken", "--condition", "vial missing")
    assert sample(runner)["custody_state"] == "lost"
    shown = loan(runner)
    assert shown["items"][0]["custody_state"] == "lost"
    assert shown["status"] == "received"
    ok(runner, "loans", "settle", "L-1", "--obligations", "loss reported")
    ok(runner, "verify")


def test_a_sample_lost_on_a_loan_is_refused_as_lost_not_as_on_loan(
    runner: CliRunner, db_path: Path
) -> None:
    lend(runner, CODE)
    report_loss(runner, "4.8 mg")
    message = refused(
        runner, db_path, "loans", "request", "L-2", "--agreement", "AG-OU", "--pi", OU_PI,
        "--sample", CODE,
    )  # fmt: skip
    assert f"{CODE} is lost" in message, message


def test_the_custody_check_names_a_sample_in_the_vault_with_nothing_there():
    row = SimpleNamespace(
        code="S1", custody_state="vault", loan_number=None, vault_ug=0, on_loan_ug=0
    )
    (violation,) = checks.check_custody(checks.Snapshot(samples=[row]))
    assert violation.message == "sample S1: in the vault with nothing of it there (0 µg)"
    lost = SimpleNamespace(**{**vars(row), "custody_state": "lost"})
    assert checks.check_custody(checks.Snapshot(samples=[lost])) == []
