"""Sweep "domain rules and mass accounting": mass corrections after the mass was taken.

A permanent transfer (`samples transfer`) takes a sample's whole vault mass as it stands, as an
issue or a split does: from then on the recorded masses that made up that vault mass are fixed.
"""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.cli_steps import ok, refused

pytestmark = pytest.mark.usefixtures("cli_env", "engine")

CODE = "CE5C0000YJYX070"  # 4.8 mg agglutinate in the demo catalogue, in the vault
PARENT = "CE5C0100YJFM00201"  # 1 g soil in the vault


def seq_of(runner: CliRunner, code: str, kind: str) -> int:
    """The seq of the last event of `kind` in a sample's history."""
    events = json.loads(ok(runner, "custody", "history", "--sample", code, "--json"))["events"]
    return [e["seq"] for e in events if e["kind"] == kind][-1]


def sample_json(runner: CliRunner, code: str) -> dict:
    """`samples show --json` parsed."""
    return json.loads(ok(runner, "samples", "show", code, "--json"))


def transferred(runner: CliRunner, code: str) -> None:
    """Give `code` to the MNHN for good."""
    ok(runner, "samples", "transfer", code, "--to", "MNHN", "--reference", "gift 2026")


def test_a_registration_cannot_be_corrected_once_the_sample_was_given_away(
    runner: CliRunner, db_path: Path
) -> None:
    registered = seq_of(runner, CODE, "sample.registered")
    transferred(runner, CODE)
    for new_mass in ("5.2 mg", "4 mg"):
        message = refused(
            runner,
            db_path,
            "custody",
            "correct",
            str(registered),
            "--mass",
            new_mass,
            "--reason",
            "reweighed",
        )
        assert "transferred" in message and CODE in message, message
    shown = sample_json(runner, CODE)
    assert shown["custody_state"] == "transferred"
    assert shown["vault_ug"] == 0 and shown["transferred_ug"] == 4_800


def test_a_split_child_cannot_be_corrected_once_it_was_given_away(
    runner: CliRunner, db_path: Path
) -> None:
    ok(runner, "samples", "split", PARENT, "--child", "-T1=10mg")
    split = seq_of(runner, f"{PARENT}-T1", "sample.split")
    transferred(runner, f"{PARENT}-T1")
    message = refused(
        runner, db_path, "custody", "correct", str(split), "--mass", "12 mg", "--reason", "x"
    )
    assert "transferred" in message, message
    assert sample_json(runner, f"{PARENT}-T1")["vault_ug"] == 0


def test_a_vault_loss_cannot_be_corrected_once_the_rest_was_given_away(
    runner: CliRunner, db_path: Path
) -> None:
    ok(
        runner,
        "incidents",
        "report",
        "--sample",
        CODE,
        "--kind",
        "loss",
        "--description",
        "spilled",
        "--mass-lost",
        "0.8 mg",
    )
    loss = seq_of(runner, CODE, "incident.reported")
    ok(runner, "incidents", "resolve", str(loss), "--resolution", "cleaned up")
    transferred(runner, CODE)
    message = refused(
        runner, db_path, "custody", "correct", str(loss), "--mass", "0.5 mg", "--reason", "x"
    )
    assert "transferred" in message, message
    assert sample_json(runner, CODE)["vault_ug"] == 0
    ok(runner, "verify")


def test_a_split_child_cannot_be_corrected_once_its_parent_was_given_away(
    runner: CliRunner, db_path: Path
) -> None:
    ok(runner, "samples", "split", CODE, "--child", "-T1=1mg")
    split = seq_of(runner, f"{CODE}-T1", "sample.split")
    transferred(runner, CODE)  # the 3.8 mg left in the vault
    message = refused(
        runner, db_path, "custody", "correct", str(split), "--mass", "0.5 mg", "--reason", "x"
    )
    assert "transferred" in message and CODE in message, message
    assert sample_json(runner, CODE)["vault_ug"] == 0
