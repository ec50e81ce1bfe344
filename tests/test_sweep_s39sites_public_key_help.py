"""Sweep s39 (several sites): `verify-document --help` on `--public-key`.

The compliance officer's bag says of its reports "check each with … '--public-key KEY.pub' (its
checkpoint)", and README's `verify-document` says the same of a custody, return, overdue or
inventory report, but `--help` said "--public-key KEY.pub  A statement only", so an auditor
holding a report and the lender's key was told they could not check it offline. The help now
says what it checks for each; a report checked so passes, with no ledger.
"""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.cli_steps import checkpoint_signed
from tests.conftest import COMPLIANCE, demo_env


def test_the_help_says_a_report_is_checked_with_the_public_key_too() -> None:
    shown = CliRunner().invoke(app, ["verify-document", "--help"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0
    words = " ".join(shown.stdout.split())
    assert "A statement only" not in words
    assert "--public-key KEY.pub Check the checkpoint a statement or report names" in words
    assert "a report's head event" in words


def test_a_report_checks_with_the_public_key_and_no_ledger(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    env = demo_env(tmp_path_factory, COMPLIANCE)
    folder = tmp_path_factory.mktemp("offline")
    key, _note = checkpoint_signed(env, folder)
    report = folder / "custody.pdf"
    run = CliRunner().invoke
    made = run(app, ["report", "custody", "--loan", "L-2025-OU", "--out", str(report)], env=env)
    assert made.exit_code == 0, made.stderr
    alone = {"SAMPLELOANS_DB": str(folder / "no-ledger.db"), "COLUMNS": "200"}
    checked = run(app, ["verify-document", str(report), "--public-key", f"{key}.pub"], env=alone)
    assert checked.exit_code == 0, checked.output
    assert "its head event is in the ledger the lender signed" in checked.stdout
    assert not Path(alone["SAMPLELOANS_DB"]).exists()
