"""Sweep s17-lab: masses a researcher types in their lab.

A sign is never part of a mass: '-0 ug' is zero, not "negative" (before: 'is negative; a mass
cannot be below zero'), so it gets zero's answer where zero is refused and, where zero is
accepted (a weighing), the words to write it without the sign; '+3 mg' says it has a sign
(before: 'is not a mass'). Exponent notation is refused with the same mass written out in the
unit typed (before: '1e3 ug' suggested '1000 mg', a thousand times more)."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import OU_PI, demo_env, fingerprint

SAMPLE = "CE5C0200YJFM00112"  # held by OU on L-2025-OU in the demo
CONSUME = ["loans", "consume", "L-2025-OU", "--sample", SAMPLE, "--technique", "SEM"]
CONSUME += ["--non-destructive"]
ACCEPT_RETURN = ["--as", "curator@naoc.example", "loans", "accept-return", "L-2025-OU"]
ACCEPT_RETURN += ["--seal-intact"]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo read and written by OU's PI."""
    return demo_env(tmp_path_factory, OU_PI)


def _consume(env: dict[str, str], mass: str) -> tuple[int, str]:
    """`loans consume` of the OU sample with `--mass MASS`: exit code and stderr."""
    before = fingerprint(Path(env["SAMPLELOANS_DB"]))
    result = CliRunner().invoke(
        app,
        [*CONSUME, "--mass", mass],
        env=env,
    )
    if result.exit_code != 0:
        assert fingerprint(Path(env["SAMPLELOANS_DB"])) == before
    return result.exit_code, result.stderr


@pytest.mark.parametrize("mass", ["-0 ug", "-0.000 mg", "\u22120 µg"])
def test_minus_zero_is_refused_as_zero_not_as_negative(env: dict[str, str], mass: str) -> None:
    code, stderr = _consume(env, mass)
    assert code == 2
    assert stderr.startswith(f"Error: --mass: {mass!r} is zero;"), stderr
    assert "negative" not in stderr


@pytest.mark.parametrize(("mass", "unsigned"), [("+3 mg", "3 mg"), ("+0.5 MG", "0.5 MG")])
def test_a_plus_sign_is_named_with_the_mass_written_without_it(
    env: dict[str, str], mass: str, unsigned: str
) -> None:
    code, stderr = _consume(env, mass)
    assert code == 2
    assert (
        stderr == f"Error: --mass: {mass!r} has a sign; write the mass without one: {unsigned!r}\n"
    )


def test_a_weighing_of_minus_zero_is_written_without_its_sign(env: dict[str, str]) -> None:
    result = CliRunner().invoke(
        app,
        [*ACCEPT_RETURN, "--condition", "ok", "--weighed", f"{SAMPLE}=-0mg"],
        env=env,
    )
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: --weighed {SAMPLE}: '-0mg' has a sign; write the mass without one: '0mg'\n"
    )


@pytest.mark.parametrize(
    ("mass", "written"),
    [("1e3 ug", "1000 ug"), ("1E3µg", "1000 µg"), ("2.5e-3 g", "0.0025 g"), ("5e2 mg", "500 mg")],
)
def test_exponent_notation_suggests_the_same_mass_written_out(
    env: dict[str, str], mass: str, written: str
) -> None:
    code, stderr = _consume(env, mass)
    assert code == 2
    assert stderr == (
        f"Error: --mass: {mass!r} uses exponent notation; write the digits out: {written!r}\n"
    )


def test_a_huge_exponent_gets_the_general_example(env: dict[str, str]) -> None:
    code, stderr = _consume(env, "1e999999999 ug")
    assert code == 2
    assert "uses exponent notation; write the digits out, e.g. '1000 ug'" in stderr


@pytest.mark.parametrize("mass", ["0.0005 mg", "0.5 ug", "0.0000005 g"])
def test_less_than_a_microgram_is_refused_naming_the_smallest(
    env: dict[str, str], mass: str
) -> None:
    code, stderr = _consume(env, mass)
    assert code == 2
    assert f"{mass!r} is finer than 1 µg" in stderr


@pytest.mark.parametrize("mass", ["1 UG", "1 Ug", " 1   µg ", "1μg", "0.001 MG"])
def test_units_in_any_case_spaces_and_either_mu_are_one_microgram(
    env: dict[str, str], mass: str
) -> None:
    code, stderr = _consume(env, mass)
    assert code == 0, stderr
