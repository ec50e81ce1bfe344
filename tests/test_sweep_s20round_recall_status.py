"""Sweep s20-round: a PI's `status` says when a loan was recalled.

SUPARCO's PI ran `status` after the lender recalled their loan and read "due 2025-07-01 (OVERDUE
by 9 days)" for a loan lent for six months until November: nothing said the date had been brought
forward, only `loans show` did. Now the due line ends "; recalled 2025-06-02 08:00 UTC", and
`status --json` carries `recalled_at` (null for a loan never recalled).
"""

import json

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import CURATOR, demo_env

OU_PI = "anand@open.example"
RECALLED = "2026-04-29T10:00:00Z"


@pytest.fixture(scope="module")
def recalled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo ledger with the OU loan recalled, due back 2026-05-01."""
    env = {**demo_env(tmp_path_factory, CURATOR), "SAMPLELOANS_NOW": RECALLED}
    args = ["loans", "recall", "L-2025-OU", "--due", "2026-05-01T08:00:00Z", "--reason", "review"]
    done = CliRunner().invoke(app, args, env=env)
    assert done.exit_code == 0, done.stderr
    return {**env, "SAMPLELOANS_USER": OU_PI, "COLUMNS": "140"}


def test_status_says_the_loan_was_recalled(recalled: dict[str, str]) -> None:
    """The due line names the recall; a loan never recalled says nothing of one."""
    result = CliRunner().invoke(app, ["status"], env=recalled)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    due = lines[lines.index(next(x for x in lines if x.startswith("Loan L-2025-OU "))) + 1]
    assert due.endswith("due 2026-05-01 08:00 UTC (2 days left); recalled 2026-04-29 10:00 UTC")
    others = [x for x in lines if "recalled" in x]
    assert others == [due]


def test_status_json_carries_recalled_at(recalled: dict[str, str]) -> None:
    """`recalled_at`: the recall's time, or null."""
    result = CliRunner().invoke(app, ["status", "--json"], env=recalled)
    assert result.exit_code == 0, result.stderr
    loans = {loan["number"]: loan for loan in json.loads(result.stdout)["loans"]}
    assert loans["L-2025-OU"]["recalled_at"] == RECALLED
    assert all(loan["recalled_at"] is None for n, loan in loans.items() if n != "L-2025-OU")
