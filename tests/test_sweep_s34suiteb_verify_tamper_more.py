# ruff: noqa: F811  (the fixtures imported by name are the parameters of the tests below)
"""Tampering with raw sqlite3 outside the app, continued: deleted, truncated, rolled back,
forged and swapped events, projections edited without an event, dropped triggers, and the
anchor's parsing. `verify` must notice each.

The rich history, the tampering and the helpers are `tests/test_verify_tamper.py`'s; these
classes live in a file of their own so that the suite's workers (`--dist loadfile`) run the
two halves at the same time.
"""

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from sampleloans import db
from sampleloans.errors import InvalidInput
from sampleloans.ledger import chain
from sampleloans.services import loans
from sampleloans.services.verify import parse_anchor, verify
from sampleloans.units import parse_mass_ug as mass
from tests.conftest import Run
from tests.test_verify_tamper import (  # noqa: F401  (`template`, `engine`, `history`: fixtures)
    FRACTIONS,
    connect,
    engine,
    event,
    found,
    history,
    messages,
    position,
    rehashed,
    tamper,
    template,
)

# --- delete events ------------------------------------------------------------------------------


@pytest.mark.parametrize("fraction", FRACTIONS)
def test_deleted_event_is_detected(
    engine: Engine, history: tuple[int, str], db_path: Path, fraction: float
) -> None:
    head = history[0]
    seq = position(head, fraction)
    tamper(db_path, ("DELETE FROM ledger_event WHERE seq = ?", (seq,)))
    if seq < head:
        assert found(verify(engine), f"seq jumps from {seq - 1} to {seq + 1}")
    anchored = verify(engine, anchor=history)  # one run, both of its assertions
    assert found(
        anchored,
        f"the ledger ends at event {head - 1 if seq == head else head}",
    ) is (seq == head)
    assert not anchored.ok


@pytest.mark.parametrize("fraction", (0.1, 0.3, 0.6, 0.9, 0.99))
def test_truncated_tail_is_detected_with_the_earlier_anchor(
    engine: Engine, history: tuple[int, str], db_path: Path, fraction: float
) -> None:
    head = history[0]
    keep = position(head, fraction)
    keep = min(keep, head - 1)
    tamper(db_path, ("DELETE FROM ledger_event WHERE seq > ?", (keep,)))
    result = verify(engine, anchor=history)
    assert found(result, f"the ledger ends at event {keep} but the anchor is event {head}")


def test_rollback_to_an_older_copy_is_only_caught_by_the_anchor(
    engine: Engine, run: Run, history: tuple[int, str], db_path: Path
) -> None:
    backup_path = db_path.with_name("backup.db")
    source, target = sqlite3.connect(db_path), sqlite3.connect(backup_path)
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
    run(
        loans.consume,
        number="L-2",
        sample="CE5C0800YJFM00102",
        technique="XRD",
        mass_ug=mass("1 mg"),
        destructive=True,
    )
    later = verify(engine)
    assert later.ok
    old = db.open_engine(db.url_for_path(backup_path))
    try:
        assert verify(old).ok  # an older copy is internally consistent …
        result = verify(old, anchor=(later.head_seq, later.head_hash))
        assert found(result, f"the anchor is event {later.head_seq}")  # … but not the latest
    finally:
        old.dispose()


# --- projections edited without an event --------------------------------------------------------

PROJECTION_EDITS = {
    "sample-vault": (
        "UPDATE sample SET vault_ug = vault_ug - 1 WHERE code = 'CE5C0400YJFM00505'",
        ("sample row CE5C0400YJFM00505", "vault_ug is 249999"),
    ),
    "split-child-vault": (
        "UPDATE sample SET vault_ug = vault_ug + 5 WHERE code = 'CE5C0100YJFM00201-01'",
        ("sample row CE5C0100YJFM00201-01", "vault_ug"),
    ),
    "sample-custodian": (
        "UPDATE sample SET custodian = 'OU' WHERE code = 'CE5C0500YJFM00415'",
        ("sample row CE5C0500YJFM00415", "custodian is 'OU'"),
    ),
    "loan-item-held": (
        "UPDATE loan_item SET held_ug = held_ug - 1000, lost_ug = lost_ug + 1000"
        " WHERE loan_number = 'L-2'",
        ("loan_item row L-2/CE5C0800YJFM00102", "held_ug"),
    ),
    "loan-due-date": (
        "UPDATE loan SET due_at = '2030-01-01T00:00:00Z' WHERE number = 'L-2'",
        ("loan row L-2", "due_at"),
    ),
    "agreement-max-mass": (
        "UPDATE agreement SET max_total_mass_ug = 1 WHERE number = 'AG-OU'",
        ("agreement row AG-OU", "max_total_mass_ug is 1"),
    ),
    "incident-deleted": (
        "DELETE FROM incident",
        ("incident row", "produced by the events but missing"),
    ),
    "person-inserted": (
        "INSERT INTO person (email, name, institution, role)"
        " VALUES ('mallory@x.example', 'M', 'NAOC', 'curator')",
        ("person row mallory@x.example is in the database but no event produced it",),
    ),
}


@pytest.mark.parametrize("sql,expected", PROJECTION_EDITS.values(), ids=PROJECTION_EDITS)
def test_projection_edited_without_an_event_is_detected(
    engine: Engine, history: tuple[int, str], db_path: Path, sql: str, expected: tuple[str, ...]
) -> None:
    tamper(db_path, (sql, ()))
    assert found(verify(engine), *expected)


