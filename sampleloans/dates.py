"""Dates and times: strict ISO 8601 in, timezone-aware UTC inside, 'Z' strings in storage.

Services never read the clock; they receive "now" as a parameter so tests and replays are
deterministic. Only the CLI calls utc_now().
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from sampleloans.errors import InvalidInput, RuleViolation
from sampleloans.text import counted
from sampleloans.units import period_delta, quote_input

__all__ = [
    "MAX_YEAR",
    "MIN_YEAR",
    "add_period",
    "bound_text",
    "days_between",
    "format_datetime",
    "format_moment",
    "from_iso",
    "from_this_second_on",
    "parse_date",
    "parse_datetime",
    "refuse_future",
    "to_iso",
    "utc_now",
]

MIN_YEAR = 1900
MAX_YEAR = 2200

_TRIM = " \t\r\n"
_DATETIME_HINT = (
    "use ISO 8601, e.g. 2025-04-24, 2025-04-24T10:30:00Z or 20250424T103000Z (a complete "
    "calendar, week or ordinal date, extended or basic form; no offset means UTC)"
)
_DATE_HINT = (
    "use an ISO 8601 date, e.g. 2025-04-24 or 20250424 (a complete calendar, week or ordinal date)"
)

# isoparse alone is looser than its name suggests: it accepts ANY single character between date
# and time ('2025-04-24x10:00', even NUL or a newline) and reduced dates ('2025' = 1 January,
# '2025-04'). A ledger date that silently became 1 January is worse than a refusal, so the date
# part must be a complete date — calendar ('2025-04-24', basic '20250424'), week ('2025-W17-4',
# '2025W174') or ordinal ('2025-114', '2025114'), each naming one day as ISO 8601 does — and
# the separator 'T' or a space. Every time option and import field is read here.
_COMPLETE_DATE = (
    r"(?:[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{8}|[0-9]{4}-W[0-9]{2}-[0-9]|[0-9]{4}W[0-9]{3}"
    r"|[0-9]{4}-[0-9]{3}|[0-9]{7})"
)
_DATETIME_SHAPE_RE = re.compile(_COMPLETE_DATE + r"(?:[Tt ].+)?", re.ASCII | re.DOTALL)
_DATE_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})", re.ASCII)
_COMPLETE_DATE_RE = re.compile(_COMPLETE_DATE, re.ASCII)
_DATE_THEN_TIME_RE = re.compile(_COMPLETE_DATE + r"[Tt ].+", re.ASCII | re.DOTALL)
# a fraction of a second longer than the microseconds every time is kept to ('.1234567')
_FINER_THAN_MICROSECOND_RE = re.compile(r"[Tt ][0-9:]+[.,][0-9]{7,}", re.ASCII)
# a date (and time) followed by a time-zone name or abbreviation ('2025-04-24 10:00 UTC', as the
# ledger prints times; '2025-04-24 CET', '…T10:00 Europe/Paris', '…+09:00[Asia/Tokyo]'): isoparse
# refuses them with words about colons or unused components, which do not say what to type
_ZONE_NAME_RE = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})(?:[Tt ]([0-9:.,]+)([+-][0-9:]+)?)?"
    r"[ ]*(?:\[([^\]]+)\]|([A-Za-z][A-Za-z0-9_/+-]*))",
    re.ASCII,
)
_UTC_NAMES = frozenset({"UTC", "GMT", "UT", "Z"})
_STORED_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{6}))?Z",
    re.ASCII,
)


def _clean(text: str, field: str, hint: str, func: str) -> str:
    """Trim, then refuse empty or non-printable text; return the trimmed text."""
    if not isinstance(text, str):
        raise TypeError(f"{func} expects str, got {type(text).__name__}")
    stripped = text.strip(_TRIM)
    if not stripped:
        raise InvalidInput(f"{field}: {quote_input(text)} is empty; {hint}")
    if not stripped.isprintable():
        raise InvalidInput(
            f"{field}: {quote_input(text)} contains non-printable characters; {hint}"
        )
    return stripped


def _check_year(year: int, field: str, text: str) -> None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise InvalidInput(
            f"{field}: {quote_input(text)} is outside the years {MIN_YEAR}-{MAX_YEAR} (in UTC); "
            "check the year"
        )


def _reason(exc: Exception) -> str:
    # isoparse/datetime reasons ('day is out of range for month') help; keep them to one line.
    return " ".join(str(exc).split())


def parse_datetime(text: str, field: str = "time") -> datetime:
    """Parse strict ISO 8601 into aware UTC; a date alone is 00:00 UTC, no offset means UTC."""
    stripped = _clean(text, field, _DATETIME_HINT, "parse_datetime")
    q = quote_input(text)
    if not _DATETIME_SHAPE_RE.fullmatch(stripped):
        raise InvalidInput(f"{field}: {q} is not a date and time; {_DATETIME_HINT}")
    if _FINER_THAN_MICROSECOND_RE.search(stripped):
        # isoparse would cut the seventh decimal off without a word: refuse, as a mass finer
        # than 1 µg is refused
        raise InvalidInput(
            f"{field}: {q} is finer than a microsecond; give at most 6 decimals of a second, "
            "e.g. 2025-04-24T10:30:00.123456Z"
        )
    result = _stored_form(stripped)
    if result is None:
        result = _isoparse_utc(stripped, field, text, q)
    # The range applies to the UTC instant, which is what gets stored.
    _check_year(result.year, field, text)
    return result


def _stored_form(stripped: str) -> datetime | None:
    """Exactly what to_iso writes ('2025-04-24T10:00:00Z'), or that with the UTC offset
    written '+00:00' (what Python's `isoformat` writes), else None.

    isoparse reads such text to the same instant; reading it here spares the import of
    dateutil's parser (and its time-zone modules) at the start of every command run with
    SAMPLELOANS_NOW or `--at` in that form. Anything else, valid or not, goes to isoparse.
    """
    if stripped.endswith("+00:00"):
        stripped = stripped[: -len("+00:00")] + "Z"
    try:
        return from_iso(stripped)
    except ValueError:
        return None


def _isoparse_utc(stripped: str, field: str, text: str, q: str) -> datetime:
    """Any other ISO 8601 date and time, through dateutil's isoparse, as aware UTC."""
    from dateutil.parser import isoparse  # here, not at the top: see _stored_form

    try:
        parsed = isoparse(stripped)
    except (ValueError, OverflowError) as exc:
        _refuse_zone_name(stripped, field, q)
        # OverflowError: '9999-12-31T24:00' rolls past datetime.max inside isoparse.
        raise InvalidInput(
            f"{field}: {q} is not a valid date and time ({_reason(exc)}); {_DATETIME_HINT}"
        ) from exc
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        # Only at the edges of datetime (year 1 or 9999), far outside the range anyway.
        _check_year(parsed.year, field, text)
        raise


def _refuse_zone_name(stripped: str, field: str, q: str) -> None:
    """Refuse a time written with a time-zone name, saying how to write it with an offset."""
    from dateutil.parser import isoparse  # loaded by the caller already

    m = _ZONE_NAME_RE.fullmatch(stripped)
    if m is None:
        return
    day, clock, offset, bracketed, name = m.groups()
    clock = clock or "00:00"  # a date alone is that day's midnight
    zone = bracketed or name
    is_utc = offset is None and zone.upper() in _UTC_NAMES
    written = f"{day}T{clock}{'Z' if is_utc else offset or '+01:00'}"
    try:  # the rewrite must itself be a time ('25:00 UTC' is no time in any zone)
        isoparse(written)
    except (ValueError, OverflowError) as exc:
        raise InvalidInput(
            f"{field}: {q} is not a valid date and time ({_reason(exc)}); {_DATETIME_HINT}"
        ) from exc
    if is_utc:
        raise InvalidInput(
            f"{field}: {q} names the time zone '{zone}'; write UTC as 'Z': {written} "
            f"(or leave it out: a time without an offset is UTC); {_DATETIME_HINT}"
        )
    example = written if offset else f"{written} for a clock one hour ahead of UTC"
    raise InvalidInput(
        f"{field}: {q} names the time zone '{zone}'; a zone name is not read (around a "
        "daylight-saving change it does not say which offset is meant): give the offset from "
        f"UTC the local clock showed, e.g. {example}, or the time in UTC with 'Z'; "
        f"{_DATETIME_HINT}"
    )


def parse_date(text: str, field: str = "date") -> date:
    """Parse an ISO 8601 calendar date 'YYYY-MM-DD'; times and other formats are refused."""
    stripped = _clean(text, field, _DATE_HINT, "parse_date")
    q = quote_input(text)
    if _DATE_THEN_TIME_RE.fullmatch(stripped):
        raise InvalidInput(f"{field}: {q} has a time; give the date only, e.g. 2025-04-24")
    if not _COMPLETE_DATE_RE.fullmatch(stripped):
        raise InvalidInput(f"{field}: {q} is not a date; {_DATE_HINT}")
    try:
        result = _complete_date(stripped)
    except ValueError as exc:
        raise InvalidInput(
            f"{field}: {q} is not a valid date ({_reason(exc)}); {_DATE_HINT}"
        ) from exc
    _check_year(result.year, field, text)
    return result


def _complete_date(stripped: str) -> date:
    """The day a complete ISO 8601 date names (its shape already checked)."""
    m = _DATE_RE.fullmatch(stripped)
    if m is not None:  # the usual form, read without loading dateutil's parser
        year, month, day = (int(g) for g in m.groups())
        return date(year, month, day)
    from dateutil.parser import isoparse

    return isoparse(stripped).date()


def _require_aware(dt: datetime, func: str) -> datetime:
    # A naive datetime inside the ledger is a programming error, not user input: the whole
    # point of storing UTC is that no value is ambiguous.
    if not isinstance(dt, datetime):
        raise TypeError(f"{func} expects datetime, got {type(dt).__name__}")
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"{func} needs a timezone-aware datetime, got naive {dt!r}")
    return dt.astimezone(UTC)


