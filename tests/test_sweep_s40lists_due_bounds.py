"""`loans list --due-before/--due-after` compared the stored due time as text: a loan issued on a
real clock falls due at a time with a fraction ('…T10:00:00.400000Z'), which sorts before
'…T10:00:00Z'. So a loan due at 10:00:00.4 was listed by `--due-before …T10:00:00Z` and left
out by `--due-after …T10:00:00Z`, both strict bounds it does not meet or meets. The bounds now
compare both times padded to one width (`models.time_order_key`, as `custody history --since`
already did)."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import CURATOR, demo_env

README = Path(__file__).resolve().parent.parent / "README.md"

ISSUED_AT = "2026-04-28T10:00:00.400000Z"
"""The clock when L-2025-Brown is issued: its one-year loan falls due at 2027-04-28 10:00:00.4."""
DUE_SECOND = "2027-04-28T10:00:00Z"
"""The whole second L-2025-Brown falls due in, 0.4 s before it is due."""


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo with L-2025-Brown issued at ISSUED_AT, read by its curator."""
    env = {**demo_env(tmp_path_factory, CURATOR), "SAMPLELOANS_NOW": ISSUED_AT}
    for args in (
        ["agreements", "sign", "AG-2025-Brown", "--signed-by", "Brown provost"],
        ["loans", "issue", "L-2025-Brown"],
    ):
        done = CliRunner().invoke(app, args, env=env)
        assert done.exit_code == 0, done.stderr
    return env


def _listed(env: dict[str, str], *bounds: str) -> list[str]:
    """The loan numbers `loans list --json` lists within the bounds."""
    done = CliRunner().invoke(app, ["loans", "list", *bounds, "--json"], env=env)
    assert done.exit_code == 0, done.stderr
    return [row["number"] for row in json.loads(done.stdout)]


def test_the_loan_is_due_after_its_whole_second(env: dict[str, str]) -> None:
    """`--json` gives the due time to the whole second; a bound one second on lists it."""
    done = CliRunner().invoke(app, ["loans", "show", "L-2025-Brown", "--json"], env=env)
    assert json.loads(done.stdout)["due_at"] == "2027-04-28T10:00:00Z", done.stdout
    assert "L-2025-Brown" in _listed(env, "--due-before", "2027-04-28T10:00:01Z")


def test_due_before_the_second_leaves_it_out(env: dict[str, str]) -> None:
    """Due at 10:00:00.4, the loan is not due strictly before 10:00:00."""
    assert "L-2025-Brown" not in _listed(env, "--due-before", DUE_SECOND)
    assert "L-2025-Brown" not in _listed(env, "--due-before", "2027-04-28T10:00:00.4Z")
    assert "L-2025-Brown" in _listed(env, "--due-before", "2027-04-28T10:00:00.400001Z")


def test_due_after_the_second_lists_it(env: dict[str, str]) -> None:
    """Due at 10:00:00.4, the loan is due strictly after 10:00:00, and not after 10:00:00.4."""
    assert _listed(env, "--due-after", DUE_SECOND) == ["L-2025-Brown"]
    assert _listed(env, "--due-after", "2027-04-28T15:30:00+05:30") == ["L-2025-Brown"]
    assert _listed(env, "--due-after", "2027-04-28T10:00:00.4Z") == []
    assert "falls due after `--due-after …T10:00:00Z`, though listed as due" in README.read_text()


def test_csv_and_table_follow_the_same_bound(env: dict[str, str]) -> None:
    """The CSV and the table answer the bound as --json does."""
    for fmt in (["--csv"], []):
        done = CliRunner().invoke(
            app, ["loans", "list", "--due-after", DUE_SECOND, *fmt], env={**env, "COLUMNS": "200"}
        )
        assert done.exit_code == 0, done.stderr
        assert "L-2025-Brown" in done.stdout and "L-2025-OU" not in done.stdout, done.stdout


def test_postgresql_answers_the_bounds_alike(demo_url: str) -> None:
    """On PostgreSQL the stored due time is the same text, and the bounds the same answer."""
    env = {"SAMPLELOANS_DB": demo_url, "SAMPLELOANS_USER": CURATOR, "SAMPLELOANS_NOW": ISSUED_AT}
    for args in (
        ["agreements", "sign", "AG-2025-Brown", "--signed-by", "Brown provost"],
        ["loans", "issue", "L-2025-Brown"],
    ):
        done = CliRunner().invoke(app, args, env=env)
        assert done.exit_code == 0, done.stderr
    assert "L-2025-Brown" not in _listed(env, "--due-before", DUE_SECOND)
    assert _listed(env, "--due-after", DUE_SECOND) == ["L-2025-Brown"]
