"""Sweep "the whole 2025 round, as each user": the due dates a curator is told.

A loan is due at an instant (08:00 UTC, or 02:00 UTC for a recall typed in Beijing time), and is
overdue from that instant on; the confirmations of issue, extend and recall and the refusal to
issue while something is overdue said only the day, so the curator was told 'due back
2026-07-01' of a loan overdue at 02:00 UTC that day, while `loans show` said '02:00 UTC'.
"""

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from sampleloans.dates import format_datetime, parse_datetime
from tests.conftest import demo_copy

CURATOR = "curator@naoc.example"


@pytest.fixture
def demo(tmp_path: Path) -> dict[str, str]:
    """A fresh demo ledger (the 2025 round) and the environment to act on it as the curator."""
    demo_copy(tmp_path / "demo")
    return {
        "SAMPLELOANS_DB": str(tmp_path / "demo" / "ledger.db"),
        "SAMPLELOANS_USER": CURATOR,
        "SAMPLELOANS_NOW": "2026-04-28T10:00:00Z",
        "NO_COLOR": "1",
        "COLUMNS": "120",
    }


def cli(env: dict[str, str], *args: str, code: int = 0) -> Any:
    """Invoke the CLI; check the exit code."""
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == code, (args, result.stdout, result.stderr)
    return result


def shown_due(env: dict[str, str], number: str) -> str:
    """The due instant of a loan as `loans show` gives it, in the words a person reads."""
    data = json.loads(cli(env, "loans", "show", number, "--json").stdout)
    return format_datetime(parse_datetime(data["due_at"]))


def test_a_recall_says_the_instant_the_loan_is_due_back(demo: dict[str, str]) -> None:
    """A recall typed in Beijing time is confirmed with its UTC instant, as loans show says."""
    args = ["loans", "recall", "L-2025-UoC", "--due", "2026-07-01T10:00:00+08:00"]
    out = cli(demo, *args, "--reason", "agreement review").stdout
    assert shown_due(demo, "L-2025-UoC") == "2026-07-01 02:00 UTC"
    assert "due back 2026-07-01 02:00 UTC (event " in out


def test_an_extension_and_an_issue_say_the_instant_they_are_due(demo: dict[str, str]) -> None:
    """extend and issue confirm the due instant, hour and minute, as loans show says."""
    extend = ["loans", "extend", "L-2025-SUPARCO", "--period", "1 month"]
    out = cli(demo, *extend, "--approver", CURATOR, "--reason", "beam time").stdout
    assert f"now due {shown_due(demo, 'L-2025-SUPARCO')} (event " in out
    assert "now due 2026-05-30 08:00 UTC" in out
    request = ["loans", "request", "L-2026-OU-3", "--agreement", "AG-2025-OU"]
    cli(demo, *request, "--pi", "anand@open.example", "--sample", "CE5C0000YJYX070")
    cli(demo, "loans", "approve", "L-2026-OU-3")
    out = cli(demo, "loans", "issue", "L-2026-OU-3").stdout
    assert f"; due {shown_due(demo, 'L-2026-OU-3')} (event " in out
    assert "; due 2027-04-28 10:00 UTC (event " in out


def test_the_refusal_to_issue_names_the_instant_that_was_missed(demo: dict[str, str]) -> None:
    """Osaka's return was due at 08:00 UTC: the refusal to issue more says so."""
    request = ["loans", "request", "L-2026-Osaka-2", "--agreement", "AG-2025-Osaka"]
    cli(demo, *request, "--pi", "terada@osaka-u.example", "--sample", "CE5C0000YJYX070")
    cli(demo, "loans", "approve", "L-2026-Osaka-2")
    refused = cli(demo, "loans", "issue", "L-2026-Osaka-2", code=1).stderr
    assert f"loan L-2025-Osaka was due {shown_due(demo, 'L-2025-Osaka')}" in refused
    assert "2026-04-25 08:00 UTC" in refused
