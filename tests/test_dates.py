"""Table-driven tests for sampleloans.dates: strict ISO 8601 in, aware UTC inside."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sampleloans.dates import (
    add_period,
    days_between,
    format_datetime,
    from_iso,
    parse_date,
    parse_datetime,
    to_iso,
    utc_now,
)
from sampleloans.errors import EditedTable, InvalidInput


def utc(
    year: int,
    month: int,
    day: int,
    hour: int = 0,
    minute: int = 0,
    second: int = 0,
    microsecond: int = 0,
) -> datetime:
    return datetime(year, month, day, hour, minute, second, microsecond, tzinfo=UTC)


# --- parse_datetime -------------------------------------------------------------------------

GOOD_DATETIMES: list[tuple[str, datetime]] = [
    ("2025-04-24", utc(2025, 4, 24)),
    ("2025-04-24T10:30:00Z", utc(2025, 4, 24, 10, 30)),
    ("2025-04-24T10:30:00z", utc(2025, 4, 24, 10, 30)),
    ("2025-04-24t10:30:00Z", utc(2025, 4, 24, 10, 30)),
    ("2025-04-24T10:30:00", utc(2025, 4, 24, 10, 30)),  # no offset: taken as UTC
    ("2025-04-24T10:30", utc(2025, 4, 24, 10, 30)),
    ("2025-04-24T10", utc(2025, 4, 24, 10)),
    ("2025-04-24 10:30", utc(2025, 4, 24, 10, 30)),  # isoparse accepts a space separator
    ("2025-04-24 10:30:00Z", utc(2025, 4, 24, 10, 30)),
    ("  2025-04-24T10:30:00Z  ", utc(2025, 4, 24, 10, 30)),
    ("2025-04-24T10:30:00+02:00", utc(2025, 4, 24, 8, 30)),
    ("2025-04-24T10:30:00+0200", utc(2025, 4, 24, 8, 30)),
    ("2025-04-24T10:30:00+02", utc(2025, 4, 24, 8, 30)),
    ("2025-04-24T01:30:00+05:30", utc(2025, 4, 23, 20, 0)),  # crosses midnight backwards
    ("2025-04-24T22:00:00-05:00", utc(2025, 4, 25, 3, 0)),  # crosses midnight forwards
    ("2025-04-24T10:30:00-00:00", utc(2025, 4, 24, 10, 30)),
    ("2025-04-24T10:30:00.123456Z", utc(2025, 4, 24, 10, 30, 0, 123456)),
    ("2025-04-24T10:30:00.5Z", utc(2025, 4, 24, 10, 30, 0, 500000)),
    ("2025-04-24T10:30:00,5Z", utc(2025, 4, 24, 10, 30, 0, 500000)),  # ISO allows a comma
    ("2025-04-24T10:30:00.123456Z", utc(2025, 4, 24, 10, 30, 0, 123456)),
    ("2025-04-24T1030", utc(2025, 4, 24, 10, 30)),  # basic-format time is accepted
    # the basic form, week and ordinal dates: complete dates ISO 8601 and isoparse accept
    ("20250330T001000Z", utc(2025, 3, 30, 0, 10)),
    ("20250330T0010+0800", utc(2025, 3, 29, 16, 10)),
    ("20250330", utc(2025, 3, 30)),
    ("2025-W13-7T10:00Z", utc(2025, 3, 30, 10)),
    ("2025W137", utc(2025, 3, 30)),
    ("2025-089T10:00Z", utc(2025, 3, 30, 10)),
    ("2025089", utc(2025, 3, 30)),
    ("2025-04-24T24:00", utc(2025, 4, 25)),  # ISO end-of-day rolls to the next midnight
    ("2024-02-29", utc(2024, 2, 29)),
    ("1900-01-01", utc(1900, 1, 1)),
    ("2200-12-31T23:59:59Z", utc(2200, 12, 31, 23, 59, 59)),
    ("2201-01-01T03:00:00+05:00", utc(2200, 12, 31, 22)),  # in range once converted to UTC
]


@pytest.mark.parametrize(("text", "expected"), GOOD_DATETIMES)
def test_parse_datetime_accepts(text: str, expected: datetime) -> None:
    result = parse_datetime(text)
    assert result == expected
    assert result.tzinfo is UTC


ISO_HINT = (
    "use ISO 8601, e.g. 2025-04-24, 2025-04-24T10:30:00Z or 20250424T103000Z (a complete "
    "calendar, week or ordinal date, extended or basic form; no offset means UTC)"
)

BAD_DATETIMES: list[tuple[str, str]] = [
    ("", "is empty"),
    # isoparse would cut digits beyond the microsecond off: refused, not truncated
    ("2025-04-24T10:30:00.1234567Z", "is finer than a microsecond"),
    ("   ", "is empty"),
    ("03/04/2025", ISO_HINT),
    ("24 Apr 2025", ISO_HINT),
    ("April 24, 2025", ISO_HINT),
    ("2025-02-30", "day is out of range for month"),
    ("2025-02-30", ISO_HINT),
    ("2025-13-01", "month must be in 1..12"),
    ("2025-04-24T25:00", ISO_HINT),
    ("2025-04-24T10:60", ISO_HINT),
    ("2025-04-24T10:30:00+24:00", ISO_HINT),
    ("2025-04-24T10:30:00 +02:00", ISO_HINT),
    ("2025-04-24T10:30:00UTC", ISO_HINT),
    ("2025-04-24T", ISO_HINT),
    # Forms isoparse itself accepts but this ledger refuses (see dates.py for why).
    ("2025", ISO_HINT),
    ("2025-04", ISO_HINT),
    ("202504", ISO_HINT),
    ("2025-W17", ISO_HINT),
    ("2025-04-24x10:30", ISO_HINT),
    ("2025-04-24_10:30", ISO_HINT),
    ("2025-04-24\x0010:30", "non-printable"),
    ("2025-04-24\n10:30", "non-printable"),
    ("\x1b[31m2025-04-24", "non-printable"),
    ("٢٠٢٥-04-24", ISO_HINT),
    ("1899-12-31", "outside the years 1900-2200"),
    ("0001-01-01T00:00+01:00", "outside the years 1900-2200"),
    ("2201-01-01", "outside the years 1900-2200"),
    ("2200-12-31T23:00:00-05:00", "outside the years 1900-2200"),
    ("9999-12-31T24:00", ISO_HINT),  # isoparse raises OverflowError here
    ("9999-12-31T23:00:00-05:00", "outside the years 1900-2200"),  # overflows in UTC
]


@pytest.mark.parametrize(("text", "phrase"), BAD_DATETIMES)
def test_parse_datetime_refuses(text: str, phrase: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_datetime(text, "received_at")
    message = str(info.value)
    assert message.startswith("received_at: ")
    assert phrase in message
    assert message.isprintable()


def test_parse_datetime_default_field_and_quoting() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_datetime("03/04/2025")
    assert str(info.value).startswith("time: '03/04/2025' ")


# --- parse_date -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-04-24", date(2025, 4, 24)),
        (" 2025-04-24 ", date(2025, 4, 24)),
        ("2024-02-29", date(2024, 2, 29)),
        ("1900-01-01", date(1900, 1, 1)),
        ("2200-12-31", date(2200, 12, 31)),
    ],
)
def test_parse_date_accepts(text: str, expected: date) -> None:
    result = parse_date(text)
    assert result == expected
    assert type(result) is date


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("", "is empty"),
        ("2025-04-24T10:00:00Z", "has a time"),
        ("2025-04-24 10:00", "has a time"),
        ("03/04/2025", "use an ISO 8601 date, e.g. 2025-04-24"),
        ("24 Apr 2025", "use an ISO 8601 date"),
        ("202504", "use an ISO 8601 date"),
        ("2025-W17", "use an ISO 8601 date"),
        ("2025-4-24", "use an ISO 8601 date"),
        ("2025-02-30", "day is out of range for month"),
        ("2023-02-29", "day is out of range for month"),
        ("2025-00-10", "month must be in 1..12"),
        ("1899-12-31", "outside the years 1900-2200"),
        ("2201-01-01", "outside the years 1900-2200"),
        ("2025-04-24\x00", "non-printable"),
        ("２０２５-04-24", "use an ISO 8601 date"),
    ],
)
def test_parse_date_refuses(text: str, phrase: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_date(text, "due")
    message = str(info.value)
    assert message.startswith("due: ")
    assert phrase in message
    assert message.isprintable()


# --- to_iso / from_iso / format_datetime ----------------------------------------------------


@pytest.mark.parametrize(
    ("dt", "stored"),
    [
        (utc(2025, 4, 24, 10), "2025-04-24T10:00:00Z"),
        (utc(2025, 4, 24, 10, 0, 0, 1), "2025-04-24T10:00:00.000001Z"),
        (utc(2025, 4, 24, 10, 0, 0, 500000), "2025-04-24T10:00:00.500000Z"),
        (datetime(2025, 4, 24, 12, tzinfo=timezone(timedelta(hours=2))), "2025-04-24T10:00:00Z"),
        (datetime(2025, 4, 24, 1, tzinfo=timezone(timedelta(hours=3))), "2025-04-23T22:00:00Z"),
        (utc(1900, 1, 1), "1900-01-01T00:00:00Z"),
    ],
)
def test_to_iso_and_back(dt: datetime, stored: str) -> None:
    assert to_iso(dt) == stored
    back = from_iso(stored)
    assert back == dt
    assert back.tzinfo is UTC


@pytest.mark.parametrize(
    "text",
    [
        "2025-04-24T10:00:00",  # no Z
        "2025-04-24T10:00:00+00:00",
        "2025-04-24T10:00Z",
        "2025-04-24 10:00:00Z",
        "2025-04-24T10:00:00.000000Z",  # to_iso never writes an all-zero fraction
        "2025-04-24T10:00:00.5Z",
        "2025-02-30T10:00:00Z",
        "2025-04-24",
        "",
    ],
)
def test_from_iso_refuses_non_canonical(text: str) -> None:
    with pytest.raises(ValueError, match="not a stored UTC timestamp"):
        from_iso(text)


def test_naive_datetimes_are_programming_errors() -> None:
    naive = datetime(2025, 4, 24, 10)
    for func in (to_iso, format_datetime):
        with pytest.raises(ValueError, match="timezone-aware"):
            func(naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        days_between(naive, utc(2025, 4, 25))


def test_to_iso_refuses_a_date() -> None:
    with pytest.raises(TypeError):
        to_iso(date(2025, 4, 24))  # type: ignore[arg-type]  # a date on purpose: refused


aware_datetimes = st.datetimes(
    min_value=datetime(1900, 1, 2),
    max_value=datetime(2200, 12, 30),
    timezones=st.sampled_from(
        [UTC, timezone(timedelta(hours=-12)), timezone(timedelta(hours=5, minutes=30))]
    ),
)


@given(aware_datetimes)
def test_to_iso_from_iso_round_trip(dt: datetime) -> None:
    stored = to_iso(dt)
    back = from_iso(stored)
    assert back == dt
    assert back.tzinfo is UTC
    assert to_iso(back) == stored
    # Storage strings sort like the instants they name.
    assert stored.endswith("Z")


@given(aware_datetimes)
def test_parse_datetime_reads_stored_strings(dt: datetime) -> None:
    assert parse_datetime(to_iso(dt)) == dt


@pytest.mark.parametrize(
    ("dt", "shown"),
    [
        (utc(2025, 4, 24, 10), "2025-04-24 10:00 UTC"),
        (utc(2025, 4, 24, 10, 7, 59, 999999), "2025-04-24 10:07 UTC"),  # truncated, not rounded
        (
            datetime(2025, 4, 24, 12, 30, tzinfo=timezone(timedelta(hours=2))),
            "2025-04-24 10:30 UTC",
        ),
    ],
)
def test_format_datetime(dt: datetime, shown: str) -> None:
    assert format_datetime(dt) == shown


# --- add_period / days_between / utc_now ----------------------------------------------------


@pytest.mark.parametrize(
    ("when", "period", "expected"),
    [
        (utc(2025, 4, 24, 10), "P1Y", utc(2026, 4, 24, 10)),
        (utc(2025, 4, 24, 10), "P6M", utc(2025, 10, 24, 10)),
        (utc(2025, 4, 24, 10), "P14D", utc(2025, 5, 8, 10)),
        (utc(2025, 1, 31), "P1M", utc(2025, 2, 28)),  # clamped to month end
        (utc(2024, 1, 31), "P1M", utc(2024, 2, 29)),
        (utc(2024, 2, 29), "P1Y", utc(2025, 2, 28)),
        (utc(2025, 4, 24), "P12M", utc(2026, 4, 24)),
        (date(2025, 4, 24), "P1Y6M", date(2026, 10, 24)),
        (date(2025, 12, 31), "P1D", date(2026, 1, 1)),
    ],
)
def test_add_period(when: datetime | date, period: str, expected: datetime | date) -> None:
    result = add_period(when, period)
    assert result == expected
    assert type(result) is type(when)
    if isinstance(result, datetime):
        assert result.tzinfo is UTC


def test_add_period_refuses_non_canonical_period() -> None:
    with pytest.raises(EditedTable, match="not a period as this program writes one"):
        add_period(utc(2025, 4, 24), "12 months")


@pytest.mark.parametrize(
    ("earlier", "later", "days"),
    [
        (utc(2025, 4, 24, 23, 59), utc(2025, 4, 25, 0, 1), 1),  # calendar days, not 24h spans
        (utc(2025, 4, 24, 0, 0), utc(2025, 4, 24, 23, 59), 0),
        (utc(2025, 4, 24), utc(2025, 5, 24), 30),
        (utc(2025, 5, 24), utc(2025, 4, 24), -30),
        (utc(2024, 2, 28), utc(2024, 3, 1), 2),
        # 01:00+02:00 is 23:00 UTC the previous day: the UTC date counts.
        (datetime(2025, 4, 25, 1, tzinfo=timezone(timedelta(hours=2))), utc(2025, 4, 25, 12), 1),
    ],
)
def test_days_between(earlier: datetime, later: datetime, days: int) -> None:
    assert days_between(earlier, later) == days


def test_utc_now_is_aware_utc_and_current() -> None:
    before = datetime.now(UTC)
    now = utc_now()
    after = datetime.now(UTC)
    assert now.tzinfo is UTC
    assert before <= now <= after
