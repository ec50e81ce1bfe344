"""Sweep s22 (compliance officer): a custody report `--as-of` a moment before its record existed.

Found: `report custody --loan L-2025-Osaka --as-of 2020-01-01` said "--loan 'L-2025-Osaka': no
such loan; see 'sampleloans loans list' (in the ledger up to event 0)": the list it pointed to
shows the loan, which was simply not recorded yet at that moment. Now the refusal says so, and
names the moment and how much of the ledger there was by then (exit 2 as before, nothing
written). A researcher still gets one answer for another institution's loan, missing or not.
"""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from sampleloans.errors import NoSuchRecord, NotYetRecorded
from tests.conftest import COMPLIANCE, fingerprint

NOW = "2026-06-15T10:00:00Z"
OSAKA_PI = "terada@osaka-u.example"


def report(ledger: Path, who: str, *args: str) -> tuple[int, str, str]:
    """`report custody … --as-of` as `who`: the exit code, stdout and stderr."""
    env = {"SAMPLELOANS_DB": str(ledger), "SAMPLELOANS_NOW": NOW, "COLUMNS": "200"}
    result = CliRunner().invoke(app, ["--as", who, "report", "custody", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    "option, key",
    [("--loan", "L-2025-Osaka"), ("--sample", "CE5C0000YJYX061"), ("--institution", "Osaka")],
)
def test_a_record_not_yet_recorded_at_the_moment_is_said_so(
    ledger: Path, tmp_path: Path, option: str, key: str
) -> None:
    out = tmp_path / "custody.pdf"
    before = fingerprint(ledger)
    args = (option, key, "--as-of", "2020-01-01T00:00:00Z", "--out", str(out))
    code, stdout, stderr = report(ledger, COMPLIANCE, *args)
    assert code == 2, stdout + stderr
    assert stderr.startswith(
        f"Error: {option} '{key}': not recorded yet by 2020-01-01 00:00 UTC, the --as-of moment "
        "(the ledger then held 0 events); give --as-of from "
    )  # the moment it names is checked in test_sweep_s38_users
    assert "no such" not in stderr
    assert not out.exists() and fingerprint(ledger) == before


def test_the_moment_just_before_the_loan_names_how_much_ledger_there_was(
    ledger: Path, tmp_path: Path
) -> None:
    """Event 64 requested Osaka's loan (2025-04-15 10:00): an hour before, 61 events."""
    args = ("--loan", "L-2025-Osaka", "--as-of", "2025-04-15T09:00:00Z", "--out", "x.pdf")
    code, _, stderr = report(ledger, COMPLIANCE, *args)
    assert code == 2
    assert "not recorded yet by 2025-04-15 09:00 UTC" in stderr
    assert "(the ledger then held 61 events)" in stderr


def test_a_researcher_gets_it_for_their_own_loan_and_one_answer_for_anothers(
    ledger: Path, tmp_path: Path
) -> None:
    early = ("--as-of", "2020-01-01T00:00:00Z", "--out", str(tmp_path / "c.pdf"))
    code, _, own = report(ledger, OSAKA_PI, "--loan", "L-2025-Osaka", *early)
    assert code == 2 and "--loan 'L-2025-Osaka': not recorded yet by" in own
    for other in ("L-2025-OU", "L-NONE"):  # another institution's loan, and a missing one
        code, _, stderr = report(ledger, OSAKA_PI, "--loan", other, *early)
        assert code == 2
        assert stderr == (
            f"Error: --loan '{other}': no such loan among the records you may read; see "
            "'sampleloans loans list'\n"
        )


def test_the_refusal_is_led_by_the_option_it_was_typed_in() -> None:
    """The service's error, like every missing record, takes the option the front end knows."""
    error = NotYetRecorded("loan", "L-1", "by 2020-01-01 00:00 UTC")
    assert isinstance(error, NoSuchRecord)
    assert str(error) == "loan 'L-1': not recorded yet by 2020-01-01 00:00 UTC"
    assert str(error.typed_as("--loan")) == "--loan 'L-1': not recorded yet by 2020-01-01 00:00 UTC"
