"""Sweep s20-round: `loans return` of a loan with nothing left says what is due instead.

The OU's PI used up every microgram of their loan in analyses; the curator typed `loans return
L-2025-OU …` and read "loan L-2025-OU has no samples to ship": true, but it neither said why nor
what comes next. Now: "has no sample held to send back: every microgram was consumed, split,
transferred or lost; settle it ('loans settle L-2025-OU --obligations …')", exit 1, nothing
written.
"""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import CURATOR, demo_env, fingerprint

HELD = {"CE5C0200YJFM00112": "19.5 mg", "CE5C0300YJFM00307": "20 mg", "CE5C0500YJFM00415": "20 mg"}


@pytest.fixture(scope="module")
def used_up(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo ledger with every microgram of L-2025-OU consumed."""
    env = demo_env(tmp_path_factory, CURATOR)
    for code, mass in HELD.items():
        args = ["loans", "consume", "L-2025-OU", "--sample", code, "--technique", "EPMA"]
        done = CliRunner().invoke(app, [*args, "--mass", mass, "--non-destructive"], env=env)
        assert done.exit_code == 0, done.stderr
    return env


def test_a_used_up_loan_is_settled_not_returned(used_up: dict[str, str]) -> None:
    """One line naming why and the next step; exit 1; the ledger unchanged."""
    ledger = Path(used_up["SAMPLELOANS_DB"])
    before = fingerprint(ledger)
    args = ["loans", "return", "L-2025-OU", "--container", "box", "--seal", "S1"]
    result = CliRunner().invoke(app, args, env=used_up)
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: loan L-2025-OU has no sample held to send back: every microgram was consumed, "
        "split, transferred or lost; settle it ('loans settle L-2025-OU --obligations …')\n"
    )
    assert fingerprint(ledger) == before
