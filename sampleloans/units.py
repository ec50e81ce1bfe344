"""Masses (integer micrograms) and loan periods (canonical ISO 8601 strings), parsed and shown.

Masses are integers inside the ledger so that sums and mass balances are exact; every
conversion from text goes through ``decimal.Decimal`` on a validated ASCII string, never
through ``float``.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from decimal import Decimal, localcontext

from dateutil.relativedelta import relativedelta

from sampleloans.errors import EditedTable, InvalidInput
from sampleloans.text import ascii_lower, char_name, one_line

__all__ = [
    "MAX_DEPTH_MM",
    "MAX_MASS_UG",
    "MAX_PERIOD_YEARS",
    "check_mass_ug",
    "format_mass",
    "format_period",
    "parse_depth_mm",
    "parse_mass_ug",
    "parse_period",
    "period_delta",
    "quote_input",
]

MAX_MASS_UG = 10_000_000_000  # 10 kg: far above any lunar sample lent, so larger is a typo
MAX_PERIOD_YEARS = 100
MAX_DEPTH_MM = 99_999  # 99.999 m: Chang'e drills reach about 2 m, so deeper is a typo

_QUOTE_LIMIT = 40

# Only ASCII spaces and line ends are trimmed: anything else that is not printable is refused
# so that control characters never reach a terminal, a log or the database.
_TRIM = " \t\r\n"

_MASS_EXAMPLES = "e.g. '20 mg', '2.5 g' or '500 ug'"
_MASS_HINT = f"write a number and a unit, {_MASS_EXAMPLES}"

# Keys are matched after lower-casing ASCII letters only. A case-insensitive regex would also
# accept the Greek capital MU ('Μg'), which looks exactly like 'Mg' but would mean micrograms:
# a factor-of-1000 error hiding behind a homoglyph.
_UNIT_FACTORS: dict[str, int] = {
    "ug": 1,
    "\u00b5g": 1,  # MICRO SIGN, what most keyboards produce
    "\u03bcg": 1,  # GREEK SMALL LETTER MU, what NFKC normalisation and some fonts produce
    "mg": 1_000,
    "g": 1_000_000,
}
_UNIT_LIST = "ug, µg, mg or g"

# Patterns are strings, compiled (and cached) by `re` on first use: most commands never parse a
# mass or a period, so they should not pay for compiling these at start-up.
# Possessive quantifiers (++, ?+): a number is read one way only. With backtracking, a long
# run of digits followed by something that fails later ('1.111…1e5 mg', '111…,5 mg') was
# re-split at every position, quadratic work (100,000 digits took minutes).
_NUMBER = r"[0-9]++(?:\.[0-9]++)?+"
_MASS = rf"({_NUMBER}) *+(\S+)"
_BARE_NUMBER = _NUMBER
_NUMBER_THEN_UNIT = rf"({_NUMBER}) *([^\s0-9.].*)"
_NOT_FINITE = r"(?i)[+\-\u2212]?(?:s?nan|inf(?:inity)?) *(?:[a-z\u00b5\u03bc]+)?"
# one way to split the digits around the point: '[0-9]+\.?[0-9]*' tried every split of a
# long run of digits (quadratic: 100,000 digits took minutes)
_EXPONENT = r"(?i)[+\-\u2212]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)e[+\-]?[0-9]+"
_NEGATIVE = r"[\-\u2212] *[0-9.]"
# a sign before a mass that would parse without it ('-0 ug', '+3 mg'): the sign, the rest
_SIGNED_MASS = rf"([+\-\u2212]) *+({_NUMBER} *+\S+)"
# an exponent form with a unit ('1e3 ug'): the number, the unit (written out when it is short)
_EXPONENT_MASS = r"(?i)([0-9]+(?:\.[0-9]+)?e([+\-]?[0-9]+)) *(\S+)"
_LONGEST_EXPONENT_WRITTEN = 12  # '1e999999999 ug' is not written out: the general example
# the unit after it starts with no digit: '3.2mgs' is a number and an unknown unit, not '3.'
# then '2mgs'
_HALF_DECIMAL = r"(?:[0-9]+\.|\.[0-9]+)(?: *[^\s0-9.]\S*)?"


def quote_input(text: str, limit: int = _QUOTE_LIMIT) -> str:
    """Quote a user value for a one-line message: cut at `limit` chars, escape non-printables."""
    shown = text if len(text) <= limit else text[:limit] + "…"
    # repr() escapes NUL, ESC (ANSI sequences), newlines and bidi controls as \x.. / \u....,
    # so the message stays on one line and cannot repaint the user's terminal.
    return repr(shown)


def _has_non_ascii_digit(text: str) -> bool:
    return any(
        not ch.isascii() and (ch.isdigit() or unicodedata.numeric(ch, None) is not None)
        for ch in text
    )


def _unit_key(unit: str) -> str:
    return ascii_lower(unit)


def _mass_syntax_error(field: str, raw: str, text: str) -> InvalidInput:
    """Explain why `text` (already trimmed, printable, non-empty) is not a mass."""
    q = quote_input(raw)
    if re.fullmatch(_NOT_FINITE, text):
        return InvalidInput(f"{field}: {q} is not a finite number; {_MASS_HINT}")
    if re.match(_EXPONENT, text):
        return InvalidInput(f"{field}: {q} uses exponent notation; {_written_out(text)}")
    if re.match(_NEGATIVE, text):
        return InvalidInput(
            f"{field}: {q} is negative; a mass cannot be below zero, {_MASS_EXAMPLES}"
        )
    if re.search(r"[0-9],", text):
        return InvalidInput(
            f"{field}: {q} contains a comma; use '.' as the decimal point and no thousands "
            "separators, e.g. '1.5 mg' or '1500 mg'"
        )
    if re.search(r"[0-9]_", text):
        return InvalidInput(
            f"{field}: {q} contains an underscore; write the digits without separators, "
            "e.g. '1000 mg'"
        )
    if _has_non_ascii_digit(text):
        return InvalidInput(
            f"{field}: {q} contains non-ASCII digits; use the digits 0-9, e.g. '123 mg'"
        )
    if re.fullmatch(_BARE_NUMBER, text):
        return InvalidInput(f"{field}: {q} has no unit; add a unit, e.g. '20 mg'")
    if re.fullmatch(_HALF_DECIMAL, text):
        return InvalidInput(
            f"{field}: {q} needs digits on both sides of the decimal point, e.g. '0.5 mg'"
        )
    m = re.fullmatch(_NUMBER_THEN_UNIT, text)
    if m:
        return InvalidInput(
            f"{field}: {q} has unknown unit {quote_input(m.group(2))}; use {_UNIT_LIST}"
        )
    return InvalidInput(f"{field}: {q} is not a mass; {_MASS_HINT}")


def _unprintable(text: str) -> str:
    """'contains the non-printable character U+00A0 NO-BREAK SPACE; …': the first character of
    `text` that does not print, named (a no-break space from a spreadsheet looks like a space)."""
    ch = next(c for c in text if not c.isprintable())
    return (
        f"contains the non-printable character U+{ord(ch):04X} {char_name(ch)}; type a plain space "
        "and visible characters only"
    )


def parse_mass_ug(text: str, field: str = "mass", *, allow_zero: bool = False) -> int:
    """Parse a mass such as '20 mg', '2.5 g' or '500 µg' into exact integer micrograms."""
    if not isinstance(text, str):
        raise TypeError(f"parse_mass_ug expects str, got {type(text).__name__}")
    stripped = text.strip(_TRIM)
    if not stripped:
        raise InvalidInput(f"{field}: {quote_input(text)} is empty; {_MASS_HINT}")
    if not stripped.isprintable():
        raise InvalidInput(f"{field}: {quote_input(text)} {_unprintable(stripped)}; {_MASS_HINT}")
    m = re.fullmatch(_MASS, stripped)
    factor = _UNIT_FACTORS.get(_unit_key(m.group(2))) if m else None
    if m is None and (signed := re.fullmatch(_SIGNED_MASS, stripped)):
        _refuse_signed(field, text, signed.group(1), signed.group(2), allow_zero=allow_zero)
    if m is None or factor is None:
        raise _mass_syntax_error(field, text, stripped)

    number = m.group(1)
    # Decimal(str) is exact whatever the context; the multiplication is made exact by giving
    # the context more digits than the operands can produce, so huge inputs are not rounded
    # into something that passes the range check.
    with localcontext() as ctx:
        ctx.prec = len(number) + 10
        value = Decimal(number) * factor
    q = quote_input(text)
    if value > MAX_MASS_UG:
        raise _too_heavy(field, q)
    if value != value.to_integral_value():
        raise InvalidInput(
            f"{field}: {q} is finer than 1 µg; use at most 3 decimals in mg or 6 in g, "
            "e.g. '0.001 mg' or '1 ug'"
        )
    mass = int(value)
    if mass == 0 and not allow_zero:
        raise InvalidInput(f"{field}: {q} is zero; a mass must be more than zero, {_MASS_EXAMPLES}")
    return mass


def _refuse_signed(field: str, raw: str, sign: str, unsigned: str, *, allow_zero: bool) -> None:
    """Refuse a mass typed with a sign: '-0 ug' is zero (not negative), '+3 mg' is 3 mg; each
    is named with the mass written without its sign. A minus before more than zero returns, for
    the general 'is negative'; so does anything that is no mass without its sign."""
    try:
        value_ug = parse_mass_ug(unsigned, field, allow_zero=True)
    except InvalidInput:
        return
    if sign != "+" and value_ug > 0:
        return
    q = quote_input(raw)
    if value_ug == 0 and not allow_zero:
        raise InvalidInput(f"{field}: {q} is zero; a mass must be more than zero, {_MASS_EXAMPLES}")
    raise InvalidInput(
        f"{field}: {q} has a sign; write the mass without one: {quote_input(unsigned)}"
    )


def _written_out(text: str) -> str:
    """ "write the digits out: '1000 ug'" for '1e3 ug' (the same mass, in the unit typed), or the
    general example when the unit is unknown or the exponent too long to write out."""
    m = re.fullmatch(_EXPONENT_MASS, text)
    if m is None or _unit_key(m.group(3)) not in _UNIT_FACTORS:
        return "write the digits out, e.g. '1000 mg'"
    if len(m.group(2).lstrip("+-")) > 2 or abs(int(m.group(2))) > _LONGEST_EXPONENT_WRITTEN:
        return f"write the digits out, e.g. {quote_input('1000 ' + m.group(3))}"
    return (
        f"write the digits out: {quote_input(format(Decimal(m.group(1)), 'f') + ' ' + m.group(3))}"
    )


def _too_heavy(field: str, shown: str) -> InvalidInput:
    return InvalidInput(
        f"{field}: {shown} is more than 10 kg; the largest accepted mass is '10000 g'"
    )


def check_mass_ug(mass_ug: int, field: str = "mass", *, allow_zero: bool = False) -> int:
    """Refuse integer micrograms that no typed mass could be (an imported value): below 0, 0
    unless allowed, more than 10 kg; the same words as `parse_mass_ug`."""
    shown = format_mass(mass_ug)
    if mass_ug < 0:
        raise InvalidInput(f"{field}: {shown} is negative; a mass cannot be below zero")
    if mass_ug == 0 and not allow_zero:
        raise InvalidInput(f"{field}: {shown} is zero; a mass must be more than zero")
    if mass_ug > MAX_MASS_UG:
        raise _too_heavy(field, shown)
    return mass_ug


def format_mass(mass_ug: int) -> str:
    """Show integer micrograms in the unit that reads best, never dropping a non-zero digit."""
    # bool is an int subclass; True would silently print as '1 µg'.
    if isinstance(mass_ug, bool) or not isinstance(mass_ug, int):
        # the one way a mass arrives as anything else: a table cell edited in the file (SQLite
        # keeps text, a REAL or a BLOB in an INTEGER column): one line, exit 3, no traceback
        raise EditedTable(
            f"a stored mass holds {one_line(repr(mass_ug))[:60]}, not a whole number of "
            "micrograms: the ledger's tables were edited outside sampleloans; run "
            "'sampleloans verify' and restore the latest verified backup"
        )
    sign = "-" if mass_ug < 0 else ""
    n = abs(mass_ug)
    if n < 1_000:
        return f"{sign}{n} µg"
    if n < 1_000_000:
        # Three mg decimals are exactly one µg, so this is always lossless.
        return f"{sign}{n // 1_000}.{n % 1_000:03d} mg"
    # Grams: 3 decimals for readability, up to 6 when needed so no microgram disappears.
    decimals = f"{n % 1_000_000:06d}".rstrip("0").ljust(3, "0")
    grams = n // 1_000_000
    whole = f"{grams:,}" if _GROUPED.get() else str(grams)
    return f"{sign}{whole}.{decimals} g"


_GROUPED: ContextVar[bool] = ContextVar("masses_grouped", default=True)
"""Whether `format_mass` groups the thousands of grams ("1,731.000 g"); a report printed in a
layout before that (`readmodels.report.GROUPED_MASS_LAYOUT`) re-renders without ("1731.000 g")."""


@contextmanager
def masses_grouped(grouped: bool) -> Iterator[None]:
    """`format_mass` within: thousands of grams grouped ("1,731.000 g", the default) or not, as
    a document's layout printed them."""
    token = _GROUPED.set(grouped)
    try:
        yield
    finally:
        _GROUPED.reset(token)


