"""Issue 15 point 3 (stop 32): `verify`'s replay builds fewer Python objects per event.

Three changes, each held here to the path it replaced:

- `db.stream_chunks` hands over the driver's lists of rows (`stream_tuples` steps through them
  one row at a time): the same rows, in the same order, in lists of at most the batch;
- a half's replay (`ledger/halves.py`) leaves the other half's stored rows out before it builds
  a named tuple for them (`replay._stored_rows` with `half`): the same rows as taking every row
  and skipping the other half's, for any split of the events into halves;
- `apply.plain_consumption` tests its three texts one by one, not through a generator: the same
  answer as before for any values (the old test is kept here).

The findings of a tampered ledger are held by the tamper suites (`tests/test_verify_tamper.py`,
`tests/test_i15_rep_index_batches.py`, which also varies the chunk of stored entries read at
once, and the s24/s30/s31 sweeps), which run unchanged.
"""

import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.ledger import apply as apply_module
from sampleloans.ledger import events as ev
from sampleloans.ledger import replay
from sampleloans.ledger.halves import BESIDE, BOTH, MAIN, Halves, split_in_two
from sampleloans.services import verify_halves
from sampleloans.services.verify import verify
from tests.conftest import COMPLIANCE
from tests.test_verify_tamper import (  # noqa: F401  (pytest fixtures used by name)
    engine,
    history,
    tamper,
    template,
)

_INT64 = 1 << 63


def _old_plain_consumption(event: ev.LoanConsumed, occurred_at: datetime) -> bool:
    """`apply.plain_consumption` as it was before stop 32 (one generator over the texts)."""
    texts = (event.number, event.sample, event.technique)
    return (
        all(type(text) is str and _old_utf8(text) for text in texts)
        and type(event.destructive) is bool
        and type(event.mass_ug) is int
        and -_INT64 <= event.mass_ug < _INT64
        and occurred_at.tzinfo is not None
    )


