"""Sweep s21 "the whole round, as each user": a researcher whose loan is not yet issued reads
how long it will be lent for.

Before: `status` said "due —" for a requested or approved loan, though the loan was asked for
a period (`loans show` says "period 1 year"): the PI could not tell when the samples would be
due back. Now it says "due 1 year after issue"; once issued, the due date itself.
"""

import pytest

from tests.conftest import demo_env, run_at_width

BROWN_PI = "pi@brown.example"
"""The demo's Brown loan: approved under a pending agreement, never issued."""


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo ledger (the 2025 round), read as Brown's PI."""
    return demo_env(tmp_path_factory, BROWN_PI)


def test_an_approved_loan_says_its_period_from_issue(demo: dict[str, str]) -> None:
    """The due line of a loan not yet issued names the period it runs from its issue."""
    period = run_at_width(demo, "loans", "show", "L-2025-Brown", columns=200).stdout
    assert "period          1 year" in period  # what it was requested for
    status = run_at_width(demo, "status", columns=200).stdout.splitlines()
    assert status[1] == "  held 0 µg; due 1 year after issue", status


def test_an_issued_loan_still_says_its_due_date(demo: dict[str, str]) -> None:
    """Once issued, the due date and days left, as before."""
    status = run_at_width(demo, "--as", "anand@open.example", "status", columns=200).stdout
    assert "; due 2026-05-05 08:00 UTC (7 days left)" in status.splitlines()[1]
