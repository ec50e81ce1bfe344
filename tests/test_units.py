"""Table-driven tests for sampleloans.units: masses in integer micrograms and loan periods."""

from __future__ import annotations

import pytest
from dateutil.relativedelta import relativedelta
from hypothesis import given
from hypothesis import strategies as st

from sampleloans.errors import EditedTable, InvalidInput
from sampleloans.units import (
    MAX_MASS_UG,
    format_mass,
    format_period,
    masses_grouped,
    parse_mass_ug,
    parse_period,
    period_delta,
    quote_input,
)

# --- parse_mass_ug: accepted ----------------------------------------------------------------

GOOD_MASSES: list[tuple[str, int]] = [
    ("20 mg", 20_000),
    ("20mg", 20_000),
    ("2.5 g", 2_500_000),
    ("500 ug", 500),
    ("500 µg", 500),  # U+00B5 MICRO SIGN
    ("500 μg", 500),  # U+03BC GREEK SMALL LETTER MU
    ("500µg", 500),
    ("1 ug", 1),
    ("1 UG", 1),
    ("1 µG", 1),
    ("20 MG", 20_000),
    ("20 Mg", 20_000),
    ("20 mG", 20_000),
    ("3 G", 3_000_000),
    ("  20 mg  ", 20_000),
    ("\t20 mg\n", 20_000),
    ("20   mg", 20_000),
    ("0.001 mg", 1),
    ("0.000001 g", 1),
    ("17.476 mg", 17_476),
    ("17.4764 g", 17_476_400),
    ("20.000001 g", 20_000_001),
    ("1731 g", 1_731_000_000),
    ("10000 g", MAX_MASS_UG),
    ("10000000 mg", MAX_MASS_UG),
    ("10000000000 ug", MAX_MASS_UG),
    ("007 mg", 7_000),
    ("1.000 ug", 1),
    ("0.0010 mg", 1),
    ("2.180 g", 2_180_000),
    ("0.5 mg", 500),
    # 0.1 has no exact float; Decimal keeps it exact (float would give 99999.99999999999).
    ("0.1 g", 100_000),
    ("1.1 mg", 1_100),
]


@pytest.mark.parametrize(("text", "expected"), GOOD_MASSES)
def test_parse_mass_accepts(text: str, expected: int) -> None:
    assert parse_mass_ug(text) == expected


@pytest.mark.parametrize("text", ["0 mg", "0 ug", "0.000 g", "  0µg "])
def test_parse_mass_zero_only_when_allowed(text: str) -> None:
    assert parse_mass_ug(text, allow_zero=True) == 0
    with pytest.raises(InvalidInput, match="is zero"):
        parse_mass_ug(text)


# --- parse_mass_ug: refused -----------------------------------------------------------------

BAD_MASSES: list[tuple[str, str]] = [
    ("", "is empty"),
    ("   ", "is empty"),
    ("\t\n", "is empty"),
    ("20", "add a unit, e.g. '20 mg'"),
    ("2.5", "add a unit"),
    ("20 kg", "unknown unit 'kg'"),
    ("20 mcg", "unknown unit 'mcg'"),
    ("20 milligrams", "unknown unit"),
    ("20 lb", "use ug, µg, mg or g"),
    # Greek capital MU looks like Latin M: accepting it as µg would be a 1000x error.
    ("20 \u039cG", "unknown unit"),
    ("20 \u043cg", "unknown unit"),  # Cyrillic em
    ("20 ｍｇ", "unknown unit"),  # fullwidth letters
    ("nan mg", "not a finite number"),
    ("NaN", "not a finite number"),
    ("inf mg", "not a finite number"),
    ("-Infinity g", "not a finite number"),
    ("1e309", "exponent notation"),
    ("1e3 mg", "exponent notation"),
    ("2.5E-3 g", "exponent notation"),
    ("1,5 mg", "contains a comma"),
    ("1,000 mg", "contains a comma"),
    ("1_000 mg", "contains an underscore"),
    ("١٢٣ mg", "non-ASCII digits"),  # Arabic-Indic digits
    ("１２ mg", "non-ASCII digits"),  # fullwidth digits
    ("-1 mg", "is negative"),
    ("\u22121 mg", "is negative"),  # U+2212 MINUS SIGN
    ("-0 mg", "is zero"),  # a sign is no part of a mass: minus zero is zero
    ("0 mg", "is zero"),
    ("0.0000 g", "is zero"),
    ("0.0001 mg", "finer than 1 µg"),
    ("1.5 ug", "finer than 1 µg"),
    ("0.0000001 g", "finer than 1 µg"),
    ("10000.000001 g", "more than 10 kg"),
    ("10001 g", "more than 10 kg"),
    ("10000000001 ug", "more than 10 kg"),
    ("9" * 5000 + " g", "more than 10 kg"),
    (".5 mg", "digits on both sides of the decimal point"),
    ("5. mg", "digits on both sides of the decimal point"),
    ("mg", "is not a mass"),
    ("twenty mg", "is not a mass"),
    ("+5 mg", "has a sign; write the mass without one: '5 mg'"),
    ("1.2.3 mg", "is not a mass"),
    ("5\x00 mg", "non-printable"),
    ("\x1b[31m5 mg", "non-printable"),
    ("5\u202emg", "non-printable"),  # bidi override
]


