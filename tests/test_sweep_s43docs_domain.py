"""docs/domain.md, "Where our rules differ from the shared notes": an agreement in force is
checked when a loan is issued, not when it is requested or approved.

The notes the project started from put "agreement in force" between approved and issued as a
step of a loan; the demo's Brown loan is approved under an agreement not yet signed. This holds
the documented rule through the CLI: under the unsigned AG-2025-Brown a new request and its
approval are recorded, and the issue is refused (exit 1), naming the agreement, with nothing
written.
"""

import sqlite3
from pathlib import Path

from tests.i15_statement_helpers import env_for, invoke, make_demo

AGREEMENT = "AG-2025-Brown"


def event_count(ledger: Path) -> int:
    """How many events the ledger holds (read with sqlite3)."""
    with sqlite3.connect(ledger) as connection:
        return int(connection.execute("SELECT count(*) FROM ledger_event").fetchone()[0])


def test_a_loan_waits_for_the_signature_at_issue_not_before(tmp_path: Path) -> None:
    ledger = make_demo(tmp_path / "demo")
    env = env_for(ledger)
    requested = invoke(env, "loans", "request", "L-2026-Brown-2", "--agreement", AGREEMENT,
                       "--pi", "pi@brown.example", "--sample", "CE5C0000YJYX048")  # fmt: skip
    assert requested.exit_code == 0, requested.output
    approved = invoke(env, "loans", "approve", "L-2026-Brown-2")
    assert approved.exit_code == 0, approved.output
    before = event_count(ledger)
    issued = invoke(env, "loans", "issue", "L-2026-Brown-2")
    assert issued.exit_code == 1, issued.output
    assert issued.stderr.count("\n") == 1 and issued.stderr.startswith("Error: ")
    assert f"agreement {AGREEMENT}" in issued.stderr and "not signed" in issued.stderr
    assert event_count(ledger) == before
    shown = invoke(env, "loans", "show", "L-2026-Brown-2", "--json")
    assert '"status": "approved"' in shown.stdout