def typed_mass(mass_ug: int) -> str:
    """`mass_ug` as a user types it on a command line, for a suggested command: no space, no
    thousands separator (the parser refuses one: '1,500' is 1.5 in much of Europe)."""
    with masses_grouped(False):
        return format_mass(mass_ug).replace(" ", "")


# --- depths --------------------------------------------------------------------------------

_DEPTH_CM = r"([0-9]{1,4})(?:\.([0-9]))?"


def parse_depth_mm(text: str, field: str = "depth") -> int:
    """A drill depth in centimetres ('28', '28.5', at most one decimal) as integer millimetres."""
    if not isinstance(text, str):
        raise TypeError(f"parse_depth_mm expects str, got {type(text).__name__}")
    m = re.fullmatch(_DEPTH_CM, text.strip(_TRIM), re.ASCII)
    if m is None:
        raise InvalidInput(
            f"{field}: {quote_input(text)} is not a depth in cm; give up to 4 digits and at "
            "most one decimal, e.g. 28 or 28.5"
        )
    # integer arithmetic: no float ever stands between the digits typed and the stored value
    return int(m.group(1)) * 10 + int(m.group(2) or 0)


# --- periods -------------------------------------------------------------------------------

_PERIOD_EXAMPLES = "e.g. '12 months', '2 weeks', '30 days' or 'P1Y6M'"
_PERIOD_HINT = f"write whole years, months, weeks or days, {_PERIOD_EXAMPLES}"

