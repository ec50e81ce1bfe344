"""Sweep s18 (the whole round, as a curator): a time typed with a time-zone name.

Every time the ledger prints reads '2026-07-10 10:00 UTC'. Typed back (`loans recall --due
'2026-07-10 10:00 UTC'`), it was refused with dateutil's words, "Inconsistent use of colon
separator", and a local time with its zone ('2026-03-29T02:30 CET', '…T10:00 Europe/Paris',
'…+09:00[Asia/Tokyo]') with "Unused components in ISO string": neither says what to type. The
refusal (still exit 2, nothing written) now names the zone and gives the time rewritten: 'Z'
for UTC, an offset for a local time (a zone name does not say which side of a daylight-saving
change is meant). A time that is no time in any zone ('25:00 UTC') says why.
"""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.dates import parse_datetime
from sampleloans.errors import InvalidInput
from tests.cli_steps import ok, refused, signed_ou_agreement
from tests.conftest import OU_PI

HINT = (
    "use ISO 8601, e.g. 2025-04-24, 2025-04-24T10:30:00Z or 20250424T103000Z (a complete "
    "calendar, week or ordinal date, extended or basic form; no offset means UTC)"
)


@pytest.mark.parametrize(
    ("typed", "phrase"),
    [
        ("2026-07-10 10:00 UTC", "names the time zone 'UTC'; write UTC as 'Z': 2026-07-10T10:00Z"),
        ("2026-07-10T10:00:00GMT", "names the time zone 'GMT'; write UTC as 'Z': "),
        ("2026-03-29T02:30 CET", "e.g. 2026-03-29T02:30+01:00 for a clock one hour ahead of UTC"),
        ("2026-07-10T10:00 Europe/Paris", "names the time zone 'Europe/Paris'; a zone name is"),
        ("2026-07-10T10:00:00+09:00[Asia/Tokyo]", "e.g. 2026-07-10T10:00:00+09:00, or the time"),
        ("2026-07-10T25:00 UTC", "is not a valid date and time (hour must be in 0..23)"),
    ],
)
def test_a_zone_name_is_refused_with_the_time_to_type(typed: str, phrase: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_datetime(typed, "--due")
    message = str(info.value)
    assert message.startswith(f"--due: '{typed}' ") and phrase in message, message
    assert message.endswith(HINT), message
    assert "colon separator" not in message and "Unused components" not in message


def test_the_suggested_times_are_accepted() -> None:
    """What the refusal says to type is read, to the instant meant."""
    assert parse_datetime("2026-07-10T10:00Z") == parse_datetime("2026-07-10T12:00+02:00")


@pytest.mark.usefixtures("cli_env", "engine")
def test_a_recall_due_typed_as_printed_is_refused_and_nothing_written(
    runner: CliRunner, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The due date copied from 'loans issue' output: one line naming --due and 'Z'."""
    signed_ou_agreement(runner)
    code = "CE5C0000YJYX070"
    ok(runner, "loans", "request", "L-1", "--agreement", "AG-OU", "--pi", OU_PI, "--sample", code)
    ok(runner, "loans", "approve", "L-1")
    out = ok(runner, "loans", "issue", "L-1")
    assert "due 2026-04-01 09:00 UTC" in out, out
    message = refused(
        runner, db_path, "loans", "recall", "L-1", "--due", "2025-10-01 09:00 UTC",
        "--reason", "audit", code=2,
    )  # fmt: skip
    assert message.startswith(
        "Error: --due: '2025-10-01 09:00 UTC' names the time zone 'UTC'; write UTC as 'Z': "
        "2025-10-01T09:00Z"
    ), message
    out = ok(runner, "loans", "recall", "L-1", "--due", "2025-10-01T09:00Z", "--reason", "audit")
    assert "2025-10-01 09:00 UTC" in out, out
