"""Tampering with raw sqlite3 outside the app, at several positions: `verify` must notice.

And on clean histories it must find nothing (zero false alarms).
"""

import json
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from sampleloans import db
from sampleloans.errors import InvalidInput
from sampleloans.ledger import chain
from sampleloans.services import loans, setup
from sampleloans.services.verify import VerifyResult, parse_anchor, verify
from sampleloans.units import parse_mass_ug as mass
from tests.conftest import Run, ctx_for, run_on
from tests.factories import rich_history

FRACTIONS = (0.0, 0.3, 0.6, 0.97, 1.0)
"""Where in the ledger to tamper: first event, early, middle, next-to-last region, the head."""

FIELDS: tuple[str, ...] = ("seq", "kind", "payload", "occurred_at", "recorded_at", "actor")
FIELDS += ("os_user", "corrects_seq", "reason")


def position(head: int, fraction: float) -> int:
    return max(1, min(head, round(head * fraction)))


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, tuple[int, str]]:
    """One rich history built once per module; each test tampers with its own copy."""
    path = tmp_path_factory.mktemp("template") / "ledger.db"
    eng = db.open_engine(db.url_for_path(path), create=True)
    try:
        with db.transaction(eng) as session:
            setup.init_ledger(session, ctx_for(), curator_name="Li Na (test curator)")
            setup.add_people_rows(session, ctx_for(), setup.read_rows("demo/people.csv"))
            setup.register_sample_rows(session, ctx_for(), setup.read_rows("demo/samples.csv"))

        rich_history(run_on(eng))
        result = verify(eng)
        assert result.ok, result.problems
    finally:
        eng.dispose()
    return path, (result.head_seq, result.head_hash)


@pytest.fixture
def engine(template: tuple[Path, tuple[int, str]], db_path: Path) -> Iterator[Engine]:
    """This test's copy of the rich history (overrides conftest's fresh ledger)."""
    source, target = sqlite3.connect(template[0]), sqlite3.connect(db_path)
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
    eng = db.open_engine(db.url_for_path(db_path))
    yield eng
    eng.dispose()


@pytest.fixture
def history(template: tuple[Path, tuple[int, str]], engine: Engine) -> tuple[int, str]:
    """The head of this test's rich history, as an anchor."""
    return template[1]


def connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.row_factory = sqlite3.Row
    return connection


def tamper(path: Path, *statements: tuple[str, Sequence[Any]], restore: bool = True) -> None:
    """Drop the append-only triggers, run the statements, and (optionally) put them back."""
    connection = connect(path)
    try:
        connection.execute("BEGIN")
        for name in db.TRIGGER_NAMES:
            connection.execute(f"DROP TRIGGER {name}")
        for sql, params in statements:
            connection.execute(sql, params)
        if restore:
            for statement in db.APPEND_ONLY_TRIGGERS:
                connection.execute(statement)
        connection.execute("COMMIT")
    finally:
        connection.close()


def event(path: Path, seq: int) -> sqlite3.Row:
    connection = connect(path)
    try:
        return connection.execute("SELECT * FROM ledger_event WHERE seq = ?", (seq,)).fetchone()
    finally:
        connection.close()


def messages(result: VerifyResult) -> list[str]:
    assert not result.ok
    return [problem.message for problem in result.problems]


def found(result: VerifyResult, *parts: str) -> bool:
    """Whether one problem message contains every part."""
    return any(all(part in message for part in parts) for message in messages(result))


def mutate(payload: str) -> str:
    """Change one field of a payload so that it still parses."""
    data = json.loads(payload)
    key = sorted(data)[0]
    value = data[key]
    if isinstance(value, bool):
        data[key] = not value
    elif isinstance(value, int):
        data[key] = value + 1
    elif isinstance(value, str):
        data[key] = value + "x"
    elif isinstance(value, list):
        data[key] = value + value[:1] if value else ["x"]
    else:
        data[key] = "x"
    changed = chain.canonical(data)
    assert changed != payload
    return changed


def rehashed(row: sqlite3.Row, prev_hash: str, **changes: Any) -> tuple[str, dict[str, Any]]:
    body = chain.event_body(**{name: changes.get(name, row[name]) for name in FIELDS})
    return chain.link_hash(prev_hash, body), body


# --- clean histories: no false alarms -----------------------------------------------------------


def test_fresh_ledger_verifies_clean(tmp_path: Path) -> None:
    fresh = db.open_engine(db.url_for_path(tmp_path / "fresh.db"), create=True)
    try:
        with db.transaction(fresh) as session:
            setup.init_ledger(session, ctx_for(), curator_name="Li Na (test curator)")
        result = verify(fresh)
    finally:
        fresh.dispose()
    assert result.ok, result.problems
    assert result.events == result.head_seq > 10