_ISO_PERIOD = r"(?ai)P(?:([0-9]+)Y)?(?:([0-9]+)M)?(?:([0-9]+)W)?(?:([0-9]+)D)?"
_ISO_TIME_PART = r"(?i)[+\-\u2212]?P[^T]*T"
_WORD_UNITS = ("year", "month", "week", "day")
_WORD_PART = r"([0-9]+) *(years?|months?|weeks?|days?)"
_WORD_PERIOD = rf"(?ai){_WORD_PART}(?: +{_WORD_PART})*"
_WORD_PART_ANY_CASE = rf"(?ai){_WORD_PART}"
_PERIOD_NEGATIVE = r"^[\-\u2212]|[\-\u2212] *[0-9]"
_CANONICAL = r"P(?:([1-9][0-9]*)Y)?(?:([1-9][0-9]*)M)?(?:([1-9][0-9]*)D)?"

# 100 years compared in sixteenths of a day with the mean Julian year and month
# (365.25 d = 5844/16, 30.4375 d = 487/16): integer arithmetic, and P100Y, P1200M and
# P36525D all sit exactly on the limit.
_SIXTEENTHS_PER_YEAR = 5844
_SIXTEENTHS_PER_MONTH = 487
_SIXTEENTHS_PER_DAY = 16
_MAX_PERIOD_SIXTEENTHS = MAX_PERIOD_YEARS * _SIXTEENTHS_PER_YEAR


