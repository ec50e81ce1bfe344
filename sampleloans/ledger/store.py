"""Reading the ledger: its genesis, its head, and its events in order.

Writing is the unit of work's (`ledger/unit.py`): `unit.append(unit, ctx, event)` is the only
way an event enters the ledger; `append(session, …)` here does it through the session's unit.
"""

import json
from collections.abc import Iterator
from datetime import datetime

from sqlmodel import Session, col, select

from sampleloans.errors import InvalidInput
from sampleloans.ledger import chain
from sampleloans.ledger import unit as ledger_unit
from sampleloans.ledger.envelope import Context, Envelope, envelope_of
from sampleloans.ledger.events import Event, event_from_payload
from sampleloans.models import LedgerEvent, LedgerMeta

__all__ = [
    "Context",
    "Envelope",
    "append",
    "decode",
    "envelope_of",
    "genesis",
    "head",
    "iter_events",
]


def append(
    session: Session,
    ctx: Context,
    event: Event,
    *,
    occurred_at: datetime | None = None,
    reason: str | None = None,
    corrects_seq: int | None = None,
) -> Envelope:
    """Append an event through the session's unit of work: the import's open batch, or a batch
    of one checked at once (`ledger/unit.py`)."""
    return ledger_unit.append(
        ledger_unit.unit_for(session),
        ctx,
        event,
        occurred_at=occurred_at,
        reason=reason,
        corrects_seq=corrects_seq,
    )


def genesis(session: Session) -> str:
    """The genesis hash of this ledger (from its id in ledger_meta)."""
    meta = session.get(LedgerMeta, "ledger_id")
    if meta is None:
        raise InvalidInput("this database has no ledger; run 'sampleloans init' first")
    return chain.genesis_hash(meta.value)


def head(session: Session) -> tuple[int, str]:
    """The last event's seq and hash, or (0, genesis) for an empty ledger (a primary-key seek)."""
    seq, hash_hex, _recorded_at = _last_link(session)
    return seq, hash_hex


def _last_link(session: Session) -> tuple[int, str, datetime | None]:
    """The last event's seq, hash and recording time, or (0, genesis, None) when empty."""
    row = session.execute(ledger_unit.head_query(session.connection())).first()
    if row is None:
        return 0, genesis(session), None
    return int(row[0]), str(row[1]), datetime.fromisoformat(str(row[2]))


def decode(row: LedgerEvent) -> Event:
    """The event payload of a stored row."""
    return event_from_payload(row.kind, json.loads(row.payload))


def iter_events(session: Session, *, up_to_seq: int | None = None) -> Iterator[LedgerEvent]:
    """Every event in seq order, streamed in batches (never the whole ledger in memory)."""
    last = 0
    while True:
        query = select(LedgerEvent).where(col(LedgerEvent.seq) > last)
        if up_to_seq is not None:
            query = query.where(col(LedgerEvent.seq) <= up_to_seq)
        batch = list(session.exec(query.order_by(col(LedgerEvent.seq)).limit(2000)).all())
        if not batch:
            return
        for row in batch:
            session.expunge(row)
            yield row
        last = batch[-1].seq
