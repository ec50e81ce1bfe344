"""PostgreSQL writes: the statements whose answers nobody reads (the BEGIN, the writers' lock,
the unit's rows, the COMMIT) go through one psycopg cursor kept with the connection
(`db.unread_cursor`), not a new cursor each (issue 14, Performance: client CPU with the lock
held). The same statements are sent; a refused write still writes nothing, and the next one
works through the same cursor, or a new one where the kept one was closed."""

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine

from sampleloans import db
from sampleloans.errors import RecordConflict
from sampleloans.services.reference import add_institution
from sampleloans.services.verify import verify
from tests.conftest import ctx_for

LATER = datetime(2026, 4, 28, 9, 0, tzinfo=UTC)


@pytest.fixture
def writer(demo_url: str) -> Iterator[Engine]:
    """A long-lived writer's engine on the demo ledger."""
    engine = db.open_engine(demo_url)
    yield engine
    engine.dispose()


@pytest.fixture
def cursors_made(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every psycopg cursor made from now on (the connection's `cursor`, which its `execute`
    also calls)."""
    made: list[object] = []
    cursor = psycopg.Connection.cursor

    def counting(self: psycopg.Connection[Any], *args: Any, **kwargs: Any) -> Any:
        found = cursor(self, *args, **kwargs)
        made.append(found)
        return found

    monkeypatch.setattr(psycopg.Connection, "cursor", counting)
    return made


def _add(engine: Engine, short_name: str) -> None:
    """Add one institution in one write transaction."""
    with db.transaction(engine) as session:
        add_institution(
            session, ctx_for(now=LATER), short_name=short_name, name=f"Lab {short_name}",
            country="CN", city="Beijing", institution_kind="borrower",
        )  # fmt: skip


def _unread_cursor(engine: Engine) -> Any:
    """The cursor the engine's one pooled connection keeps for unread statements."""
    with engine.connect() as connection:
        return db.connection_state(connection).unread_cursor


def test_a_writes_unread_statements_share_one_cursor(
    writer: Engine, cursors_made: list[object]
) -> None:
    """After the first write, an add makes a cursor only for each statement whose rows it
    reads (the head; the person with their institution; the new code's key and twin): 3, where
    each of its 9 statements had one (fails with a cursor per statement)."""
    _add(writer, "CUR-1")
    kept = _unread_cursor(writer)
    assert kept is not None
    for n in range(2, 5):
        cursors_made.clear()
        _add(writer, f"CUR-{n}")
        assert len(cursors_made) == 3, cursors_made
        assert kept not in cursors_made
    assert _unread_cursor(writer) is kept
    assert verify(writer).problems == []


def test_a_refused_write_leaves_nothing_and_the_next_uses_the_same_cursor(
    writer: Engine,
) -> None:
    """An existing short name is refused before anything is written; the next add is written
    through the kept cursor, and the ledger verifies."""
    _add(writer, "CUR-A")
    kept = _unread_cursor(writer)
    with pytest.raises(RecordConflict, match="institution CUR-A already exists"):
        _add(writer, "CUR-A")
    _add(writer, "CUR-B")
    assert _unread_cursor(writer) is kept
    with db.transaction(writer, write=False) as session:
        found = session.connection().exec_driver_sql(
            "SELECT short_name FROM institution WHERE short_name LIKE 'CUR-%%' ORDER BY 1"
        )
        assert [row[0] for row in found] == ["CUR-A", "CUR-B"]
    assert verify(writer).problems == []


def test_a_closed_cursor_is_made_again(writer: Engine) -> None:
    """A kept cursor someone closed is not used: the next write makes a new one and is
    written (fails with the `closed` check removed: psycopg refuses a closed cursor)."""
    _add(writer, "CUR-X")
    kept = _unread_cursor(writer)
    kept.close()
    _add(writer, "CUR-Y")
    again = _unread_cursor(writer)
    assert again is not kept and not again.closed
    assert verify(writer).problems == []
