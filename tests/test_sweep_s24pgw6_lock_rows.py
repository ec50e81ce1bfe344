"""PostgreSQL writes: a row read with the writers' lock goes into the session's identity map as
the ORM's own loading puts a row there (`services/lock_reads._as_loaded`), not through
`make_transient_to_detached` and `Session.add` (the save cascade and the attach events cost
~2/3 of a row's adoption while the lock was held; issue 14, Performance). The row is the same
to the session: persistent, clean, the one `Session.get` answers, and a change to it is
written."""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlalchemy import inspect as sa_inspect
from sqlmodel import Session, SQLModel, create_engine

from sampleloans import db
from sampleloans.errors import Conflict
from sampleloans.models import Institution, Sample
from sampleloans.services.lock_reads import _as_loaded
from sampleloans.services.samples import move_sample
from sampleloans.services.verify import verify
from tests.conftest import ctx_for

LATER = datetime(2026, 4, 28, 9, 0, tzinfo=UTC)
MOVED = "CE5C0400YJFM00505"


@pytest.fixture
def attached() -> Iterator[list[object]]:
    """Every instance a session attaches from now on (`after_attach`: what `Session.add`
    fires, and the ORM's loading does not)."""
    seen: list[object] = []

    def record(_session: Session, instance: object) -> None:
        seen.append(instance)

    event.listen(Session, "after_attach", record)
    yield seen
    event.remove(Session, "after_attach", record)


def _institution_row(short_name: str) -> tuple[Any, ...]:
    """An institution's row as the driver returns it, in the table's column order."""
    values = {
        "short_name": short_name, "name": f"Lab {short_name}", "country": "CN",
        "city": "Beijing", "kind": "borrower",
    }  # fmt: skip
    table = Institution.__table__  # type: ignore[attr-defined]  # SQLModel sets it
    return tuple(values.get(column.name) for column in table.columns)


def test_a_row_read_outside_the_orm_is_in_the_session_as_if_loaded(
    tmp_path: Path, attached: list[object], statements: list[str]
) -> None:
    """Persistent, clean, not attached through `Session.add` (fails before: one attach per
    row), the same object for the same key and for `Session.get` (no SQL), and a change to it
    flushed as an UPDATE of that row."""
    engine = create_engine(f"sqlite:///{tmp_path / 'rows.db'}")
    SQLModel.metadata.create_all(engine)
    table = Institution.__table__  # type: ignore[attr-defined]  # SQLModel sets it
    with Session(engine) as session, session.begin():
        values = zip(table.columns.keys(), _institution_row("ROW-1"), strict=True)
        session.add(Institution(**dict(values)))
    attached.clear()
    with Session(engine) as session, session.begin():
        session.connection()
        statements.clear()
        row = _as_loaded(session, Institution, table, _institution_row("ROW-1"))
        state = sa_inspect(row)
        assert state.persistent and not state.modified
        assert attached == []
        assert row in session and not session.new and not session.dirty
        assert _as_loaded(session, Institution, table, _institution_row("ROW-1")) is row
        assert session.get(Institution, "ROW-1") is row
        assert statements == []
        row.city = "Shanghai"
        assert list(session.dirty) == [row]
        session.flush()
        assert [s for s in statements if s.startswith("UPDATE institution")], statements
    with Session(engine) as session:
        found = session.get(Institution, "ROW-1")
        assert found is not None and found.city == "Shanghai"
    engine.dispose()


@pytest.fixture
def writer(demo_url: str) -> Iterator[Engine]:
    """A long-lived writer's engine on the demo ledger."""
    engine = db.open_engine(demo_url)
    yield engine
    engine.dispose()


def _move(engine: Engine, location: str) -> None:
    """Move the demo's sample in one write transaction."""
    with db.transaction(engine) as session:
        move_sample(session, ctx_for(now=LATER), code=MOVED, storage_location=location)


def test_a_move_on_postgresql_attaches_nothing_and_is_written(
    writer: Engine, attached: list[object]
) -> None:
    """A move reads the curator, their institution and the sample with the lock: none of them
    goes through `Session.add` (fails before: 3 attached), the move is written, a move to
    where the sample already is is refused with nothing written, and the ledger verifies."""
    _move(writer, "Shelf A")
    attached.clear()
    _move(writer, "Shelf B")
    assert attached == []
    with pytest.raises(Conflict, match="already in"):
        _move(writer, "Shelf B")
    with db.transaction(writer, write=False) as session:
        sample = session.get(Sample, MOVED)
        assert sample is not None and sample.storage_location == "Shelf B"
    assert verify(writer).problems == []
