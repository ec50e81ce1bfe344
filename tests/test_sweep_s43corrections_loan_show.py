"""Sweep s43 "a curator puts their mistakes right": `loans show` names the corrections.

Before: a shipment recorded with the wrong seal (or courier, or `--at`) is put right by a note,
`custody correct SEQ --text …`, the README's way; `custody history`, the custody report and
the statement mark the shipment "corrected by N", but `loans show`, where a curator or a
borrower reads a loan's shipments and seals, still printed the wrong seal with no word of the
note, in its table and in `--json`. A corrected consumption read as if recorded so. After:
`loans show` ends with a `Corrections` table (event, the event it corrects, when, by whom, the
note or the mass corrected and why), and `--json` has `corrections`; a loan with none has no
table and `[]`.
"""

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.i15_statement_helpers import env_for, make_demo

SHIPMENT = 94  # the demo's outbound shipment of L-2025-OU, seal SL-OU-01
NOTE = "seal number was SL-OU-02, not SL-OU-01"


def run(env: dict[str, str], *args: str) -> Any:
    """Run one command in-process; it must succeed."""
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == 0, f"{args}: {result.output}"
    return result


@pytest.fixture
def corrected(tmp_path: Path) -> Path:
    """A demo copy whose L-2025-OU shipment got a note and whose consumption got a new mass."""
    ledger = make_demo(tmp_path / "demo")
    env = env_for(ledger)
    run(env, "custody", "correct", str(SHIPMENT), "--text", NOTE)
    run(env, "custody", "correct", "99", "--mass", "0.4mg", "--reason", "lab log says 0.4 mg")
    return ledger


def test_the_table_names_each_correction_of_the_loan(corrected: Path) -> None:
    env = {**env_for(corrected, now="2026-06-16T09:00:00Z"), "COLUMNS": "250"}
    shown = run(env, "loans", "show", "L-2025-OU")
    text = " ".join(shown.stdout.replace("│", " ").split())
    assert "Corrections" in text
    assert f"108 {SHIPMENT} 2026-06-15 09:00 curator@naoc.example {NOTE}" in text
    assert "consumption of CE5C0200YJFM00112 corrected: 500 µg → 400 µg" in text


@pytest.mark.parametrize("reader", ["curator@naoc.example", "anand@open.example"])
def test_the_json_lists_them_for_the_curator_and_the_borrower(corrected: Path, reader: str) -> None:
    shown = json.loads(
        run(env_for(corrected, reader), "loans", "show", "L-2025-OU", "--json").stdout
    )
    assert [(c["seq"], c["corrects_seq"]) for c in shown["corrections"]] == [
        (108, SHIPMENT),
        (109, 99),
    ]
    note = shown["corrections"][0]
    assert note == {
        "seq": 108,
        "corrects_seq": SHIPMENT,
        "occurred_at": "2026-06-15T09:00:00Z",
        "recorded_by": "curator@naoc.example",
        "description": NOTE,
    }
    assert [c["mass_ug"] for c in shown["consumptions"]] == [400]  # the mass in force


def test_a_loan_without_corrections_has_none(corrected: Path) -> None:
    env = env_for(corrected)
    assert json.loads(run(env, "loans", "show", "L-2025-UoC", "--json").stdout)["corrections"] == []
    assert "Corrections" not in run(env, "loans", "show", "L-2025-UoC").stdout
