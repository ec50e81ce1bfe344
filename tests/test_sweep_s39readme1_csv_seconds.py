"""Sweep s39 (README audit): a CSV time cell is ISO 8601 UTC to the whole second,
`2026-04-25T08:00:00Z`, as the README's `--csv` rule and `--json` give it.

Before, a time recorded by a clock with microseconds (every real write) came out with them in
`loans list --csv`'s `ended (UTC)` and `due (UTC)` and `incidents list --csv`'s `reported
(UTC)` (`2026-12-03T15:05:47.130754Z`), while `--json` said `2026-12-03T15:05:47Z`. The clock
here is fixed at a moment with microseconds, so the test does not depend on the real one.
"""

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import CURATOR, demo_copy


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    """A fresh copy of the demo ledger (these tests write to it)."""
    return demo_copy(tmp_path / "demo")


@pytest.fixture
def now() -> datetime:
    """A clock just after the demo's writes, at a moment with microseconds."""
    return (datetime.now(UTC) + timedelta(seconds=2)).replace(microsecond=654_321)


def _run(ledger: Path, now: datetime, *args: str) -> str:
    """Run the CLI as the demo curator at `now`; its stdout (it must succeed)."""
    clock = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    env = {"SAMPLELOANS_DB": str(ledger), "NO_COLOR": "1", "SAMPLELOANS_NOW": clock}
    result = CliRunner().invoke(app, ["--as", CURATOR, *args], env=env, prog_name="sampleloans")
    assert result.exit_code == 0, (args, result.stdout, result.stderr)
    return result.stdout


def _rows(text: str) -> list[dict[str, str]]:
    """CSV text as rows keyed by heading."""
    return list(csv.DictReader(io.StringIO(text)))


def test_a_withdrawn_loans_ended_cell_is_to_the_second(ledger: Path, now: datetime) -> None:
    _run(ledger, now, "loans", "withdraw", "L-2025-SBU", "--reason", "the PI withdrew")
    [row] = _rows(_run(ledger, now, "loans", "list", "--status", "withdrawn", "--csv"))
    second = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert row["ended (UTC)"] == second
    [shown] = json.loads(_run(ledger, now, "loans", "list", "--status", "withdrawn", "--json"))
    assert shown["closed_at"] == second


def test_an_issued_loans_due_cell_is_to_the_second(ledger: Path, now: datetime) -> None:
    _run(ledger, now, "agreements", "sign", "AG-2025-Brown", "--signed-by", "Brown's provost")
    _run(ledger, now, "loans", "issue", "L-2025-Brown")
    [row] = _rows(_run(ledger, now, "loans", "list", "--institution", "Brown", "--csv"))
    [shown] = json.loads(_run(ledger, now, "loans", "list", "--institution", "Brown", "--json"))
    assert row["due (UTC)"] == shown["due_at"]
    assert row["due (UTC)"].endswith(now.strftime("T%H:%M:%SZ"))  # issued now: due at that second


def test_an_incidents_reported_cell_is_to_the_second(ledger: Path, now: datetime) -> None:
    sample = "CE5C0000YJYX048"  # in the NAOC vault
    _run(ledger, now, "incidents", "report", "--sample", sample, "--kind", "damage",
         "--description", "vial cracked")  # fmt: skip
    rows = [
        r for r in _rows(_run(ledger, now, "incidents", "list", "--csv")) if r["sample"] == sample
    ]
    assert [r["reported (UTC)"] for r in rows] == [now.strftime("%Y-%m-%dT%H:%M:%SZ")]
