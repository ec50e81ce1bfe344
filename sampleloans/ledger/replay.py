"""Replaying the ledger, and "the ledger as it stood at time T".

A replay pushes stored events, in seq order, through the same unit of work and the same `apply`
as every write (`ledger/unit.py`, `replay`), into an empty schema. `verify` replays everything
and compares; the "as of" views replay a `Cut` into memory and read it.

**The ledger as it stood at T** (`as_of`) is one definition, used by `custody history --as-of`,
`report … --as-of` and `verify-document` of such a report:

- the events that had *occurred* by T (`occurred_at ≤ T`), in seq order;
- up to the last of them (`up_to_seq`), which is the head the view names;
- plus, up to that head, the reference records (ledger, missions, institutions, people) whatever
  their date, because later events point at them (a sample registered with its real, earlier
  date still replays).

An event recorded before that head but dated after T (a later act, recorded before a back-dated
one) is left out: it had not happened yet at T. Leaving it out is sound because every record's
events are in time order, so the events of any record up to a moment form a prefix of its events.
("The last seq dated before T, with everything recorded before it", which the report used
earlier, included such events.)
"""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from sampleloans import db
from sampleloans.errors import SampleLoansError, StorageError
from sampleloans.ledger import events as ev
from sampleloans.ledger.envelope import envelope_of, from_stored
from sampleloans.ledger.events import event_from_payload
from sampleloans.ledger.unit import Unit, replay
from sampleloans.models import LedgerEvent, LedgerMeta

TIMELESS_KINDS = (
    ev.LedgerCreated.kind,
    ev.MissionAdded.kind,
    ev.InstitutionAdded.kind,
    ev.PersonAdded.kind,
)
"""Reference records that later events point at; an `as of` replay keeps them whatever their
date, so a sample registered with its real (earlier) date still replays."""

REPLAY_BATCH = 5000
"""Events replayed between two writes of the buffered projections (bounded memory)."""


@dataclass(frozen=True)
class Cut:
    """Which events a replay takes: up to `up_to_seq` (None: all) and, with `occurred_by`, only
    those that had occurred by then (reference records whatever their date)."""

    up_to_seq: int | None = None
    occurred_by: datetime | None = None

    def takes(self, kind: str, occurred_at: datetime) -> bool:
        """Whether an event within `up_to_seq` is part of the ledger as cut."""
        if self.occurred_by is None or kind in TIMELESS_KINDS:
            return True
        return occurred_at <= self.occurred_by


def as_of(bind: Connection | Session, moment: datetime) -> Cut:
    """The ledger as it stood at `moment` (see the module docstring)."""
    connection = bind if isinstance(bind, Connection) else bind.connection()
    table = LedgerEvent.__table__  # type: ignore[attr-defined]  # SQLModel sets it
    last = 0
    # compared as datetimes, not as text: stored times may differ in their fraction digits
    for seq, occurred in connection.execute(select(table.c.seq, table.c.occurred_at)):
        if seq > last and from_stored(occurred) <= moment:
            last = int(seq)
    return Cut(up_to_seq=last, occurred_by=moment)


def replay_into(source: Engine | Connection, target: Engine, cut: Cut | None = None) -> str | None:
    """Replay the events of `source` (all, or those of `cut`) into the empty schema of `target`;
    the first failure in words ("event N (kind) cannot be replayed: …"), or None.

    `source` is an engine or a connection whose open read transaction is the snapshot to replay.
    """
    cut = cut or Cut()
    with _connected(source) as reading, target.begin() as connection:
        unit = Unit(connection, checks_now=False, empty=True)
        meta = LedgerMeta.__table__  # type: ignore[attr-defined]  # SQLModel sets it
        rows = [dict(row._mapping) for row in reading.execute(select(meta).order_by(meta.c.key))]
        if rows:
            connection.execute(meta.insert(), rows)
        events = LedgerEvent.__table__  # type: ignore[attr-defined]  # SQLModel sets it
        query = select(events).order_by(events.c.seq)
        if cut.up_to_seq is not None:
            query = query.where(events.c.seq <= cut.up_to_seq)
        count = 0
        for row in reading.execution_options(yield_per=REPLAY_BATCH).execute(query):
            envelope = envelope_of(row)
            if not cut.takes(row.kind, envelope.occurred_at):
                continue
            try:
                event = event_from_payload(row.kind, json.loads(row.payload))
                replay(unit, dict(row._mapping), envelope, event)
                count += 1
                if count % REPLAY_BATCH == 0:
                    unit.release()
            except (SampleLoansError, ValueError, TypeError, KeyError, SQLAlchemyError) as exc:
                db.raise_if_environment(exc, str(target.url.database), what="a scratch replay")
                return f"event {row.seq} ({row.kind}) cannot be replayed: {_first_line(exc)}"
        try:
            unit.release()
        except SQLAlchemyError as exc:
            db.raise_if_environment(exc, str(target.url.database), what="a scratch replay")
            return f"the replayed projections cannot be stored: {_first_line(exc)}"
    return None


@contextmanager
def ledger_at(session: Session, cut: Cut) -> Iterator[Session]:
    """A read session over the ledger replayed in memory as `cut` takes it.

    The replay reads through a second, read-only connection: never BEGIN IMMEDIATE against the
    caller's own session. A ledger that does not replay is a storage problem (run `verify`).
    """
    target = db.memory_engine()
    try:
        db.create_schema(target)
        failure = replay_into(db.reader_of(session), target, cut)
        if failure is not None:
            raise StorageError(f"{failure}; run 'sampleloans verify'")
        with Session(target) as past:
            yield past
    finally:
        target.dispose()


@contextmanager
def _connected(bind: Engine | Connection) -> Iterator[Connection]:
    """A connection: the given one as it is (its transaction stays open), or a new one."""
    if isinstance(bind, Connection):
        yield bind
        return
    with bind.connect() as connection:
        yield connection


def _first_line(exc: BaseException) -> str:
    """The first line of an exception's message."""
    return (str(exc).splitlines() or [type(exc).__name__])[0][:300]
