"""The hash chain: links recompute, seq is gapless, genesis is per ledger, events append-only."""

import json
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from sampleloans import db
from sampleloans.errors import RuleViolation
from sampleloans.ledger import chain, store
from sampleloans.models import LedgerMeta
from sampleloans.services import loans, samples, setup
from sampleloans.services.verify import compare_table, replay_into, verify
from sampleloans.units import parse_mass_ug as mass
from tests.conftest import OU_PI, Run, ctx_for
from tests.factories import received_loan, rich_history, signed_agreement

COLUMNS = (
    "seq, kind, payload, occurred_at, recorded_at, actor, os_user, corrects_seq, reason,"
    " prev_hash, hash"
)


def raw_events(path: Path) -> list[sqlite3.Row]:
    connection = sqlite3.connect(path)
    connection.row_factory = sqlite3.Row
    try:
        return connection.execute(f"SELECT {COLUMNS} FROM ledger_event ORDER BY seq").fetchall()
    finally:
        connection.close()


def ledger_id(path: Path) -> str:
    with sqlite3.connect(path) as connection:
        return connection.execute("SELECT value FROM ledger_meta WHERE key='ledger_id'").fetchone()[
            0
        ]


def count(engine: Engine) -> int:
    with Session(engine) as session:
        return store.head(session)[0]


def test_every_hash_recomputes_from_its_predecessor(
    engine: Engine, run: Run, db_path: Path
) -> None:
    rich_history(run)
    events = raw_events(db_path)
    prev = chain.genesis_hash(ledger_id(db_path))
    for event in events:
        body = chain.event_body(**{k: event[k] for k in COLUMNS.replace(" ", "").split(",")[:-2]})
        assert event["prev_hash"] == prev
        assert chain.link_hash(prev, body) == event["hash"]
        assert re.fullmatch(r"[0-9a-f]{64}", event["hash"])
        prev = event["hash"]
    assert len(events) > 50


def test_seq_is_gapless_from_one(engine: Engine, run: Run, db_path: Path) -> None:
    rich_history(run)
    seqs = [event["seq"] for event in raw_events(db_path)]
    assert seqs == list(range(1, len(seqs) + 1))


def test_two_ledgers_with_identical_content_share_no_hash(
    engine: Engine, db_path: Path, tmp_path: Path
) -> None:
    other_path = tmp_path / "other.db"
    other = db.open_engine(db.url_for_path(other_path), create=True)
    try:
        with db.transaction(other) as session:
            setup.init_ledger(session, ctx_for(), curator_name="Li Na (test curator)")
            setup.add_people_rows(session, ctx_for(), setup.read_rows("demo/people.csv"))
            setup.register_sample_rows(session, ctx_for(), setup.read_rows("demo/samples.csv"))
    finally:
        other.dispose()
    mine, theirs = raw_events(db_path), raw_events(other_path)
    assert len(mine) == len(theirs)
    # Same kinds and payloads except the ledger id of event 1; the hashes all differ.
    assert [e["kind"] for e in mine] == [e["kind"] for e in theirs]
    assert [e["payload"] for e in mine[1:]] == [e["payload"] for e in theirs[1:]]
    assert ledger_id(db_path) != ledger_id(other_path)
    assert not {e["hash"] for e in mine} & {e["hash"] for e in theirs}


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_event SET actor = 'mallory@evil.example' WHERE seq = 3",
        "UPDATE ledger_event SET payload = '{}' WHERE seq = 1",
        "DELETE FROM ledger_event WHERE seq = (SELECT MAX(seq) FROM ledger_event)",
        "DELETE FROM ledger_event",
    ],
)
def test_append_only_triggers_abort_update_and_delete(
    engine: Engine, db_path: Path, statement: str
) -> None:
    before = raw_events(db_path)
    connection = sqlite3.connect(db_path)
    try:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            connection.execute(statement)
        connection.rollback()
    finally:
        connection.close()
    assert [tuple(e) for e in raw_events(db_path)] == [tuple(e) for e in before]


@pytest.mark.parametrize(
    "statement",
    ["UPDATE ledger_meta SET value = 'other'", "DELETE FROM ledger_meta"],
)
def test_ledger_meta_is_written_once(engine: Engine, db_path: Path, statement: str) -> None:
    connection = sqlite3.connect(db_path)
    try:
        with pytest.raises(sqlite3.DatabaseError, match="written once"):
            connection.execute(statement)
    finally:
        connection.close()


