"""Events rewritten by hand, their chain recomputed, to hold a payload no release writes: a JSON
array where an object belongs, or one nested deeper than Python's stack; and a loan's agreement
row deleted. Before stop 37 `verify` died with an AttributeError or RecursionError traceback,
and `loans show` with an AssertionError; now `verify` names the event (exit 1) and `loans
show` says in one line what is missing (exit 3).
"""

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from tests.conftest import COMPLIANCE, CURATOR, DEMO_NOW, demo_copy
from tests.test_sweep_s37attack_receipt_refs import _edit, s37_cli

SHIPPED = 100
"""A loan.shipped event of the demo."""

PAYLOADS = {
    "an array": ("[1,2]", "its payload is not a JSON object"),
    "nested too deep": ("[" * 100_000 + "]" * 100_000, "maximum recursion depth exceeded"),
}


@pytest.mark.parametrize("case", sorted(PAYLOADS))
def test_verify_names_a_payload_that_is_no_object(tmp_path: Path, case: str) -> None:
    text, said = PAYLOADS[case]
    path = demo_copy(tmp_path / "demo")

    def change(connection: sqlite3.Connection) -> None:
        connection.execute("UPDATE ledger_event SET payload = ? WHERE seq = ?", (text, SHIPPED))

    _edit(path, change, SHIPPED)
    env = {"SAMPLELOANS_DB": str(path), "SAMPLELOANS_NOW": DEMO_NOW, "NO_COLOR": "1"}
    verified = s37_cli(env, COMPLIANCE, "verify")
    assert verified.exit_code == 1, verified.stderr
    assert f"[replay] event {SHIPPED} (loan.shipped) cannot be replayed: {said}" in (
        verified.stdout
    )
    history = s37_cli(env, CURATOR, "custody", "history", "--loan", "L-2025-IPGP")
    assert history.exit_code in (0, 3), history.stderr
    assert len(history.stderr.strip().splitlines()) <= 1


def test_loans_show_names_a_missing_agreement_row(tmp_path: Path) -> None:
    path = demo_copy(tmp_path / "demo")
    with closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA foreign_keys = OFF")
        connection.execute("DELETE FROM agreement WHERE number = 'AG-2025-OU'")
        connection.commit()
    env = {"SAMPLELOANS_DB": str(path), "SAMPLELOANS_NOW": DEMO_NOW, "NO_COLOR": "1"}
    shown = s37_cli(env, CURATOR, "loans", "show", "L-2025-OU")
    assert shown.exit_code == 3
    assert shown.stderr.strip().splitlines() == [
        "Error: loan L-2025-OU: its agreement AG-2025-OU has no row in the agreement table: "
        "the ledger's tables were edited outside sampleloans; nothing was written; run "
        "'sampleloans verify' and restore the latest verified backup"
    ]
    verified = s37_cli(env, COMPLIANCE, "verify")
    assert verified.exit_code == 1
    assert "[projection] agreement row AG-2025-OU is produced by the events but missing" in (
        verified.stdout
    )
