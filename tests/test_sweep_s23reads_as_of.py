"""Sweep s23 "reads" (2): `--as-of` a moment before the record existed is refused alike.

Before, `custody history --loan L --as-of` a moment before the loan was requested said "No
events match." and an empty replayed state, exit 0, while `report custody --as-of` the same
moment refused with exit 2. Now every command that takes `--as-of` for a loan, a sample or an
institution refuses it in the report's one line, exit 2 (table and `--json` alike).
"""

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import CURATOR, OU_PI, demo_in_a_process, fingerprint

NOW = "2026-06-21T10:00:00Z"
BEFORE = [
    ("--loan", "L-2025-OU", "2020-01-01"),
    ("--sample", "CE5C0000YJYX052", "2020-01-01"),
    ("--institution", "OU", "2020-01-01"),
    # the ledger held 48 events then (the institutions were added), not yet these two
    ("--loan", "L-2025-OU", "2025-01-01"),
    ("--sample", "CE5C0000YJYX052", "2025-01-01"),
]


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo ledger (never written by these tests)."""
    return demo_in_a_process(tmp_path_factory.mktemp("asof") / "demo")


def refused(ledger: Path, actor: str, *args: str) -> str:
    """The one line of a refusal, exit 2, nothing on stdout, no file changed."""
    before = fingerprint(ledger)
    env = {"SAMPLELOANS_DB": str(ledger), "SAMPLELOANS_NOW": NOW}
    result = CliRunner().invoke(app, ["--as", actor, *args], env=env)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stdout == "" and result.stderr.count("\n") == 1, result.stderr
    assert fingerprint(ledger) == before
    return result.stderr


@pytest.mark.parametrize(("option", "key", "moment"), BEFORE)
def test_history_and_report_refuse_a_moment_before_the_record_alike(
    ledger: Path, tmp_path: Path, option: str, key: str, moment: str
) -> None:
    out = tmp_path / "r.pdf"
    report = refused(
        ledger, CURATOR, "report", "custody", option, key, "--as-of", moment, "--out", str(out)
    )
    history = refused(ledger, CURATOR, "custody", "history", option, key, "--as-of", moment)
    as_json = refused(
        ledger, CURATOR, "custody", "history", option, key, "--as-of", moment, "--json"
    )
    assert history == as_json == report
    assert history.startswith(f"Error: {option} '{key}': not recorded yet by {moment} 00:00 UTC")
    assert re.search(r"; give --as-of from \S+Z on$", history.rstrip()), history
    assert not out.exists()


def test_a_researcher_hears_the_same_of_their_own_loan(ledger: Path) -> None:
    args = ("--loan", "L-2025-OU", "--as-of", "2025-01-01")
    theirs = refused(ledger, OU_PI, "custody", "history", *args)
    assert theirs == refused(ledger, CURATOR, "custody", "history", *args)


def test_a_moment_after_the_record_still_lists_its_events(ledger: Path) -> None:
    env = {"SAMPLELOANS_DB": str(ledger), "SAMPLELOANS_NOW": NOW, "COLUMNS": "200"}
    args = ["custody", "history", "--loan", "L-2025-OU", "--as-of", "2025-05-01"]
    result = CliRunner().invoke(app, ["--as", CURATOR, *args], env=env)
    assert result.exit_code == 0, result.stderr
    assert "Loan requested" in result.stdout and "loan L-2025-OU (OU): approved" in result.stdout