def test_projection_edit_breaking_conservation_is_also_an_invariant_violation(
    engine: Engine, history: tuple[int, str], db_path: Path
) -> None:
    tamper(db_path, ("UPDATE sample SET vault_ug = 1 WHERE code = 'CE5C0400YJFM00505'", ()))
    result = verify(engine)
    assert any(
        p.area == "invariant" and "sample CE5C0400YJFM00505: initial 250000 µg" in p.message
        for p in result.problems
    )


# --- triggers dropped ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", db.TRIGGER_NAMES)
def test_dropped_trigger_is_detected(
    engine: Engine, history: tuple[int, str], db_path: Path, name: str
) -> None:
    connection = sqlite3.connect(db_path)
    try:
        connection.execute(f"DROP TRIGGER {name}")
        connection.commit()
    finally:
        connection.close()
    result = verify(engine)
    assert found(result, f"append-only trigger {name} is missing")
    assert [p.area for p in result.problems] == ["schema"]


# --- forged events ------------------------------------------------------------------------------


def forged_consumption(head_row: sqlite3.Row, seq: int, prev_hash: str) -> tuple[Any, ...]:
    payload = chain.canonical(
        {
            "number": "L-2",
            "sample": "CE5C0800YJFM00102",
            "technique": "forged",
            "destructive": True,
            "mass_ug": 1000,
        }
    )
    body = chain.event_body(
        seq=seq,
        kind="loan.consumed",
        payload=payload,
        occurred_at=head_row["occurred_at"],
        recorded_at=head_row["recorded_at"],
        actor=head_row["actor"],
        os_user="tester",
        corrects_seq=None,
        reason=None,
    )
    return (*body.values(), prev_hash, chain.link_hash(prev_hash, body))


INSERT = (
    "INSERT INTO ledger_event (seq, kind, payload, occurred_at, recorded_at, actor, os_user,"
    " corrects_seq, reason, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def test_forged_event_with_a_valid_link_is_caught_by_replay(
    engine: Engine, history: tuple[int, str], db_path: Path
) -> None:
    head, head_hash = history
    values = forged_consumption(event(db_path, head), head + 1, head_hash)
    tamper(db_path, (INSERT, values))
    result = verify(engine)
    assert found(result, "sample row CE5C0800YJFM00102", "on_loan_ug")
    assert found(result, "consumption row", "produced by the events but missing")


@pytest.mark.parametrize("gap", [1, 3, 50])
def test_forged_event_with_a_bad_link_is_caught_by_the_chain(
    engine: Engine, history: tuple[int, str], db_path: Path, gap: int
) -> None:
    head, _ = history
    values = list(forged_consumption(event(db_path, head), head + gap, "0" * 64))
    tamper(db_path, (INSERT, tuple(values)))
    result = verify(engine)
    assert found(result, f"event {head + gap} (loan.consumed) does not link")
    if gap > 1:
        assert found(result, f"seq jumps from {head} to {head + gap}")


def test_forged_event_before_the_first_is_refused_by_the_schema(
    engine: Engine, history: tuple[int, str], db_path: Path
) -> None:
    values = list(forged_consumption(event(db_path, 1), 0, "0" * 64))
    with pytest.raises(sqlite3.IntegrityError, match="seq_positive"):
        tamper(db_path, (INSERT, tuple(values)))
    assert verify(engine, anchor=history).ok


@pytest.mark.parametrize("fraction", FRACTIONS[:-1])
def test_swapped_events_are_detected(
    engine: Engine, history: tuple[int, str], db_path: Path, fraction: float
) -> None:
    head = history[0]
    seq = min(position(head, fraction), head - 1)
    first, second = event(db_path, seq), event(db_path, seq + 1)
    tamper(
        db_path,
        (
            "UPDATE ledger_event SET payload = ?, kind = ? WHERE seq = ?",
            (second["payload"], second["kind"], seq),
        ),
        (
            "UPDATE ledger_event SET payload = ?, kind = ? WHERE seq = ?",
            (first["payload"], first["kind"], seq + 1),
        ),
    )
    if first["payload"] != second["payload"]:
        assert found(verify(engine), f"event {seq} (", "does not match its hash")


# --- parse_anchor -------------------------------------------------------------------------------

GOOD_HASH = "0123456789abcdef" * 4


@pytest.mark.parametrize(
    "text,expected",
    [
        (f"12:{GOOD_HASH}", (12, GOOD_HASH)),
        (f"  1:{GOOD_HASH}\n", (1, GOOD_HASH)),
        (f"7:{GOOD_HASH.upper()}", (7, GOOD_HASH)),
        (f"999999999999:{GOOD_HASH}", (999_999_999_999, GOOD_HASH)),
    ],
)
def test_parse_anchor_accepts(text: str, expected: tuple[int, str]) -> None:
    assert parse_anchor(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "12",
        f"12{GOOD_HASH}",
        f"12:{GOOD_HASH[:-1]}",
        f"12:{GOOD_HASH}0",
        f"-1:{GOOD_HASH}",
        f"x:{GOOD_HASH}",
        f"12:{GOOD_HASH[:-1]}g",
        f"1234567890123:{GOOD_HASH}",
        f"12 : {GOOD_HASH}",
        f"١٢:{GOOD_HASH}",
    ],
)
def test_parse_anchor_refuses(text: str) -> None:
    with pytest.raises(InvalidInput, match=r"is not SEQ:HASH"):
        parse_anchor(text)