def _old_utf8(text: str) -> bool:
    """The old `apply._utf8`."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_TEXTS = st.one_of(
    st.text(max_size=6),  # any code point, lone surrogates among them
    st.sampled_from(["L-1", "S-1", "ICP-MS", "", "é", "\ud800", "a\udfff", "分析"]),
    st.integers(-3, 3),
    st.none(),
    st.binary(max_size=3),
    st.booleans(),
    st.floats(allow_nan=True),
)
_MASSES = st.one_of(
    st.integers(-(_INT64 + 2), _INT64 + 2),
    st.sampled_from([-_INT64 - 1, -_INT64, _INT64 - 1, _INT64, 0, 1]),
    st.booleans(),  # a bool is an int, but not `type(...) is int`
    st.floats(allow_nan=False),
    st.none(),
    st.text(max_size=3),
)
_FLAGS = st.one_of(st.booleans(), st.integers(-1, 2), st.none(), st.text(max_size=2))
_ZONES = st.sampled_from([None, UTC, timezone(timedelta(hours=-5))])


@settings(max_examples=1500, deadline=None)
@given(
    number=_TEXTS,
    sample=_TEXTS,
    technique=_TEXTS,
    destructive=_FLAGS,
    mass_ug=_MASSES,
    zone=_ZONES,
)
def test_plain_consumption_answers_as_before(
    number: Any, sample: Any, technique: Any, destructive: Any, mass_ug: Any, zone: Any
) -> None:
    """Any values a payload may give (texts with lone surrogates, numbers, None, bytes, masses
    at the 64-bit bounds, naive and aware times): the same answer as the old test."""
    event = cast(
        ev.LoanConsumed,
        SimpleNamespace(
            number=number,
            sample=sample,
            technique=technique,
            destructive=destructive,
            mass_ug=mass_ug,
        ),
    )
    occurred_at = datetime(2026, 3, 1, 12, 0, tzinfo=zone)
    assert apply_module.plain_consumption(event, occurred_at) == _old_plain_consumption(
        event, occurred_at
    )


@pytest.mark.parametrize(
    ("texts", "plain"),
    [
        (("L-1", "S-1", "ICP-MS"), True),
        (("L-1", "S-é", "分析"), True),
        (("L-1", "S-\ud800", "ICP-MS"), False),  # a lone surrogate cannot be stored
        (("L-1", "S-1", "x\udfff"), False),
        (("\udc00", "S-1", "ICP-MS"), False),
        ((1, "S-1", "ICP-MS"), False),
    ],
)
def test_plain_consumption_table(texts: tuple[Any, Any, Any], plain: bool) -> None:
    """Written out: which texts the fill may write from the stored JSON."""
    number, sample, technique = texts
    event = cast(
        ev.LoanConsumed,
        SimpleNamespace(
            number=number, sample=sample, technique=technique, destructive=True, mass_ug=5
        ),
    )
    assert apply_module.plain_consumption(event, datetime(2026, 3, 1, tzinfo=UTC)) is plain


def _stored_count(path: Path) -> int:
    """The events stored in a ledger file, counted by sqlite3."""
    connection = sqlite3.connect(path)
    try:
        return int(connection.execute("SELECT count(*) FROM ledger_event").fetchone()[0])
    finally:
        connection.close()


@pytest.mark.parametrize("batch", [1, 2, 3, 7, 5000])
def test_stream_chunks_are_the_rows_in_lists_of_at_most_the_batch(
    engine: Engine,  # noqa: F811
    history: tuple[int, str],  # noqa: F811
    batch: int,
) -> None:
    """Every row of the query, in its order, each list no longer than the batch and none
    empty; `stream_tuples` gives the same rows one by one."""
    query = "SELECT seq, subject_type, subject_key FROM event_subject ORDER BY seq, subject_key"
    with engine.connect() as connection:
        every = connection.exec_driver_sql(query).fetchall()
        chunks = list(db.stream_chunks(connection, query, batch))
        one_by_one = list(db.stream_tuples(connection, query, batch))
        connection.rollback()
    assert len(every) > 100
    assert [row for chunk in chunks for row in chunk] == [tuple(row) for row in every]
    assert one_by_one == [tuple(row) for row in every]
    assert all(0 < len(chunk) <= batch for chunk in chunks)
    assert len(chunks) == -(-len(every) // batch)


def _rows_of(ledger: Engine, half: tuple[Halves, int] | None) -> list[replay.StoredEvent]:
    """The stored rows a replay reads (one half's, with `half`), in a snapshot."""
    with ledger.connect() as connection:
        db.begin_snapshot(connection)
        rows = list(replay._stored_rows(connection, replay.Cut(), half))
        connection.rollback()
    return rows


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_a_half_reads_the_rows_the_old_filter_kept(
    engine: Engine,  # noqa: F811
    history: tuple[int, str],  # noqa: F811
    data: st.DataObject,
) -> None:
    """Any split of the events (each MAIN, BESIDE or BOTH; a head short of the ledger's, so
    that later rows fall to MAIN as `Halves.takes` says): each half's rows are every stored
    row that `takes` gives it, in seq order, as the old loop kept them."""
    every = _rows_of(engine, None)
    head = data.draw(st.integers(1, len(every)), label="head")
    sides = data.draw(
        st.lists(st.sampled_from([MAIN, BESIDE, BOTH]), min_size=head, max_size=head),
        label="sides",
    )
    halves = Halves(side=bytes([MAIN, *sides]), head=head)
    for which in (MAIN, BESIDE):
        kept = [row for row in every if halves.takes(row.seq, which)]
        assert _rows_of(engine, (halves, which)) == kept


def test_the_halves_of_the_rich_history_read_the_rows_they_replay(
    engine: Engine,  # noqa: F811
    history: tuple[int, str],  # noqa: F811
) -> None:
    """The split `verify` makes: together the halves read every stored row, the reference
    events in both."""
    every = _rows_of(engine, None)
    with engine.connect() as connection:
        db.begin_snapshot(connection)
        halves = split_in_two(connection, len(every), replay.REFERENCE_KINDS)
        connection.rollback()
    main, beside = _rows_of(engine, (halves, MAIN)), _rows_of(engine, (halves, BESIDE))
    assert main and beside
    assert sorted({*main, *beside}) == every
    both = [row for row in every if halves.side[row.seq] == BOTH]
    assert both and all(row in main and row in beside for row in both)
    assert len(every) == _stored_count(Path(str(engine.url.database)))


_CHANGE_A_CONSUMPTION = (
    "UPDATE consumption SET mass_ug = mass_ug + 1 WHERE seq = (SELECT min(seq) FROM consumption)"
)


def test_verify_in_halves_is_clean_then_names_a_tampered_consumption(
    engine: Engine,  # noqa: F811
    history: tuple[int, str],  # noqa: F811
    db_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Service: the rich history verified in two halves is clean; a consumption's stored row
    changed is named, in halves as in one piece."""
    monkeypatch.setattr(verify_halves, "REPLAY_BESIDE_EVENTS", 1)
    assert verify(engine).ok
    engine.dispose()
    tamper(db_path, (_CHANGE_A_CONSUMPTION, ()))
    halves = [p.message for p in verify(engine).problems]
    monkeypatch.setattr(verify_halves, "REPLAY_BESIDE_EVENTS", 10**9)
    assert [p.message for p in verify(engine).problems] == halves
    assert any(message.startswith("consumption row") for message in halves), halves


def test_verify_through_the_cli_in_halves(
    engine: Engine,  # noqa: F811
    history: tuple[int, str],  # noqa: F811
    db_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """CLI: `verify` of the rich history in two halves exits 0, and 1 naming the row once a
    consumption's stored mass is changed."""
    monkeypatch.setattr(verify_halves, "REPLAY_BESIDE_EVENTS", 1)
    engine.dispose()
    runner = CliRunner()
    args = ["--db", str(db_path), "--as", COMPLIANCE, "verify"]
    clean = runner.invoke(app, args, env={"COLUMNS": "400"})
    assert clean.exit_code == 0, clean.output
    tamper(db_path, (_CHANGE_A_CONSUMPTION, ()))
    found = runner.invoke(app, args, env={"COLUMNS": "400"})
    assert found.exit_code == 1, found.output
    assert "consumption row" in " ".join(found.stdout.split())