@pytest.mark.parametrize(("text", "phrase"), BAD_MASSES)
def test_parse_mass_refuses(text: str, phrase: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_mass_ug(text, "returned_mass")
    message = str(info.value)
    assert message.startswith("returned_mass: ")
    assert phrase in message
    assert "\n" not in message
    assert message.isprintable()


def test_mass_message_matches_documented_example() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_mass_ug("1,5 mg")
    assert str(info.value).startswith("mass: '1,5 mg' ")


def test_mass_message_truncates_and_escapes() -> None:
    text = "\x1b[2J" + "x" * 100 + " mg"
    with pytest.raises(InvalidInput) as info:
        parse_mass_ug(text)
    message = str(info.value)
    assert "\x1b" not in message
    assert "'\\x1b[2J" + "x" * 36 + "…'" in message
    assert "x" * 37 not in message


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("abc", "'abc'"),
        ("a\x00b", "'a\\x00b'"),
        ("a" * 40, "'" + "a" * 40 + "'"),
        ("a" * 41, "'" + "a" * 40 + "…'"),
        ("it's", '"it\'s"'),
        ("µg", "'µg'"),
    ],
)
def test_quote_input(value: str, shown: str) -> None:
    assert quote_input(value) == shown


@pytest.mark.parametrize("value", [20.0, None, b"20 mg", 20])
def test_parse_mass_rejects_non_strings(value: object) -> None:
    with pytest.raises(TypeError):
        parse_mass_ug(value)  # type: ignore[arg-type]  # not a string on purpose: refused


# --- format_mass ----------------------------------------------------------------------------

FORMATTED: list[tuple[int, str]] = [
    (0, "0 µg"),
    (1, "1 µg"),
    (500, "500 µg"),
    (999, "999 µg"),
    (1_000, "1.000 mg"),
    (1_001, "1.001 mg"),
    (17_476, "17.476 mg"),
    (20_000, "20.000 mg"),
    (999_999, "999.999 mg"),
    (1_000_000, "1.000 g"),
    (2_180_000, "2.180 g"),
    (17_476_400, "17.4764 g"),
    (17_476_410, "17.47641 g"),
    (20_000_001, "20.000001 g"),
    (1_731_000_000, "1,731.000 g"),
    (MAX_MASS_UG, "10,000.000 g"),
    (-500, "-500 µg"),
    (-17_476, "-17.476 mg"),
    (-20_000_001, "-20.000001 g"),
    (-2_180_000, "-2.180 g"),
]


@pytest.mark.parametrize(("mass", "shown"), FORMATTED)
def test_format_mass(mass: int, shown: str) -> None:
    assert format_mass(mass) == shown


@pytest.mark.parametrize("value", [True, False, 1.0, "20", None])
def test_format_mass_refuses_non_int(value: object) -> None:
    # one line, exit 3: only a table cell edited in the file hands it anything else (stop 37)
    with pytest.raises(EditedTable, match="not a whole number of micrograms"):
        format_mass(value)  # type: ignore[arg-type]  # not an int on purpose: refused


@given(st.integers(min_value=1, max_value=MAX_MASS_UG))
def test_format_then_parse_round_trips(mass: int) -> None:
    """A mass as printed reads back once its thousands separators are dropped, as the refusal
    of a comma says (a comma typed is never guessed at: "1,500" is 1.5 in much of Europe)."""
    assert parse_mass_ug(format_mass(mass).replace(",", "")) == mass
    with masses_grouped(False):
        assert parse_mass_ug(format_mass(mass)) == mass


def test_a_printed_mass_with_thousands_grouped_is_refused_as_typed() -> None:
    with pytest.raises(InvalidInput, match=r"contains a comma; use '\.' as the decimal point"):
        parse_mass_ug(format_mass(1_731_000_000))