def _small_int(digits: str | None) -> int:
    # int() refuses strings over 4300 digits (and is slow well before); anything with more than
    # nine significant digits is over the 100-year limit anyway, so cap it.
    if not digits:
        return 0
    significant = digits.lstrip("0") or "0"
    return int(significant) if len(significant) <= 9 else 10**9


def _period_parts(field: str, text: str) -> tuple[int, int, int]:
    """Return (years, months, days) for a period, weeks folded into days, or raise."""
    q = quote_input(text)
    stripped = text.strip(_TRIM)
    if not stripped:
        raise InvalidInput(f"{field}: {q} is empty; {_PERIOD_HINT}")
    if not stripped.isprintable():
        raise InvalidInput(f"{field}: {q} {_unprintable(stripped)}; {_PERIOD_HINT}")

    iso = re.fullmatch(_ISO_PERIOD, stripped)
    words = re.fullmatch(_WORD_PERIOD, stripped)
    if iso and any(iso.groups()):
        y, mo, w, d = (_small_int(g) for g in iso.groups())
    elif words:
        counts: dict[str, int] = {}
        for digits, unit in re.findall(_WORD_PART_ANY_CASE, stripped):
            key = unit.lower().rstrip("s")
            if key in counts:
                raise InvalidInput(f"{field}: {q} names {key}s more than once; {_PERIOD_HINT}")
            counts[key] = _small_int(digits)
        y, mo, w, d = (counts.get(unit, 0) for unit in _WORD_UNITS)
    elif re.match(_ISO_TIME_PART, stripped):
        raise InvalidInput(
            f"{field}: {q} has a time part; only years, months, weeks and days are accepted, "
            "e.g. 'P30D'"
        )
    elif re.search(_PERIOD_NEGATIVE, stripped):
        raise InvalidInput(
            f"{field}: {q} is negative; a period must be longer than zero, {_PERIOD_EXAMPLES}"
        )
    elif _has_non_ascii_digit(stripped):
        raise InvalidInput(
            f"{field}: {q} contains non-ASCII digits; use the digits 0-9, {_PERIOD_EXAMPLES}"
        )
    else:
        raise InvalidInput(f"{field}: {q} is not a period; {_PERIOD_HINT}")

    days = w * 7 + d
    if y == 0 and mo == 0 and days == 0:
        raise InvalidInput(
            f"{field}: {q} is zero; a period must be longer than zero, {_PERIOD_EXAMPLES}"
        )
    total = y * _SIXTEENTHS_PER_YEAR + mo * _SIXTEENTHS_PER_MONTH + days * _SIXTEENTHS_PER_DAY
    if total > _MAX_PERIOD_SIXTEENTHS:
        raise InvalidInput(
            f"{field}: {q} is longer than {MAX_PERIOD_YEARS} years; "
            f"the longest accepted period is '{MAX_PERIOD_YEARS} years'"
        )
    return y, mo, days


