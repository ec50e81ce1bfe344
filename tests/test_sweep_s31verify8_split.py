"""Issue 15 point 3, issue 13 point 5: `verify`'s halves grouped without sorting the index.

`halves.split_in_two` groups the records no event joins (`ledger/halves.py`). It read every
linking entry of the event index sorted by seq through the `(subject_type, subject_key, seq)`
index, so SQLite sorted the 2.7M entries of a 1M-event ledger in a temporary B-tree, and joined
two subjects in Python at every entry. Now the entries come in the primary key's order (seq
first, no sort) and an event's pair of subjects already joined by an earlier event is skipped.
These tests hold the new grouping to the old one (kept below): the same halves, byte for byte,
on random indexes with entries no event has, on the tamper suite's rich history and on a
generated bench ledger; and the query has no sort.
"""

from array import array
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, create_engine

from sampleloans import db
from sampleloans.ledger import halves as halves_module
from sampleloans.ledger import replay
from sampleloans.ledger.halves import BESIDE, BOTH, LINKING, MAIN, Halves, split_in_two
from sampleloans.models import EventSubject
from tests.test_sweep_s23verify5_deferred_writes import generated  # noqa: F401  (a fixture)
from tests.test_verify_tamper import engine, history, template  # noqa: F401  (fixtures)


def _old_groups(connection: Connection, head: int) -> tuple["array[int]", list[int]]:
    """`halves._groups` as it was: every linking entry sorted by seq, joined in Python."""
    first = array("q", [-1]) * (head + 1)
    parent: list[int] = []
    nodes: dict[tuple[str, str], int] = {}
    kinds = ", ".join(f"'{kind}'" for kind in LINKING)
    query = (
        "SELECT seq, subject_type, subject_key FROM event_subject "
        f"WHERE subject_type IN ({kinds}) ORDER BY seq"
    )
    for seq, subject_type, key in db.stream_tuples(connection, query):
        if not isinstance(seq, int) or not 0 < seq <= head:
            continue
        node = nodes.get((subject_type, key))
        if node is None:
            node = nodes[(subject_type, key)] = len(parent)
            parent.append(node)
        if first[seq] < 0:
            first[seq] = node
            continue
        a, b = halves_module._root(parent, first[seq]), halves_module._root(parent, node)
        if a != b:
            parent[max(a, b)] = min(a, b)
    return first, parent


def _both_splits(connection: Connection, head: int) -> tuple[Halves, Halves]:
    """The halves of the new grouping, and of the old one."""
    new = split_in_two(connection, head, replay.REFERENCE_KINDS)
    with mock.patch.object(halves_module, "_groups", _old_groups):
        old = split_in_two(connection, head, replay.REFERENCE_KINDS)
    return new, old


def _index_engine(head: int, kinds: list[str], entries: list[tuple[object, str, str]]) -> Engine:
    """An in-memory ledger of `head` events of the given kinds and the given index entries."""
    made = create_engine("sqlite://")
    EventSubject.__table__.create(made)  # type: ignore[attr-defined]  # SQLModel sets it
    with made.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE ledger_event (seq INTEGER PRIMARY KEY, kind)")
        for seq in range(1, head + 1):
            connection.exec_driver_sql(
                "INSERT INTO ledger_event VALUES (?, ?)", (seq, kinds[(seq - 1) % len(kinds)])
            )
        for entry in entries:
            connection.exec_driver_sql(
                "INSERT OR IGNORE INTO event_subject VALUES (?, ?, ?)", entry
            )
    return made


SEQS_NO_EVENT_HAS: tuple[object, ...] = (0, -3, 2.5, "x", None, b"\x01", 10**6)
"""Stored seqs of tampered entries: not whole, not a number, or beyond the head."""

KINDS = [*replay.REFERENCE_KINDS[:2], "loan.consumed", "loan.requested", "sample.moved"]


@st.composite
def indexes(draw: st.DrawFn) -> tuple[int, list[str], list[tuple[object, str, str]]]:
    """A head, the events' kinds and index entries: many events naming few subjects (groups
    joined again and again), some entries under seqs no event has."""
    head = draw(st.integers(min_value=1, max_value=80))
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=5))
    seq = st.one_of(st.integers(min_value=1, max_value=head), st.sampled_from(SEQS_NO_EVENT_HAS))
    subject_type = st.sampled_from([*LINKING, "institution", "person"])
    key = st.sampled_from(["L-1", "L-2", "S 1", "S 1 x", "A", "a", "é", ""])
    entries = draw(st.lists(st.tuples(seq, subject_type, key), max_size=240))
    return head, kinds, entries


