"""A ledger edited by hand so that a receipt names no shipment: the receipt's own seq, another
receipt, or (events renumbered after one was cut out of the middle) whatever moved into the
shipment's place. Before stop 37 `loans show` followed such a reference from receipt to receipt
forever and died with a RecursionError traceback; now it shows the loan, and `verify` names
the damage.

Each case rewrites the chain from the edited event on, hashes recomputed, as someone with the
file and this repository's code would: only the replay (and a kept checkpoint) can tell.
"""

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.ledger import chain
from tests.conftest import COMPLIANCE, CURATOR, DEMO_NOW, demo_copy

UOC_RECEIPT = 85
"""The demo's receipt of loan L-2025-UoC (it names its shipment, event 83)."""


def _rechain(connection: sqlite3.Connection, start: int) -> None:
    """Recompute every hash from event `start` on, as a forger would."""
    prev = connection.execute(
        "SELECT hash FROM ledger_event WHERE seq < ? ORDER BY seq DESC LIMIT 1", (start,)
    ).fetchone()[0]
    rows = connection.execute(
        "SELECT * FROM ledger_event WHERE seq >= ? ORDER BY seq", (start,)
    ).fetchall()
    for row in rows:
        body = {name: row[name] for name in chain.BODY_FIELDS}
        digest = chain.link_hash(prev, body)
        connection.execute(
            "UPDATE ledger_event SET prev_hash = ?, hash = ? WHERE seq = ?",
            (prev, digest, row["seq"]),
        )
        prev = digest


def _edit(path: Path, change: Any, start: int) -> None:
    """Drop the append-only triggers, change the events, rechain from `start`, restore them."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.row_factory = sqlite3.Row
    try:
        connection.execute("BEGIN")
        for name in db.TRIGGER_NAMES:
            connection.execute(f"DROP TRIGGER {name}")
        change(connection)
        _rechain(connection, start)
        for statement in db.APPEND_ONLY_TRIGGERS:
            connection.execute(statement)
        connection.execute("COMMIT")
    finally:
        connection.close()


def _receipt_names(seq: int, shipment_seq: int) -> Any:
    """A change: receipt `seq` names event `shipment_seq` and leaves its parties to defaults."""

    def change(connection: sqlite3.Connection) -> None:
        stored = connection.execute("SELECT payload FROM ledger_event WHERE seq = ?", (seq,))
        payload = json.loads(stored.fetchone()[0])
        del payload["released_by"], payload["received_by"]
        payload["shipment_seq"] = shipment_seq
        connection.execute(
            "UPDATE ledger_event SET payload = ? WHERE seq = ?", (chain.canonical(payload), seq)
        )

    return change


def _cut_and_renumber(seq: int) -> Any:
    """A change: event `seq` removed and every later event moved down one place."""

    def change(connection: sqlite3.Connection) -> None:
        connection.execute("DELETE FROM event_subject WHERE seq = ?", (seq,))
        connection.execute("DELETE FROM ledger_event WHERE seq = ?", (seq,))
        last = connection.execute("SELECT max(seq) FROM ledger_event").fetchone()[0]
        for later in range(seq + 1, last + 1):
            connection.execute("UPDATE event_subject SET seq = ? WHERE seq = ?", (later - 1, later))
            connection.execute("UPDATE ledger_event SET seq = ? WHERE seq = ?", (later - 1, later))

    return change


CASES = {
    "a receipt naming itself": (_receipt_names(UOC_RECEIPT, UOC_RECEIPT), UOC_RECEIPT),
    "two receipts naming each other": (
        lambda connection: (
            _receipt_names(90, 91)(connection),
            _receipt_names(91, 90)(connection),
        ),
        90,
    ),
    "an event cut out and the rest renumbered": (_cut_and_renumber(60), 60),
}


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A copy of the demo ledger and the environment to read it."""
    path = demo_copy(tmp_path / "demo")
    return {"SAMPLELOANS_DB": str(path), "SAMPLELOANS_NOW": DEMO_NOW, "NO_COLOR": "1"}


def s37_cli(env: dict[str, str], who: str, *args: str) -> Any:
    """One CLI command as `who` in `env` (wide, so no line folds); it must end by an exit, never
    an exception (a traceback): the stop 37 attack files' runner."""
    result = CliRunner().invoke(app, ["--as", who, *args], env={**env, "COLUMNS": "400"})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_receipt_naming_no_shipment_is_shown_and_verify_names_it(
    env: dict[str, str], case: str
) -> None:
    change, start = CASES[case]
    _edit(Path(env["SAMPLELOANS_DB"]), change, start)
    for number in ("L-2025-UoC", "L-2025-Osaka", "L-2025-IPGP", "L-2025-OU"):
        shown = s37_cli(env, CURATOR, "loans", "show", number)
        assert shown.exit_code == 0, (number, shown.stderr)
        assert f"loan            {number}" in shown.stdout
    history = s37_cli(env, CURATOR, "custody", "history", "--loan", "L-2025-UoC")
    assert history.exit_code == 0, history.stderr
    verified = s37_cli(env, COMPLIANCE, "verify")
    assert verified.exit_code == 1
    assert "[replay]" in verified.stdout, verified.stdout