def test_rich_history_verifies_clean_with_its_own_anchor(
    engine: Engine, history: tuple[int, str]
) -> None:
    result = verify(engine, anchor=history)
    assert result.ok, result.problems
    assert (result.head_seq, result.head_hash) == history


def test_an_earlier_anchor_still_verifies_after_more_events(
    engine: Engine, run: Run, history: tuple[int, str]
) -> None:
    run(
        loans.consume,
        number="L-2",
        sample="CE5C0800YJFM00102",
        technique="XRD",
        mass_ug=mass("1 mg"),
        destructive=False,
    )
    result = verify(engine, anchor=history)
    assert result.ok, result.problems
    assert result.head_seq == history[0] + 1


@pytest.mark.parametrize("fraction", FRACTIONS)
def test_any_earlier_anchor_of_a_clean_history_verifies(
    engine: Engine, history: tuple[int, str], db_path: Path, fraction: float
) -> None:
    seq = position(history[0], fraction)
    anchor = (seq, event(db_path, seq)["hash"])
    assert verify(engine, anchor=anchor).ok


# --- edit a payload field -----------------------------------------------------------------------


@pytest.mark.parametrize("restore", [True, False], ids=["trigger-restored", "trigger-left-off"])
@pytest.mark.parametrize("fraction", FRACTIONS)
def test_edited_payload_is_detected(
    engine: Engine, history: tuple[int, str], db_path: Path, fraction: float, restore: bool
) -> None:
    seq = position(history[0], fraction)
    row = event(db_path, seq)
    tamper(
        db_path,
        ("UPDATE ledger_event SET payload = ? WHERE seq = ?", (mutate(row["payload"]), seq)),
        restore=restore,
    )
    result = verify(engine)
    assert found(result, f"event {seq} ({row['kind']}) does not match its hash")
    assert found(result, "append-only trigger ledger_event_no_update is missing") is not restore


@pytest.mark.parametrize("fraction", FRACTIONS)
def test_edited_actor_is_detected(
    engine: Engine, history: tuple[int, str], db_path: Path, fraction: float
) -> None:
    seq = position(history[0], fraction)
    tamper(db_path, ("UPDATE ledger_event SET actor = 'mallory@x.example' WHERE seq = ?", (seq,)))
    assert found(verify(engine), f"event {seq} (", "does not match its hash")


# --- edit one event and recompute its hash ------------------------------------------------------


@pytest.mark.parametrize("fraction", FRACTIONS)
def test_edited_and_rehashed_event_is_detected(
    engine: Engine, history: tuple[int, str], db_path: Path, fraction: float
) -> None:
    head = history[0]
    seq = position(head, fraction)
    row = event(db_path, seq)
    new_hash, _body = rehashed(row, row["prev_hash"], os_user="mallory")
    tamper(
        db_path,
        ("UPDATE ledger_event SET os_user = 'mallory', hash = ? WHERE seq = ?", (new_hash, seq)),
    )
    if seq < head:
        assert found(verify(engine), f"event {seq + 1} (", f"does not link to event {seq}")
    else:
        # The head has no successor: only the anchor printed earlier can tell.
        assert verify(engine).ok
        assert found(verify(engine, anchor=history), f"event {head} has hash", "the anchor says")


@pytest.mark.parametrize("fraction", FRACTIONS)
def test_rehashed_suffix_is_detected_by_the_anchor(
    engine: Engine, history: tuple[int, str], db_path: Path, fraction: float
) -> None:
    head = history[0]
    seq = position(head, fraction)
    statements = []
    prev_hash = event(db_path, seq)["prev_hash"]
    for current in range(seq, head + 1):
        row = event(db_path, current)
        changes = {"os_user": "mallory"} if current == seq else {}
        new_hash, _ = rehashed(row, prev_hash, **changes)
        statements.append(
            (
                "UPDATE ledger_event SET os_user = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                (changes.get("os_user", row["os_user"]), prev_hash, new_hash, current),
            )
        )
        prev_hash = new_hash
    tamper(db_path, *statements)
    assert verify(engine).ok  # a consistent rewrite: the chain alone cannot tell
    assert found(verify(engine, anchor=history), f"event {head} has hash", "the anchor says")


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
    assert found(
        verify(engine, anchor=history),
        f"the ledger ends at event {head - 1 if seq == head else head}",
    ) is (seq == head)
    assert not verify(engine, anchor=history).ok


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
