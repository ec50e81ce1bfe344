"""PostgreSQL writes: the statements whose answers nobody reads (the BEGIN, the writers' lock,
the unit's rows, the COMMIT) go through no psycopg cursor where they go by libpq's own pipeline
(the lock's, `db._lock_by_libpq`, and the COMMIT's, `db._send_writes`), and else through one
psycopg cursor kept with the connection (`db.unread_cursor`), not a new cursor each (issue 14,
Performance: client CPU with the lock held). The same statements are sent; a refused write
still writes nothing, and the next one works, through the same cursor or a new one where the
kept one was closed."""

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine

from sampleloans import db
from sampleloans.errors import RecordConflict
from sampleloans.services import loans
from sampleloans.services.reference import add_institution
from sampleloans.services.verify import verify
from tests.conftest import ctx_for

LATER = datetime(2026, 4, 28, 9, 0, tzinfo=UTC)
SAMPLES = ("CE5C0000YJYX048", "CE5C0400YJFM00505")  # in the vault of the demo


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


def test_an_adds_statements_make_no_cursor(writer: Engine, cursors_made: list[object]) -> None:
    """After the first write, an add makes no cursor: its statements, those whose rows it
    reads with the lock too (the head; the person with their institution; the new code's key
    and twin), go by libpq's own pipeline (`db._lock_by_libpq`), where each of its 9
    statements had one, then each read (3) (fails with a cursor per statement or per read)."""
    _add(writer, "CUR-1")
    for n in range(2, 5):
        cursors_made.clear()
        _add(writer, f"CUR-{n}")
        assert cursors_made == []
    assert verify(writer).problems == []


def _request(engine: Engine, number: str, sample: str) -> None:
    """Request a loan of one sample in one write transaction."""
    with db.transaction(engine) as session:
        loans.request_loan(
            session, ctx_for(now=LATER), number=number, agreement="AG-2025-UoC",
            pi="muenker@uni-koeln.example", samples=[sample],
        )  # fmt: skip


def test_a_writes_unread_statements_in_psycopgs_pipeline_share_one_cursor(
    writer: Engine, cursors_made: list[object]
) -> None:
    """A loan's request sends its rows in its checks' pipeline (`db.read_together`), by
    psycopg: the unread ones through the cursor kept with the connection, made once."""
    _request(writer, "L-CUR-1", SAMPLES[0])
    kept = _unread_cursor(writer)
    assert kept is not None
    cursors_made.clear()
    _request(writer, "L-CUR-2", SAMPLES[1])
    assert kept not in cursors_made and _unread_cursor(writer) is kept
    assert verify(writer).problems == []


def test_a_refused_write_leaves_nothing_and_the_next_is_written(writer: Engine) -> None:
    """An existing short name is refused before anything is written (the transaction rolled
    back, the statements prepared on the server session forgotten); the next add is written,
    and the ledger verifies."""
    _add(writer, "CUR-A")
    with pytest.raises(RecordConflict, match="institution CUR-A already exists"):
        _add(writer, "CUR-A")
    _add(writer, "CUR-B")
    with db.transaction(writer, write=False) as session:
        found = session.connection().exec_driver_sql(
            "SELECT short_name FROM institution WHERE short_name LIKE 'CUR-%%' ORDER BY 1"
        )
        assert [row[0] for row in found] == ["CUR-A", "CUR-B"]
    assert verify(writer).problems == []


def test_a_closed_cursor_is_made_again(writer: Engine) -> None:
    """A kept cursor someone closed is not used: the next write makes a new one and is
    written (fails with the `closed` check removed: psycopg refuses a closed cursor)."""
    _request(writer, "L-CUR-X", SAMPLES[0])
    kept = _unread_cursor(writer)
    kept.close()
    _request(writer, "L-CUR-Y", SAMPLES[1])
    again = _unread_cursor(writer)
    assert again is not kept and not again.closed
    assert verify(writer).problems == []
