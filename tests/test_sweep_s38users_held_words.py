"""Sweep s38 "users" (3): `loans show` says where the mass is before receipt, as `status` does.

A loan issued and not yet shipped, or shipped and not yet received, is the borrower's to account
for but not in their hands: `status` says "3.200 mg shipped, not yet received", and the PI's
statement "3.200 mg (shipped, not yet received)". `loans show` said "held 3.200 mg" for it, one
view against the other. It now gives the same words beside the mass; once received, "held".
"""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import CURATOR, DEMO_NOW, OU_PI, demo_copy

CODE = "CE5C0000YJYX090"


def run(db_path: Path, actor: str, *args: str) -> str:
    """The CLI on `db_path` at the demo's 'now' as `actor` (exit 0); stdout."""
    env = {"SAMPLELOANS_DB": str(db_path), "SAMPLELOANS_NOW": DEMO_NOW, "COLUMNS": "100"}
    result = CliRunner().invoke(app, ["--as", actor, *args], env=env)
    assert result.exit_code == 0, (args, result.stdout, result.stderr)
    return result.stdout


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    """The demo with a new loan of one 3.2 mg bead to OU, approved (README's "A session")."""
    db_path = demo_copy(tmp_path / "demo")
    run(db_path, CURATOR, "samples", "register", CODE, "--mission", "CE-5", "--mass", "3.2 mg",
        "--origin", "scoop", "--material", "glass bead", "--form", "rock fragment", "--purpose",
        "research", "--location", "NAOC N2 cabinet B")  # fmt: skip
    run(db_path, CURATOR, "loans", "request", "L-2026-OU-2", "--agreement", "AG-2025-OU",
        "--pi", OU_PI, "--sample", CODE, "--period", "6 months")  # fmt: skip
    run(db_path, CURATOR, "loans", "approve", "L-2026-OU-2")
    return db_path


def held_lines(db_path: Path) -> tuple[str, str]:
    """`loans show`'s held line and `status`'s mass line of L-2026-OU-2, as the PI reads them."""
    shown = run(db_path, OU_PI, "loans", "show", "L-2026-OU-2").splitlines()
    status = run(db_path, OU_PI, "status", "--loan", "L-2026-OU-2").splitlines()
    return next(line for line in shown if line.startswith("held ")).rstrip(), status[1].strip()


def test_each_step_before_receipt_is_named_as_status_names_it(ledger: Path) -> None:
    """Issued, shipped, received: the same words in both views at each step."""
    run(ledger, CURATOR, "loans", "issue", "L-2026-OU-2")
    shown, status = held_lines(ledger)
    assert shown == "held            3.200 mg (issued, not yet shipped)"
    assert status.startswith("3.200 mg issued, not yet shipped;")
    run(ledger, CURATOR, "loans", "ship", "L-2026-OU-2", "--container", "box", "--seal", "S-2")
    shown, status = held_lines(ledger)
    assert shown == "held            3.200 mg (shipped, not yet received)"
    assert status.startswith("3.200 mg shipped, not yet received;")
    run(ledger, OU_PI, "loans", "receive", "L-2026-OU-2", "--seal-intact", "--condition", "ok")
    shown, status = held_lines(ledger)
    assert shown == "held            3.200 mg"
    assert status.startswith("held 3.200 mg;")


def test_the_json_keeps_the_mass_the_borrower_accounts_for(ledger: Path) -> None:
    """`--json` is unchanged: `held_ug` is what the borrower is accountable for, in transit too."""
    run(ledger, CURATOR, "loans", "issue", "L-2026-OU-2")
    run(ledger, CURATOR, "loans", "ship", "L-2026-OU-2", "--container", "box", "--seal", "S-2")
    shown = json.loads(run(ledger, OU_PI, "loans", "show", "L-2026-OU-2", "--json"))
    status = json.loads(run(ledger, OU_PI, "status", "--loan", "L-2026-OU-2", "--json"))
    assert shown["held_ug"] == status["loans"][0]["held_ug"] == 3200