@given(indexes())
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_indexes_split_as_before(index: tuple[int, list[str], list[Any]]) -> None:
    """The new grouping's halves are the old one's on any index."""
    head, kinds, entries = index
    ledger = _index_engine(head, kinds, entries)
    try:
        with ledger.connect() as connection:
            new, old = _both_splits(connection, head)
    finally:
        ledger.dispose()
    assert new.side == old.side


def test_a_table_of_groups() -> None:
    """Two events joined by a third, a group of one event, a tie broken by the first seq, and
    entries no event has: the sides the old grouping gave."""
    entries: list[tuple[object, str, str]] = [
        (1, "loan", "L-1"),
        (1, "sample", "S-1"),
        (2, "loan", "L-2"),
        (2, "sample", "S-2"),
        (3, "sample", "S-1"),
        (3, "sample", "S-2"),  # joins L-1's group and L-2's: 3 events
        (4, "loan", "L-3"),
        (5, "loan", "L-4"),
        (6, "loan", "L-3"),
        (7, "loan", "L-4"),  # two groups of two events each: L-3's first
        (8, "institution", "I"),  # names no linking subject: the verifying process's
        (2.5, "loan", "L-3"),
        ("x", "loan", "L-4"),
        (99, "loan", "L-1"),
    ]
    ledger = _index_engine(9, [*["sample.moved"] * 8, "person.added"], entries)
    with ledger.connect() as connection:
        new, old = _both_splits(connection, 9)
    ledger.dispose()
    assert new.side == old.side
    # MAIN starts with the 2 events naming no group (8, 9); the group of 3 goes beside, then
    # L-3's (first at seq 4) to MAIN, L-4's to the side beside; person.added (9) is both's
    assert list(new.side[1:]) == [BESIDE, BESIDE, BESIDE, MAIN, BESIDE, MAIN, BESIDE, MAIN, BOTH]


def test_the_rich_history_splits_as_before(engine: Engine) -> None:  # noqa: F811
    with engine.connect() as connection:
        head = replay.last_taken(connection, replay.Cut())
        new, old = _both_splits(connection, head)
    assert new.side == old.side
    assert BESIDE in new.side


def test_a_generated_ledger_splits_as_before(generated: Path) -> None:  # noqa: F811
    ledger = db.open_engine(db.url_for_path(generated))
    try:
        with ledger.connect() as connection:
            head = replay.last_taken(connection, replay.Cut())
            new, old = _both_splits(connection, head)
    finally:
        ledger.dispose()
    assert new.side == old.side
    assert new.side.count(BESIDE) > head // 4


def test_the_entries_are_read_without_a_sort(engine: Engine) -> None:  # noqa: F811
    """The grouping's query reads the index in the primary key's order: no temporary B-tree
    (the old one sorted every linking entry)."""
    queries: list[str] = []
    real = db.stream_tuples

    def spy(connection: Connection, query: str, batch: int = 5000) -> Any:
        queries.append(query)
        return real(connection, query, batch)

    with engine.connect() as connection, mock.patch.object(halves_module.db, "stream_tuples", spy):
        split_in_two(connection, replay.last_taken(connection, replay.Cut()), ())
        assert queries
        for query in queries:
            plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {query}").all()
            assert not [step for step in plan if "TEMP B-TREE" in str(step[-1])], plan


@pytest.mark.parametrize("mutation", ["pair", "cast"])
def test_the_equivalence_test_catches_a_broken_grouping(mutation: str) -> None:
    """A grouping that skips a join it has not made, or takes a seq no event has: the table
    above no longer matches."""
    entries: list[tuple[object, str, str]] = [
        (1, "loan", "L-1"),
        (1, "sample", "S-1"),
        (2, "loan", "L-2"),
        (2, "sample", "S-1"),  # joins L-2 to L-1 through S-1
        (3, "loan", "L-3"),
        (2.5, "loan", "L-3"),  # no event has it: joins nothing
        (2.5, "loan", "L-1"),
    ]
    ledger = _index_engine(3, ["sample.moved"], entries)
    real_entries = halves_module._linking_entries

    def broken(head: int) -> str:
        return real_entries(head).replace("AND seq = CAST(seq AS INTEGER) ", "")

    patched = (
        mock.patch.object(halves_module, "_linking_entries", broken)
        if mutation == "cast"
        else mock.patch.object(halves_module, "set", lambda: _Everything(), create=True)
    )
    with ledger.connect() as connection:
        _new, old = _both_splits(connection, 3)
        with patched:
            try:
                mutated = split_in_two(connection, 3, ()).side
            except TypeError:  # a seq that is not whole, used as an index
                mutated = b""
    ledger.dispose()
    assert mutated != old.side


class _Everything(set[Any]):
    """A set that says it holds every pair (a grouping that never joins a second subject)."""

    def __contains__(self, item: object) -> bool:
        return True