def to_iso(dt: datetime) -> str:
    """Format an aware datetime for storage: UTC, 'Z', seconds or microseconds if non-zero."""
    u = _require_aware(dt, "to_iso")
    # isoformat, not strftime('%Y'), which does not zero-pad years below 1000 on every
    # platform; in UTC it ends '+00:00', and writes microseconds only when non-zero
    return u.isoformat()[: -len("+00:00")] + "Z"


def from_iso(text: str) -> datetime:
    """Read a stored to_iso string back as aware UTC; non-canonical strings are refused."""
    m = _STORED_RE.fullmatch(text) if isinstance(text, str) else None
    # '.000000' is refused too: to_iso never writes it, and accepting only canonical text
    # keeps to_iso(from_iso(s)) == s, which hashing of stored records relies on.
    if m is None or m.group(7) == "000000":
        raise ValueError(f"not a stored UTC timestamp: {quote_input(str(text))}")
    if m.group(4) < "24":  # hour 24 some Pythons' fromisoformat reads as the next day
        try:  # the C parser, once the pattern has held the text to to_iso's form (UTC: 'Z')
            return datetime.fromisoformat(text)
        except ValueError:
            pass  # a date that does not exist: refused below, in datetime's own words
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    micro = int(m.group(7)) if m.group(7) else 0
    try:
        return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)
    except ValueError as exc:
        raise ValueError(f"not a stored UTC timestamp: {quote_input(text)} ({exc})") from exc


