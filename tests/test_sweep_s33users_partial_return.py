"""Sweep s33 "users" (3): a partial return in flight, a back-dated analysis and its correction.

`status` said "held 59.250 mg (20.000 mg of it on its way back)", as the statement and the
inventory report do; `loans show` gave no held mass at all, and its `--json` no `held_ug` or
`returning_ug`. It now gives the mass held in `status`'s words, and the same keys.
"""

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.dates import parse_datetime
from sampleloans.services.loan_views import loan_detail
from tests.conftest import ctx_for, demo_copy

CURATOR = "curator@naoc.example"
PI = "anand@open.example"
NOW = "2026-05-01T12:00:00Z"
LATER = parse_datetime(NOW, "now")


def _invoke(env: dict[str, str], user: str, *args: str) -> Any:
    """A command as `user` at 120 columns; it must succeed."""
    result = CliRunner().invoke(
        app, ["--as", user, *args], env={**env, "COLUMNS": "120", "SAMPLELOANS_NOW": NOW}
    )
    assert result.exit_code == 0, (args, result.output)
    return result


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo ledger on 1 May 2026: one of OU's three samples shipped back, not yet received;
    an analysis recorded today about 21 April; its mass corrected."""
    folder = tmp_path_factory.mktemp("partial") / "demo"
    demo_copy(folder)
    env = {"SAMPLELOANS_DB": str(folder / "ledger.db"), "NO_COLOR": "1"}
    _invoke(env, CURATOR, "loans", "return", "L-2025-OU", "--sample", "CE5C0300YJFM00307",
            "--container", "N2 box", "--seal", "SL-OU-R1")  # fmt: skip
    _invoke(env, PI, "loans", "consume", "L-2025-OU", "--sample", "CE5C0500YJFM00415",
            "--technique", "SEM", "--mass", "0.3 mg", "--destructive",
            "--at", "2026-04-21T09:00:00Z")  # fmt: skip
    _invoke(env, CURATOR, "custody", "correct", "109", "--mass", "0.25 mg", "--reason", "reweighed")
    return env


def test_loans_show_gives_the_mass_held_in_the_words_of_status(env: dict[str, str]) -> None:
    """The same line in `status` and `loans show`: 59.250 mg, 20.000 mg of it on its way back
    (60 mg issued, 500 µg and the corrected 250 µg consumed)."""
    said = "59.250 mg (20.000 mg of it on its way back)"
    assert f"held {said}" in _invoke(env, PI, "status").stdout
    assert f"held            {said}" in _invoke(env, PI, "loans", "show", "L-2025-OU").stdout


def test_loans_show_json_has_the_keys_of_status(env: dict[str, str]) -> None:
    """`loans show --json` has `held_ug` and `returning_ug`, equal to `status --json`'s."""
    shown = json.loads(_invoke(env, PI, "loans", "show", "L-2025-OU", "--json").stdout)
    standing = json.loads(_invoke(env, PI, "status", "--json").stdout)
    loans = standing["loans"] if isinstance(standing, dict) else standing
    (ou,) = [loan for loan in loans if loan.get("number", loan.get("loan_number")) == "L-2025-OU"]
    assert (shown["held_ug"], shown["returning_ug"]) == (59_250, 20_000)
    assert (ou["held_ug"], ou["returning_ug"]) == (59_250, 20_000)


def test_the_service_adds_up_the_held_items(env: dict[str, str]) -> None:
    """Service level: the detail's held mass is its items' held, the part on its way back the
    held mass of its items in return transit."""
    engine = db.open_engine(db.url_for_path(Path(env["SAMPLELOANS_DB"])))
    try:
        with db.transaction(engine, write=False) as session:
            detail = loan_detail(session, ctx_for(actor=PI, now=LATER), "L-2025-OU")
    finally:
        engine.dispose()
    assert detail.held_ug == sum(item.held_ug for item in detail.items) == 59_250
    assert detail.returning_ug == 20_000
