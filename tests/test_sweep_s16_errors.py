"""Sweep s16, error lines: a list filter's bad value names the option the user typed.

`loans list --status nope` and `samples list --state nope` said "--status: …", "--state: …";
`agreements list --status`, `institutions list --kind` and `people list --role` said "status:",
"kind:", "role:", as if no option had been typed.
"""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import demo_env, fingerprint


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo ledger, read as the compliance officer."""
    return demo_env(tmp_path_factory, "compliance@naoc.example")


@pytest.mark.parametrize(
    ("args", "accepted"),
    [
        (["institutions", "list", "--kind"], "lender, curator, borrower, recipient"),
        (["people", "list", "--role"], "curator, compliance-officer, researcher"),
        (["agreements", "list", "--status"], "pending, signed, expired, terminated"),
        (["loans", "list", "--status"], "requested, approved, issued, in-transit"),
        (["samples", "list", "--state"], "vault, on-loan, issued, in-transit"),
    ],
)
def test_a_bad_filter_value_names_its_option(
    demo: dict[str, str], args: list[str], accepted: str
) -> None:
    """One line: the option as typed, the value, what it accepts; exit 2; nothing written."""
    before = fingerprint(Path(demo["SAMPLELOANS_DB"]))
    for fmt in ([], ["--json"], ["--csv"]):
        result = CliRunner().invoke(app, [*args, "nope", *fmt], env=demo)
        assert result.exit_code == 2, result.output
        assert result.stdout == ""
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith(f"Error: {args[-1]}: 'nope' is not one of {accepted}")
    assert fingerprint(Path(demo["SAMPLELOANS_DB"])) == before


@pytest.mark.parametrize(
    ("args", "rows"),
    [
        (["institutions", "list", "--kind", "Recipient"], 2),
        (["people", "list", "--role", "compliance officer"], 1),
        (["agreements", "list", "--status", "SIGNED"], 5),
    ],
)
def test_the_same_filters_still_take_any_case(
    demo: dict[str, str], args: list[str], rows: int
) -> None:
    """A good value in another case or with a space still filters."""
    import json

    result = CliRunner().invoke(app, [*args, "--json"], env=demo)
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)) == rows
