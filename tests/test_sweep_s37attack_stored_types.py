"""An event row edited in the file to hold a BLOB where the program writes text (SQLite keeps
any value in any column): the same bytes cast to a BLOB, or other bytes. Before stop 37
`verify` stopped at it with `Error: event: b'…' cannot be stored`, exit 2 (invalid input, as
if the user had typed something wrong), or a TypeError traceback for a BLOB `prev_hash`; the
next write said the same exit 2, and `export --events` too. Now `verify` names the event and
the field (exit 1), and a write or an export refuses the ledger as changed outside the program
(exit 3), nothing written.
"""

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from sampleloans import db
from sampleloans.services.verify import verify
from tests.conftest import COMPLIANCE, CURATOR, DEMO_NOW, demo_copy, fingerprint
from tests.test_sweep_s37attack_receipt_refs import s37_cli

LAST = 107
"""The demo's last event."""

CASES = {
    # name: (the event, the edit, what verify and the refusals name)
    "the last event's actor": (LAST, "actor = x'00'", "its actor is stored as a BLOB, not text"),
    "the last event's prev_hash": (
        LAST,
        "prev_hash = CAST(prev_hash AS BLOB)",
        "its prev_hash is stored as a BLOB, not text",
    ),
    "an old event's payload, the same bytes": (
        50,
        "payload = CAST(payload AS BLOB)",
        "its payload is stored as a BLOB, not text",
    ),
    "an old event's reason": (
        49,
        "reason = x'6869'",
        "its reason is stored as a BLOB, not text",
    ),
}


def _edit(path: Path, seq: int, change: str) -> None:
    """Drop the append-only triggers, change one event row, put them back."""
    with closing(sqlite3.connect(path, isolation_level=None)) as connection:
        connection.execute("BEGIN")
        for name in db.TRIGGER_NAMES:
            connection.execute(f"DROP TRIGGER {name}")
        connection.execute(f"UPDATE ledger_event SET {change} WHERE seq = ?", (seq,))
        for statement in db.APPEND_ONLY_TRIGGERS:
            connection.execute(statement)
        connection.execute("COMMIT")


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_blob_in_an_event_is_named_by_verify_and_refused_by_writes(
    tmp_path: Path, case: str
) -> None:
    seq, change, words = CASES[case]
    path = demo_copy(tmp_path / "demo")
    _edit(path, seq, change)
    env = {"SAMPLELOANS_DB": str(path), "SAMPLELOANS_NOW": DEMO_NOW, "NO_COLOR": "1"}
    verified = s37_cli(env, COMPLIANCE, "verify")
    assert verified.exit_code == 1, verified.stderr
    assert f"[chain] event {seq} (" in verified.stdout
    assert f") was edited: {words}" in verified.stdout
    engine = db.open_engine(db.url_for_path(path))
    try:
        assert any(words in p.message for p in verify(engine).problems)
    finally:
        engine.dispose()

    before = fingerprint(path)
    exported = tmp_path / "events.jsonl"
    export = s37_cli(env, COMPLIANCE, "export", "--events", str(exported))
    assert export.exit_code == 3
    assert export.stderr.strip().splitlines() == [
        f"Error: the ledger {path} was changed outside sampleloans: event {seq} was edited: "
        f"{words}; nothing was written; run 'sampleloans verify' and restore the latest "
        "verified backup"
    ]
    assert not exported.exists()
    if seq == LAST:  # the guard reads the last event only (what verify is for is the rest)
        move = ["samples", "move", "CE5C0400YJFM00505", "--location", "cabinet C"]
        written = s37_cli(env, CURATOR, *move)
        assert written.exit_code == 3
        assert written.stderr.strip().splitlines() == [
            f"Error: the ledger was changed outside sampleloans: event {seq} (the last) was "
            f"edited: {words}; nothing was written (run 'sampleloans verify', and restore "
            "the last good backup)"
        ]
    assert fingerprint(path) == before
    shown = s37_cli(env, CURATOR, "loans", "show", "L-2025-IPGP")
    assert shown.exit_code == 0, shown.stderr  # a read still shows the projections
