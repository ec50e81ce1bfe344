"""Sweep "the curator's vault": moving a sample to where it already is is refused.

`samples move CODE --location` naming the sample's own location recorded a `sample_moved`
event that moved nothing (a hash-chained, never-deleted entry in every custody history). It is
now a rule (exit 1): one line naming the location, nothing written, on SQLite and PostgreSQL
alike (one service).
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import demo_copy

CURATOR = "curator@naoc.example"
SAMPLE = "CE5C0400YJFM00505"  # in the vault, in "NAOC N2 cabinet A"
WHERE = "NAOC N2 cabinet A"
NOW = "2026-11-30T12:00:00Z"


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[str]]:
    """The demo ledger on each engine, as `--db` options."""
    if request.param == "sqlite":
        demo_copy(tmp_path / "demo")
        yield ["--db", str(tmp_path / "demo" / "ledger.db")]
    else:
        yield ["--db", request.getfixturevalue("demo_url")]


def invoke(db: list[str], *args: str) -> tuple[int, str, str]:
    """The CLI as the curator: exit code, stdout, stderr."""
    env = {"SAMPLELOANS_USER": CURATOR, "SAMPLELOANS_NOW": NOW, "COLUMNS": "200", "NO_COLOR": "1"}
    result = CliRunner().invoke(app, [*db, *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def head(db: list[str]) -> str:
    """The ledger's head line, as `verify` prints it."""
    code, out, err = invoke(db, "verify")
    assert code == 0, err
    return out


@pytest.mark.parametrize("location", [WHERE, f"  {WHERE} "], ids=["same", "padded"])
def test_moving_a_sample_where_it_is_is_refused(ledger: list[str], location: str) -> None:
    """Exit 1, one `Error:` line naming the location, no event recorded."""
    before = head(ledger)
    code, out, err = invoke(ledger, "samples", "move", SAMPLE, "--location", location)
    assert code == 1, (out, err)
    assert err.count("\n") == 1 and err.startswith("Error: ")
    assert f"'{WHERE}'" in err and SAMPLE in err
    assert head(ledger) == before


def test_moving_it_elsewhere_is_still_recorded(ledger: list[str]) -> None:
    """The rule refuses only a move to the same place."""
    before = head(ledger)
    code, out, err = invoke(ledger, "samples", "move", SAMPLE, "--location", "NAOC N2 cabinet B")
    assert code == 0, err
    assert f"Moved {SAMPLE} to NAOC N2 cabinet B" in out
    assert head(ledger) != before
