"""Tampering with raw sqlite3 outside the app, at several positions: `verify` must notice.

And on clean histories it must find nothing (zero false alarms). Deleted, truncated, rolled
back, forged and swapped events, edited projections and dropped triggers are
`tests/test_sweep_s34suiteb_verify_tamper_more.py`'s (a file of its own, so that the suite's
workers run the two halves of the tamper classes at the same time).
"""

import json
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from sampleloans import db
from sampleloans.ledger import chain
from sampleloans.services import loans, setup
from sampleloans.services.verify import VerifyResult, verify
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
