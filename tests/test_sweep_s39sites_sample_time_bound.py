"""Sweep s39 (several sites): a researcher's back-dated analysis names the time it accepts.

An analysis (or a borrower's split, a return, a correction) of some samples of a loan must
follow the last event of the loan as a whole and the previous event of each of those samples.
The loan was checked first: dated before both, the refusal named the loan's bound ("before the
previous event of loan L-2025-OU as a whole (2026-04-20T10:00:00Z) … give a time from
2026-04-20T10:00:00Z on"), and the time it named was then refused again for the sample's later
event. The refusal now names the later of the two, a time that is then accepted, on SQLite and
on PostgreSQL alike.
"""

import pytest
from typer.testing import CliRunner, Result

from sampleloans.cli import app
from tests.conftest import DEMO_NOW, OU_PI, OU_RETURNED, demo_env

LOAN = "L-2025-OU"
SAMPLE_EVENT = "2026-04-25T10:00:00Z"  # after the loan's last whole-loan event (2026-04-20)


def _consume(env: dict[str, str], at: str) -> Result:
    """The OU researcher's analysis of 1 mg of their sample, dated `at`."""
    args = ["loans", "consume", LOAN, "--sample", OU_RETURNED, "--technique", "EPMA",
            "--mass", "1 mg", "--non-destructive", "--at", at]  # fmt: skip
    return CliRunner().invoke(app, args, env={**env, "COLUMNS": "200"})


def _the_bound_is_the_samples(env: dict[str, str]) -> None:
    """After an analysis later than the loan's last whole-loan event, one dated before both is
    refused naming the sample's time; typed as named, it is accepted."""
    first = _consume(env, SAMPLE_EVENT)
    assert first.exit_code == 0, first.output
    refused = _consume(env, "2026-03-01T00:00:00Z")
    assert refused.exit_code == 1, refused.output
    assert refused.stderr == (
        f"Error: --at: 2026-03-01T00:00:00Z is before the previous event of sample {OU_RETURNED} "
        f"({SAMPLE_EVENT}); events of a record are kept in time order: give a time from "
        f"{SAMPLE_EVENT} on\n"
    )
    accepted = _consume(env, SAMPLE_EVENT)
    assert accepted.exit_code == 0, accepted.output


def test_on_sqlite(tmp_path_factory: pytest.TempPathFactory) -> None:
    _the_bound_is_the_samples(demo_env(tmp_path_factory, OU_PI))


def test_on_postgresql(demo_url: str) -> None:
    env = {"SAMPLELOANS_DB": demo_url, "SAMPLELOANS_USER": OU_PI, "SAMPLELOANS_NOW": DEMO_NOW}
    _the_bound_is_the_samples(env)