def parse_period(text: str, field: str = "period") -> str:
    """Parse 'P1Y6M', 'P2W', '12 months', '30 days', ... into canonical ISO 'P{y}Y{m}M{d}D'."""
    if not isinstance(text, str):
        raise TypeError(f"parse_period expects str, got {type(text).__name__}")
    y, mo, d = _period_parts(field, text)
    # Months are not folded into years: '12 months' is what the agreement says, and P12M and
    # P1Y give the same dates anyway.
    return "P" + "".join(f"{n}{letter}" for n, letter in ((y, "Y"), (mo, "M"), (d, "D")) if n)


# cached: a replay asks it twice per loan issued (the loan period, the inventory interval), and a
# ledger holds a handful of distinct periods; a refusal is raised again each time (not cached)
@functools.lru_cache(maxsize=256)
def _canonical_parts(iso: str) -> tuple[int, int, int]:
    # Stored periods must be exactly what parse_period wrote (every input is parsed first), so
    # anything else is a table cell edited by hand: one line, exit 3, as an edited mass or time
    # (a ValueError here was a traceback in `loans show`, `status`, `agreements show`, reports)
    m = re.fullmatch(_CANONICAL, iso) if isinstance(iso, str) else None
    if m is None or not any(m.groups()):
        raise _edited_period(iso)
    try:
        canonical = parse_period(iso)
    except InvalidInput:
        raise _edited_period(iso) from None
    if canonical != iso:
        raise _edited_period(iso)
    y, mo, d = (int(g) if g else 0 for g in m.groups())
    return y, mo, d


def _edited_period(iso: object) -> EditedTable:
    """The one line for a stored period no release writes."""
    return EditedTable(
        f"a stored period holds {quote_input(str(iso), 60)}, not a period as this "
        "program writes one (P1Y6M): the ledger's tables were edited outside sampleloans; run "
        "'sampleloans verify' and restore the latest verified backup"
    )


def period_delta(iso: str) -> relativedelta:
    """Turn a canonical period from parse_period into a relativedelta for date arithmetic."""
    y, mo, d = _canonical_parts(iso)
    return relativedelta(years=y, months=mo, days=d)


_PERIOD_START = datetime(2000, 1, 1)  # the one date `period_longer` counts both periods from


def period_longer(period_a: str, period_b: str) -> bool:
    """Whether canonical period a is longer than period b (both counted from one date)."""
    return _PERIOD_START + period_delta(period_a) > _PERIOD_START + period_delta(period_b)


def whole_days_within(iso: str) -> int:
    """The most whole days no longer than canonical period `iso` as `period_longer` counts
    (P6M: 182 days), the longest '--period N days' a limit of `iso` lets by."""
    return (_PERIOD_START + period_delta(iso) - _PERIOD_START).days


def format_period(iso: str) -> str:
    """Say a canonical period in words: 'P1Y6M' -> '1 year 6 months', 'P14D' -> '14 days'."""
    parts = zip(_canonical_parts(iso), ("year", "month", "day"), strict=True)
    return " ".join(f"{n} {unit}" if n == 1 else f"{n} {unit}s" for n, unit in parts if n)