def test_replay_of_a_rich_history_equals_the_projections(engine: Engine, run: Run) -> None:
    rich_history(run)
    result = verify(engine)
    assert result.ok, result.problems
    target = db.make_engine("sqlite://")
    db.create_schema(target)
    assert replay_into(engine, target) is None
    for table in db.projection_tables():
        assert compare_table(engine, target, table) == [], table
    assert "sample" in db.projection_tables() and "loan_item" in db.projection_tables()


def test_one_event_per_successful_call_and_none_per_refused_one(engine: Engine, run: Run) -> None:
    start = count(engine)
    signed_agreement(run)  # two calls: create and sign
    assert count(engine) == start + 2
    steps: list[tuple[Callable[..., object], dict[str, Any]]] = [
        (
            loans.request_loan,
            {"number": "L-1", "agreement": "AG-OU", "pi": OU_PI, "samples": ["CE5C0200YJFM00112"]},
        ),
        (loans.approve_loan, {"number": "L-1"}),
        (loans.issue_loan, {"number": "L-1"}),
        (loans.ship_loan, {"number": "L-1", "container": "box", "seal_number": "S"}),
    ]
    for service, kwargs in steps:
        before = count(engine)
        run(service, **kwargs)
        assert count(engine) == before + 1, service.__name__
    refused: list[tuple[Callable[..., object], dict[str, Any]]] = [
        (loans.approve_loan, {"number": "L-1"}),
        (loans.issue_loan, {"number": "L-1"}),
        (samples.split_sample, {"parent": "CE5C0200YJFM00112", "children": [("-1", 5)]}),
        (loans.settle_loan, {"number": "L-1", "obligations": "x"}),
    ]
    for service, kwargs in refused:
        before = count(engine)
        with pytest.raises(Exception) as caught:
            run(service, **kwargs)
        assert caught.type.__module__ == "sampleloans.errors"
        assert count(engine) == before, service.__name__


def test_a_check_failing_after_apply_rolls_back_the_event(
    engine: Engine, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sampleloans.ledger import checks

    before = count(engine)

    def broken(
        _session: object, _touched: object, _samples_on_loans: object = None
    ) -> list[checks.Violation]:
        return [checks.Violation("test", "sample X", "planted violation")]

    monkeypatch.setattr(checks, "check_touched", broken)
    with pytest.raises(RuleViolation, match="planted violation"):
        run(samples.move_sample, code="CE5C0100YJFM00201", storage_location="shelf 2")
    assert count(engine) == before


def test_head_format(engine: Engine, run: Run, db_path: Path) -> None:
    signed_agreement(run)
    received_loan(run)
    events = raw_events(db_path)
    with Session(engine) as session:
        seq, hash_hex = store.head(session)
    assert (seq, hash_hex) == (events[-1]["seq"], events[-1]["hash"])
    result = verify(engine)
    assert result.head == f"{seq}:{hash_hex}"
    assert re.fullmatch(r"\d+:[0-9a-f]{64}", result.head)
    assert chain.format_head(7, "ab" * 32) == "7:" + "ab" * 32


def test_head_of_an_empty_ledger_is_genesis(tmp_path: Path) -> None:
    empty = db.open_engine(db.url_for_path(tmp_path / "empty.db"), create=True)
    try:
        with db.transaction(empty) as session:
            session.add(LedgerMeta(key="ledger_id", value="test-ledger"))
        with Session(empty) as session:
            assert store.head(session) == (0, chain.genesis_hash("test-ledger"))
    finally:
        empty.dispose()
    assert chain.genesis_hash("a") != chain.genesis_hash("b")


def test_canonical_encoding_is_sorted_key_compact_json(
    engine: Engine, run: Run, db_path: Path
) -> None:
    assert chain.canonical({"b": 1, "a": [1, {"z": None, "y": True}], "c": "µg"}) == (
        '{"a":[1,{"y":true,"z":null}],"b":1,"c":"µg"}'
    )
    run(
        samples.split_sample,
        parent="CE5C0100YJFM00201",
        children=[("-01", mass("1 mg"))],
        loss_ug=0,
    )
    for event in raw_events(db_path):
        assert event["payload"] == chain.canonical(json.loads(event["payload"]))
    last = raw_events(db_path)[-1]
    assert last["payload"] == (
        '{"children":[["CE5C0100YJFM00201-01",1000]],"loss_ug":0,"parent":"CE5C0100YJFM00201"}'
    )
