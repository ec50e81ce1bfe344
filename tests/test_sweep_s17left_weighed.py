"""Sweep s17-left: a `--weighed CODE=MASS` naming a sample that is not in the shipment is named
as such, with the samples the shipment carries (before, `loans accept-return` asked for the
weighed mass of the sample that travels, as if the unknown code had not been typed)."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import CURATOR, OU_RETURNED, demo_with_a_return_in_flight, fingerprint

RETURNED = OU_RETURNED  # 20.000 mg of L-2025-OU, released for return by the fixture
STILL_HELD = "CE5C0500YJFM00415"  # another sample of L-2025-OU, still with the borrower
OF_ANOTHER_LOAN = "CE5C0100YJFM00102"  # not a sample of L-2025-OU


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo at its usual moment, one OU sample released for return (on its way back)."""
    return demo_with_a_return_in_flight(tmp_path_factory, CURATOR)


def _refused(env: dict[str, str], *args: str) -> str:
    """The command exits 2 with one `Error:` line, writes nothing; returns the line."""
    db = Path(env["SAMPLELOANS_DB"])
    before = fingerprint(db)
    result = CliRunner().invoke(app, list(args), env={**env, "COLUMNS": "200"})
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: ")
    assert fingerprint(db) == before
    return result.stderr.strip()


def _accept(env: dict[str, str], *weighed: str) -> str:
    args = ["loans", "accept-return", "L-2025-OU", "--seal-intact", "--condition", "ok"]
    for value in weighed:
        args += ["--weighed", value]
    return _refused(env, *args)


@pytest.mark.parametrize("other", [STILL_HELD, OF_ANOTHER_LOAN, "CE5C9999NOSUCH0001"])
def test_accept_return_names_a_code_not_in_the_return_shipment(
    env: dict[str, str], other: str
) -> None:
    line = _accept(env, f"{other}=20mg")
    assert line == (
        f"Error: --weighed: {other} is not in the return shipment of loan L-2025-OU under seal S1; "
        f"it carries {RETURNED}"
    )


def test_accept_return_names_the_stranger_even_beside_the_right_sample(
    env: dict[str, str],
) -> None:
    line = _accept(env, f"{RETURNED}=20mg", f"{STILL_HELD}=20mg")
    assert f"{STILL_HELD} is not in the return shipment" in line
    assert line.endswith(f"it carries {RETURNED}")


def test_accept_return_still_asks_for_a_missing_weighing_and_a_double_one(
    env: dict[str, str],
) -> None:
    line = _accept(env, f"{RETURNED}=20mg", f"{RETURNED}=20mg")
    assert line == f"Error: --weighed: {RETURNED} is given twice; weigh each sample once"


# `loans receive` gives the same line: tests/test_cli_loans.py::
# test_receive_with_a_malformed_weighing_is_refused