@given(st.integers(min_value=-MAX_MASS_UG, max_value=-1))
def test_negative_format_is_minus_positive_format(mass: int) -> None:
    assert format_mass(mass) == "-" + format_mass(-mass)


# --- parse_period ---------------------------------------------------------------------------

GOOD_PERIODS: list[tuple[str, str]] = [
    ("P1Y", "P1Y"),
    ("p1y", "P1Y"),
    ("P6M", "P6M"),
    ("P1Y6M", "P1Y6M"),
    ("P30D", "P30D"),
    ("P2W", "P14D"),
    ("p2w", "P14D"),
    ("P1W3D", "P10D"),
    ("P1Y0M", "P1Y"),
    ("P12M", "P12M"),
    ("P100Y", "P100Y"),
    ("P1200M", "P1200M"),
    ("P36525D", "P36525D"),
    ("12 months", "P12M"),
    ("1 month", "P1M"),
    ("6 months", "P6M"),
    ("1 year", "P1Y"),
    ("2 years", "P2Y"),
    ("30 days", "P30D"),
    ("1 day", "P1D"),
    ("2 weeks", "P14D"),
    ("1 week", "P7D"),
    ("12months", "P12M"),
    ("2 Years", "P2Y"),
    ("  6 MONTHS ", "P6M"),
    ("1 year 6 months", "P1Y6M"),
    ("1 years", "P1Y"),
    ("100 years", "P100Y"),
]


@pytest.mark.parametrize(("text", "canonical"), GOOD_PERIODS)
def test_parse_period_accepts(text: str, canonical: str) -> None:
    assert parse_period(text) == canonical


BAD_PERIODS: list[tuple[str, str]] = [
    ("", "is empty"),
    ("  ", "is empty"),
    ("P0D", "is zero"),
    ("P0Y0M", "is zero"),
    ("0 days", "is zero"),
    ("-P1Y", "is negative"),
    ("P-1Y", "is negative"),
    ("-6 months", "is negative"),
    ("PT5H", "time part"),
    ("P1DT12H", "time part"),
    ("pt30m", "time part"),
    ("P101Y", "longer than 100 years"),
    ("P1201M", "longer than 100 years"),
    ("P36526D", "longer than 100 years"),
    ("P99Y13M", "longer than 100 years"),
    ("101 years", "longer than 100 years"),
    ("P" + "9" * 5000 + "Y", "longer than 100 years"),
    ("P", "is not a period"),
    ("soon", "is not a period"),
    ("P1.5Y", "is not a period"),
    ("1.5 years", "is not a period"),
    ("12", "is not a period"),
    ("12 hours", "is not a period"),
    ("P1M1Y", "is not a period"),
    ("2 weeks 3 weeks", "more than once"),
    ("P１Y", "non-ASCII digits"),
    ("P1Y\x00", "non-printable"),
]


@pytest.mark.parametrize(("text", "phrase"), BAD_PERIODS)
def test_parse_period_refuses(text: str, phrase: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_period(text, "loan_period")
    message = str(info.value)
    assert message.startswith("loan_period: ")
    assert phrase in message
    assert message.isprintable()


# --- period_delta / format_period -----------------------------------------------------------


@pytest.mark.parametrize(
    ("iso", "delta", "words"),
    [
        ("P1Y", relativedelta(years=1), "1 year"),
        ("P6M", relativedelta(months=6), "6 months"),
        ("P1Y6M", relativedelta(years=1, months=6), "1 year 6 months"),
        ("P14D", relativedelta(days=14), "14 days"),
        ("P1D", relativedelta(days=1), "1 day"),
        ("P12M", relativedelta(months=12), "12 months"),
        ("P2Y1M3D", relativedelta(years=2, months=1, days=3), "2 years 1 month 3 days"),
    ],
)
def test_period_delta_and_words(iso: str, delta: relativedelta, words: str) -> None:
    assert period_delta(iso) == delta
    assert format_period(iso) == words
    # The words read back to the same canonical period.
    assert parse_period(words) == iso


@pytest.mark.parametrize("iso", ["P2W", "p1y", "P0D", "P01Y", "P101Y", "12 months", "", "P"])
def test_period_functions_refuse_non_canonical(iso: str) -> None:
    with pytest.raises(EditedTable, match="not a period as this program writes one"):
        period_delta(iso)
    with pytest.raises(EditedTable, match="not a period as this program writes one"):
        format_period(iso)