def _whole_second(moment: datetime) -> datetime:
    """`moment` without its fraction of a second: the system clock's microseconds say nothing
    to a reader of a refusal."""
    return moment.replace(microsecond=0)


def from_this_second_on(moment: datetime) -> datetime:
    """The first whole second not earlier than `moment`: the earliest time a user who types
    times to the second (as every refusal and listing shows them) has accepted where `moment`,
    kept to the microsecond, is a lower bound (10:00:00.4 gives 10:00:01, 10:00:00 itself)."""
    u = _require_aware(moment, "from_this_second_on")
    whole = _whole_second(u)
    return whole if whole == u else whole + timedelta(seconds=1)


def bound_text(moment: datetime) -> str:
    """A lower bound as every "earlier than the last event" refusal names it, one the user can
    type and have accepted: 'from 2025-06-01T10:00:01Z on' for a last event at 10:00:00.4."""
    return f"from {to_iso(from_this_second_on(moment))} on"


def refuse_future(field: str, when: datetime, now: datetime, hint: str) -> None:
    """Refuse a moment after `now`, naming the option, the moment as read (UTC) and now: time
    order is a rule (exit 1), as for a write's `--at`; the moment itself was read fine."""
    if when > now:
        raise RuleViolation(
            f"{field}: {to_iso(when)} is in the future (now is {to_iso(_whole_second(now))}); "
            f"{hint}"
        )


