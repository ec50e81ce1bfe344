"""`--csv` wrote a time recorded off the whole second with its microseconds
(`2026-12-03T15:00:00.250000Z` in `incidents list`'s `reported (UTC)`, `loans list`'s
`due (UTC)`), where the README promises `2026-04-25T08:00:00Z` and `--json` and every table
show whole seconds; now a CSV time is cut to the second, as `--json`'s is."""

import csv
import io

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import CURATOR, demo_env

# a clock off the whole second, as the system clock always is
NOW = "2026-05-01T10:00:00.250000Z"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo with an incident reported and L-2025-Brown issued, both at NOW."""
    env = demo_env(tmp_path_factory, CURATOR, now=NOW)
    for args in (
        ["incidents", "report", "--sample", "CE5C0000YJYX061", "--kind", "damage"],
        ["agreements", "sign", "AG-2025-Brown", "--signed-by", "Brown University"],
        ["loans", "issue", "L-2025-Brown"],
    ):
        extra = ["--description", "vial cracked"] if args[0] == "incidents" else []
        done = CliRunner().invoke(app, [*args, *extra], env=env)
        assert done.exit_code == 0, (args, done.stderr)
    return env


def _rows(env: dict[str, str], *args: str) -> list[dict[str, str]]:
    """The rows `args --csv` writes, keyed by heading."""
    done = CliRunner().invoke(app, [*args, "--csv"], env={**env, "COLUMNS": "80"})
    assert done.exit_code == 0, done.stderr
    return list(csv.DictReader(io.StringIO(done.stdout)))


def test_incident_reported_time_is_whole_seconds(env: dict[str, str]) -> None:
    """`incidents list --csv` writes when it was reported to the second."""
    rows = _rows(env, "incidents", "list")
    assert [row["reported (UTC)"] for row in rows] == ["2026-05-01T10:00:00Z"]


def test_loan_due_time_is_whole_seconds(env: dict[str, str]) -> None:
    """`loans list --csv` writes a due time computed from a sub-second issue to the second."""
    rows = {row["loan"]: row for row in _rows(env, "loans", "list")}
    assert rows["L-2025-Brown"]["due (UTC)"] == "2027-05-01T10:00:00Z"
