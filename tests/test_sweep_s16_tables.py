"""Sweep s16, what users read: a mass in a table is never folded inside itself.

A mass cut as "10.40" over "0 mg" reads as another value. The tables of `loans show` (items,
consumptions, weighing discrepancies), `loans list` and `status` keep each mass's figures on one
line whenever the table's columns have room for their longest words, as `balance` and `samples
list` already did.
"""

import json
import re
from typing import Any

import pytest

from sampleloans.units import format_mass
from tests.conftest import demo_env, run_at_width

CURATOR = "curator@naoc.example"
NOW = "2026-04-28T10:00:00Z"
LOANS = ("L-2025-IPGP", "L-2025-OU", "L-2025-Osaka", "L-2025-SUPARCO", "L-2025-UoC")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo ledger (the 2025 round) and the environment to read it as the curator."""
    return demo_env(tmp_path_factory, CURATOR, NOW)


def run(env: dict[str, str], *args: str, columns: int = 80) -> Any:
    """Invoke the CLI at a terminal width (80 columns unless given); it must succeed."""
    return run_at_width(env, *args, columns=columns)


def masses_of(detail: dict[str, Any]) -> set[str]:
    """The figures ('10.400' of '10.400 mg') of every mass `loans show --json` gives."""
    values = [
        item[key]
        for item in detail["items"]
        for key in ("issued_ug", "held_ug", "consumed_ug", "returned_ug", "split_ug", "lost_ug")
    ]
    values += [c["mass_ug"] for c in detail["consumptions"]]
    for w in detail["weighing_discrepancies"]:
        values += [w["expected_ug"], w["weighed_ug"], abs(w["difference_ug"])]
    return {format_mass(v).split()[0] for v in values}


def folded(words: set[str], text: str) -> list[str]:
    """The words that never appear whole (not preceded by a digit or a point) in `text`."""
    return sorted(w for w in words if not re.search(rf"(?<![\d.]){re.escape(w)}(?![\d.])", text))


@pytest.mark.parametrize("number", LOANS)
def test_loans_show_keeps_every_mass_whole_at_80_columns(demo: dict[str, str], number: str) -> None:
    """Items, consumptions and discrepancies of a loan at 80 columns: no mass cut in two."""
    detail = json.loads(run(demo, "loans", "show", number, "--json").stdout)
    table = run(demo, "loans", "show", number).stdout
    assert folded(masses_of(detail), table) == []


def test_loans_list_and_status_keep_every_mass_whole(demo: dict[str, str]) -> None:
    """loans list at 100 columns and a researcher's status at 80: every mass whole."""
    rows = json.loads(run(demo, "loans", "list", "--json").stdout)
    words = {format_mass(r[k]).split()[0] for r in rows for k in ("issued_ug", "held_ug")}
    assert folded(words, run(demo, "loans", "list", columns=100).stdout) == []
    env = {**demo, "SAMPLELOANS_USER": "terada@osaka-u.example"}
    standing = json.loads(run(env, "status", "--json").stdout)
    words = {
        format_mass(i[k]).split()[0]
        for loan in standing["loans"]
        for i in loan["items"]
        for k in ("issued_ug", "held_ug")
    }
    assert folded(words, run(env, "status").stdout) == []