def day_count(days: int) -> str:
    """A whole number of days in words: '1 day', '3 days'."""
    return counted(days, "day")


def format_datetime(dt: datetime) -> str:
    """Show an aware datetime to a person: '2025-04-24 10:00 UTC' (minutes, truncated)."""
    u = _require_aware(dt, "format_datetime")
    return f"{u.year:04d}-{u.month:02d}-{u.day:02d} {u.hour:02d}:{u.minute:02d} UTC"


def format_moment(dt: datetime) -> str:
    """A time a refusal compares with, as `format_datetime` shows it, with its seconds when it
    has any ('2025-04-24 10:00:30 UTC'): to the minute alone it would name a bound the user
    types and is refused again. Fractions are cut: give a lower bound `from_this_second_on`."""
    u = _whole_second(_require_aware(dt, "format_moment"))
    shown = format_datetime(u)
    return shown if u.second == 0 else shown.replace(" UTC", f":{u.second:02d} UTC")


def format_table_time(dt: datetime) -> str:
    """A time in a table cell, '2025-04-24 10:00': the column's heading says '(UTC)' once, so
    every table reads its times one way and a narrow terminal keeps them on one line."""
    return format_datetime(dt).removesuffix(" UTC")


def add_period(when: datetime | date, iso_period: str) -> datetime | date:
    """Add a canonical period (from units.parse_period); returns the same type as `when`."""
    if not isinstance(when, date):
        raise TypeError(f"add_period expects date or datetime, got {type(when).__name__}")
    # relativedelta clamps to the month end (31 Jan + 1 month = 28/29 Feb), as agreements mean.
    return when + period_delta(iso_period)


def days_between(earlier: datetime, later: datetime) -> int:
    """Whole calendar days from earlier's UTC date to later's UTC date; negative if reversed."""
    a = _require_aware(earlier, "days_between")
    b = _require_aware(later, "days_between")
    return (b.date() - a.date()).days


def utc_now() -> datetime:
    """Read the real clock as aware UTC; only the CLI should call this."""
    return datetime.now(UTC)


def clock_ahead(now: datetime, seq: int, recorded_at: datetime) -> str:
    """Why nothing can be recorded on this computer's clock: the last event was recorded by a
    clock set ahead of it (SAMPLELOANS_NOW, another computer's), not by this one going back."""
    return (
        f"clock: event {seq} was recorded at {to_iso(recorded_at)}, after this computer's clock "
        f"({to_iso(_whole_second(now))}): a clock set ahead recorded it "
        "(SAMPLELOANS_NOW, or a computer whose clock was wrong), and as the recording clock "
        "never goes back, nothing can be recorded "
        f"before {to_iso(recorded_at)} (writes resume {bound_text(recorded_at)}); check this "
        f"computer's clock, and show a compliance officer event {seq}"
    )
