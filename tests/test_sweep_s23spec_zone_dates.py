"""README: "a zone name — `UTC` as times are shown, `CET`, `Europe/Paris` — is refused, naming
the time to type with `Z` or an offset", for every time option. A date alone followed by a zone
(`2025-04-24 UTC`, as a report prints a date, with the zone a reader adds) was refused with
dateutil's own words ("Expected 2 digits, got 'UT'"), naming neither the zone nor what to type."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from sampleloans.dates import parse_datetime
from sampleloans.errors import InvalidInput
from tests.conftest import CURATOR


@pytest.mark.parametrize(
    ("typed", "zone", "instead"),
    [
        ("2025-04-24 UTC", "UTC", "2025-04-24T00:00Z"),
        ("2025-04-24 GMT", "GMT", "2025-04-24T00:00Z"),
        ("2025-04-24 CET", "CET", "2025-04-24T00:00+01:00"),
        ("2025-04-24 Europe/Paris", "Europe/Paris", "2025-04-24T00:00+01:00"),
    ],
)
def test_a_date_with_a_zone_name_says_what_to_type(typed: str, zone: str, instead: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_datetime(typed, "--at")
    message = str(refused.value)
    assert message.startswith(f"--at: '{typed}' names the time zone '{zone}'"), message
    assert instead in message and "Expected" not in message


def test_through_the_cli_one_line_exit_2(ledger: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["--as", CURATOR, "custody", "history", "--loan", "L-2025-OU", "--until", "2025-04-24 UTC"],
        env={"SAMPLELOANS_DB": str(ledger), "SAMPLELOANS_NOW": "2026-04-28T12:00:00Z"},
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --until: '2025-04-24 UTC' names the time zone 'UTC'")
    assert len(result.stderr.splitlines()) == 1
