"""Appending to the ledger: one event, one hash link, the projection, and the checks.

`append` is the only function that writes a `LedgerEvent`. It runs inside the caller's
transaction: if `apply` or a check raises, the transaction rolls back and nothing is written.
"""

import json
from collections.abc import Iterator
from datetime import UTC, datetime

from sqlalchemy import insert, text
from sqlmodel import Session, select

from sampleloans import crashpoints
from sampleloans.errors import InvalidInput, RuleViolation
from sampleloans.ledger import apply as apply_module
from sampleloans.ledger import chain, checks
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


def _iso(moment: datetime) -> str:
    """Stored text of an aware datetime (`…Z`), as `models.UTCDateTime` stores it."""
    from sampleloans.dates import to_iso

    return to_iso(moment)


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


_HEAD_QUERY = text(
    "SELECT seq, hash, recorded_at FROM ledger_event "
    "WHERE seq = (SELECT max(seq) FROM ledger_event)"
)


def _last_link(session: Session) -> tuple[int, str, datetime | None]:
    """The last event's seq, hash and recording time, or (0, genesis, None) when empty."""
    row = session.execute(_HEAD_QUERY).first()
    if row is None:
        return 0, genesis(session), None
    return int(row[0]), str(row[1]), _stored_time(row[2])


def _stored_time(value: str | datetime) -> datetime:
    """A stored `…Z` time as an aware datetime."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _check_clock(now: datetime, last_seq: int, last_recorded_at: datetime | None) -> None:
    """Refuse to record before the last event was recorded: `recorded_at` never decreases."""
    if last_recorded_at is not None and now < last_recorded_at:
        raise RuleViolation(
            f"clock: now is {_iso(now)}, before event {last_seq} was recorded "
            f"({_iso(last_recorded_at)}); the recording clock (SAMPLELOANS_NOW or the system "
            "clock) must not go back: set it right and try again"
        )


def append(
    session: Session,
    ctx: Context,
    event: Event,
    *,
    occurred_at: datetime | None = None,
    reason: str | None = None,
    corrects_seq: int | None = None,
) -> Envelope:
    """Append one event, apply it to the projections and run the invariant checks on it."""
    # a bulk session remembers the head in info["head"]: no head query per event
    last_seq, prev_hash, last_recorded_at = session.info.get("head") or _last_link(session)
    _check_clock(ctx.now, last_seq, last_recorded_at)
    when = occurred_at or ctx.now
    if when > ctx.now:  # time order is a rule (exit 1), like the order of a record's events
        raise RuleViolation(
            f"time: {_iso(when)} is in the future (now is {_iso(ctx.now)}); "
            "events can only be recorded for the past"
        )
    payload = chain.canonical(event.to_payload(), f"{event.kind} payload")
    body = chain.event_body(
        seq=last_seq + 1,
        kind=event.kind,
        payload=payload,
        occurred_at=_iso(when),
        recorded_at=_iso(ctx.now),
        actor=ctx.actor,
        os_user=ctx.os_user,
        corrects_seq=corrects_seq,
        reason=reason,
    )
    values = {**body, "prev_hash": prev_hash, "hash": chain.link_hash(prev_hash, body)}
    # a Core insert: the event row is never read back through the ORM on the write path
    session.execute(insert(LedgerEvent.__table__), values)  # type: ignore[attr-defined]
    if "head" in session.info:
        session.info["head"] = (last_seq + 1, values["hash"], ctx.now)
    crashpoints.reached("after_event_insert")
    envelope = Envelope(
        seq=last_seq + 1,
        kind=event.kind,
        occurred_at=when.astimezone(UTC),
        recorded_at=ctx.now.astimezone(UTC),
        actor=ctx.actor,
        os_user=ctx.os_user,
        corrects_seq=corrects_seq,
        reason=reason,
        payload=payload,
    )
    touched = apply_module.apply(session, envelope, event)
    session.flush()
    crashpoints.reached("after_apply")
    deferred = session.info.get("deferred")
    if deferred is not None:  # a bulk session checks a whole batch's records at once
        deferred.update(touched)
        return envelope
    violations = checks.check_touched(session, touched)
    if violations:
        raise RuleViolation("; ".join(v.message for v in violations))
    return envelope


def decode(row: LedgerEvent) -> Event:
    """The event payload of a stored row."""
    return event_from_payload(row.kind, json.loads(row.payload))


def iter_events(session: Session, *, up_to_seq: int | None = None) -> Iterator[LedgerEvent]:
    """Every event in seq order, streamed in batches (never the whole ledger in memory)."""
    last = 0
    while True:
        query = select(LedgerEvent).where(LedgerEvent.seq > last)  # type: ignore[arg-type]
        if up_to_seq is not None:
            query = query.where(LedgerEvent.seq <= up_to_seq)  # type: ignore[arg-type]
        batch = list(session.exec(query.order_by(LedgerEvent.seq).limit(2000)).all())
        if not batch:
            return
        for row in batch:
            session.expunge(row)
            yield row
        last = batch[-1].seq
