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

**A scoped "as of"** (`ledger_at(…, scope=…)`) replays only what a loan, a sample lineage or an
institution needs, not the whole ledger: the events indexed under the scope's subjects
(`event_subject`), those of the samples, loans and agreements they name and of the split
children of those samples (`_cone`) and, transitively, what those events read when they apply,
each only *before* the event that reads it: the earlier events of every sample and loan an
event names (which brings a split child's parent, or a sample's earlier loans), the agreement
events of the loans' agreements. Every event applies to rows whose state is then exactly as in
the full replay, so every row of the scope is identical to it (`tests/test_i13_scoped_as_of.py`
compares the two). Of the reference records it takes only those the scope's events name and a
view of them reads (`_named_references`: persons, their institutions, institutions, lenders,
missions), each added record by one seek of the index; `tests/test_i13_asof_references.py`
proves that every report, history and `verify-document` reads nothing else.
"""

import gc
import json
import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, case, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from sampleloans import db
from sampleloans.dates import to_iso
from sampleloans.errors import InvalidInput, SampleLoansError, StorageError
from sampleloans.gcpause import gc_paused
from sampleloans.ledger import events as ev
from sampleloans.ledger.apply import consumption_values
from sampleloans.ledger.envelope import envelope_of, from_stored
from sampleloans.ledger.events import event_from_payload
from sampleloans.ledger.halves import Halves
from sampleloans.ledger.payload import check_types, stored_payload
from sampleloans.ledger.unit import Unit, replay
from sampleloans.models import Consumption, EventSubject, LedgerEvent, LedgerMeta, utc_text
from sampleloans.vocab import InstitutionKind

TIMELESS_KINDS = (
    ev.LedgerCreated.kind,
    ev.MissionAdded.kind,
    ev.InstitutionAdded.kind,
    ev.PersonAdded.kind,
)
"""Reference records that later events point at; an `as of` replay keeps them whatever their
date, so a sample registered with its real (earlier) date still replays."""

PERSON_CHANGE_KINDS = (
    "person.deactivated",
    "person.reactivated",
    "person.renamed",
    "person.role_changed",
)
"""The events that change a person's row after it is added."""

INSTITUTION_CHANGE_KINDS = ("institution.renamed", "institution.place_changed")
"""The events that change an institution's row after it is added (none changes a mission's)."""

REFERENCE_KINDS = (*TIMELESS_KINDS, *PERSON_CHANGE_KINDS, *INSTITUTION_CHANGE_KINDS)
"""The reference records' events, which both halves of a `verify` take (`ledger/halves.py`): any
event may point at a person, an institution or a mission. A scoped "as of" takes only those its
scope names (`_named_references`)."""

AGREEMENT_KINDS = ("agreement.created", "agreement.signed", "agreement.ended")
"""The only events that change an agreement's row (a loan's events are indexed under its
agreement too, but only read it)."""

FOLLOWED = ("sample", "loan")
"""Subjects whose earlier events an event depends on: it reads and changes their rows."""

SPLIT_KINDS = ("sample.split", "loan.split")
"""Events that make new samples of a sample (named with it: parent and children)."""

Subject = tuple[str, str]
"""(subject_type, subject_key) as in `event_subject`."""

IN_CHUNK = 500
"""Keys per `IN (…)` list (well under SQLite's bound-parameter limit)."""

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
    return Cut(up_to_seq=_last_occurred(connection, moment), occurred_by=moment)


def last_taken(bind: Connection | Session, cut: Cut) -> int:
    """The last event the cut takes (0: none): the head a full replay of it ends on."""
    connection = bind if isinstance(bind, Connection) else bind.connection()
    up_to = cut.up_to_seq if cut.up_to_seq is not None else _head_seq(connection)
    if cut.occurred_by is None:
        return min(up_to, _head_seq(connection))
    table = LedgerEvent.__table__  # type: ignore[attr-defined]  # SQLModel sets it
    timeless = connection.execute(
        select(func.max(table.c.seq)).where(table.c.kind.in_(TIMELESS_KINDS), table.c.seq <= up_to)
    ).scalar()
    return max(_last_occurred(connection, cut.occurred_by, up_to), int(timeless or 0))


def earliest_cut_with(bind: Connection | Session, subject_type: str, key: str) -> datetime | None:
    """The earliest moment whose `as_of` cut holds the record made by the subject's first
    event; None when it has no event. A dated event is held from its date on; a reference
    record, whatever its date, once the cut's head reaches it: from the earliest date of any
    event from it on (a later event may be dated before it)."""
    connection = bind if isinstance(bind, Connection) else bind.connection()
    subject = EventSubject.__table__  # type: ignore[attr-defined]  # SQLModel sets it
    table = LedgerEvent.__table__  # type: ignore[attr-defined]  # SQLModel sets it
    first = connection.execute(
        select(table.c.seq, table.c.kind, table.c.occurred_at).where(
            table.c.seq
            == select(func.min(subject.c.seq))
            .where(subject.c.subject_type == subject_type, subject.c.subject_key == key)
            .scalar_subquery()
        )
    ).first()
    if first is None:
        return None
    seq, kind, occurred = first
    if kind not in TIMELESS_KINDS:
        return from_stored(occurred)
    earliest = connection.execute(
        select(func.min(table.c.occurred_at)).where(table.c.seq >= seq)
    ).scalar()
    # text order is time order between seconds, not within one ('…:05.5Z' < '…:05Z')
    second = str(earliest)[:19]
    same_second = select(table.c.occurred_at).where(
        table.c.seq >= seq, table.c.occurred_at >= second, table.c.occurred_at < second + "~"
    )
    return min(from_stored(stored) for (stored,) in connection.execute(same_second))


def _last_occurred(connection: Connection, moment: datetime, up_to: int | None = None) -> int:
    """The last seq (≤ `up_to`) of an event that had occurred by `moment`; 0 when none."""
    table = LedgerEvent.__table__  # type: ignore[attr-defined]  # SQLModel sets it
    within = [] if up_to is None else [table.c.seq <= up_to]
    # Stored times are canonical `to_iso` text: fixed-width up to the second, then an optional
    # fraction, then "Z". Text order is time order between different seconds (an index range
    # answers it), but not within one ("…:05.5Z" sorts before "…:05Z"): those few rows of
    # the moment's own second are compared as datetimes.
    second = to_iso(moment.replace(microsecond=0))[:19]
    last = _last_before(connection, second, up_to)
    same_second = select(table.c.seq, table.c.occurred_at).where(
        table.c.occurred_at >= second,
        table.c.occurred_at < second + "~",
        table.c.seq > last,
        *within,
    )
    for seq, occurred in connection.execute(same_second):
        if from_stored(occurred) <= moment:
            last = max(last, int(seq))
    return last


def _last_before(connection: Connection, second: str, up_to: int | None) -> int:
    """The last seq (≤ `up_to`) of an event dated before `second` (a stored time's first 19
    characters); 0 when none.

    The event with the latest date before `second` is found by one seek of the `occurred_at`
    index, and it is the answer unless an event recorded after it is back-dated before
    `second`. Seqs have no gaps, so that is checked by counting the events after it dated from
    `second` on: a range of the index as long as what happened after the moment, not as long as
    all that happened before it (751,623 of 1,000,033 events for a loan's mid-life moment on
    the bench ledger). When the count falls short, the whole range before `second` answers.
    """
    table = LedgerEvent.__table__  # type: ignore[attr-defined]  # SQLModel sets it
    within = [] if up_to is None else [table.c.seq <= up_to]
    latest = connection.execute(
        select(table.c.seq)
        .where(table.c.occurred_at < second, *within)
        .order_by(table.c.occurred_at.desc())
        .limit(1)
    ).scalar()
    if latest is None:
        return 0
    top = up_to if up_to is not None else _head_seq(connection)
    # `seq + 0` (here and below): the covering `occurred_at` index, not a walk of the table
    later = connection.execute(
        select(func.count()).where(
            table.c.occurred_at >= second, table.c.seq + 0 > latest, table.c.seq + 0 <= top
        )
    ).scalar()
    if later == top - latest:
        return int(latest)
    before = connection.execute(
        select(func.max(table.c.seq + 0)).where(table.c.occurred_at < second, *within)
    ).scalar()
    return int(before or 0)


def scope_seqs(connection: Connection, scope: Iterable[Subject], cut: Cut) -> list[int]:
    """The events a replay of `scope` as `cut` takes needs, in seq order (module docstring):
    the scope's cone (`_cone`) and the reference records it names (`_named_references`)."""
    head = cut.up_to_seq if cut.up_to_seq is not None else _head_seq(connection)
    cone = _cone(connection, scope, cut, head)
    return sorted(cone.taken | _named_references(connection, cone, cut, head))


@dataclass
class _Cone:
    """The events of a scope's cone, and the reference records their index entries name."""

    taken: set[int]
    persons: set[str]
    institutions: set[str]


def _cone(connection: Connection, scope: Iterable[Subject], cut: Cut, head: int) -> _Cone:
    """The scope's events and, transitively, the earlier events of what they read.

    A work list of subjects, each with the seq up to which its events are needed. The scope's
    own subjects, the samples, loans and agreements their events name, and the split children
    of every sample needed up to the head, are needed up to the head: those are the records a
    view of the scope reads (a curator's vault holds the children of its samples). Any other
    event needs the samples, loans and agreement it names up to just before itself. Every query
    is an index seek on `event_subject` (subject, seq) or on its primary key (seq).
    """
    cone = _Cone(taken=set(), persons=set(), institutions=set())
    roots = set(scope)
    needed: dict[Subject, int] = {}  # subject -> events needed up to this seq
    done: dict[Subject, int] = {}  # subject -> events already read up to this seq
    asked: dict[int, int] = {}  # seq -> how far its named records were asked for (`_ask`)
    pending: list[Subject] = []

    def need(subject: Subject, up_to: int) -> None:
        """Ask for the subject's events up to seq `up_to` (once per larger bound)."""
        if up_to > needed.get(subject, 0):
            if up_to == head:  # needed in full from now on: its splits ask for more
                done[subject] = 0
            needed[subject] = up_to
            pending.append(subject)

    for subject in roots:
        need(subject, head)
    while pending:
        subject = pending.pop()
        low, high = done.get(subject, 0), needed[subject]
        if high <= low:
            continue
        done[subject] = high
        events = _subject_seqs(connection, subject, low, high, cut)
        cone.taken.update(seq for seq, _kind in events)
        ask = _asks(
            subject, events, of_root=subject in roots, from_first=low == 0, whole=high == head
        )
        # an event already read for another subject is read again only to ask for more
        fresh = [seq for seq, how in ask.items() if how > asked.get(seq, -1)]
        asked.update((seq, ask[seq]) for seq in fresh)
        for seq, subject_type, key in _subjects_of(connection, fresh):
            if subject_type in FOLLOWED or subject_type == "agreement":
                whole = ask[seq] == ASK_ALL or (ask[seq] == ASK_SPLIT and subject_type == "sample")
                need((subject_type, key), head if whole else seq - 1)
            elif subject_type == "person":
                cone.persons.add(key)
            elif subject_type == "institution":
                cone.institutions.add(key)
    return cone


ASK_BEFORE, ASK_SPLIT, ASK_ALL = 0, 1, 2
"""How far an event asks for the records it names: up to just before itself; its split
children (a sample's, read in full) up to the head; all of them up to the head (an event of
the scope's own records)."""


def _asks(
    subject: Subject, events: list[tuple[int, str]], *, of_root: bool, from_first: bool, whole: bool
) -> dict[int, int]:
    """How far each of a subject's events (seq, kind) asks for the records it names (`ASK_*`):
    an event of the scope's own records, all of them; a split of a sample needed in full
    (`whole`), its children. A sample's first event (`from_first`: the events start with it)
    made it: a split that made it is its parent's, not its own."""
    if of_root:
        return {seq: ASK_ALL for seq, _kind in events}
    first = events[0][0] if from_first and events else None
    own = whole and subject[0] == "sample"
    return {
        seq: ASK_SPLIT if own and kind in SPLIT_KINDS and seq != first else ASK_BEFORE
        for seq, kind in events
    }


PARTY_FIELDS = ("released_by", "received_by", "courier", "witness")
"""A hand-over's persons in its payload (`services/handover.py`): a registered person's e-mail,
or the name of someone not registered."""

NAMING_PAYLOADS = {
    "sample.registered": ("mission",),
    "loan.issued": PARTY_FIELDS,
    "loan.shipped": PARTY_FIELDS,
    "loan.received": PARTY_FIELDS,
}
"""Kind → the payload fields naming a reference record that no index entry of the event names
(a sample's mission; a hand-over's persons, whom a report prints by name)."""


def _named_references(connection: Connection, cone: _Cone, cut: Cut, head: int) -> set[int]:
    """The reference records' events (up to `head`, as the cut takes them) that the cone's
    events and a view of them read, and nothing else:

    - every person the cone's events are indexed under (a loan's PI, a person's own events),
      who recorded one of them (its actor: a report marks what the borrower recorded, and a
      hand-over's default persons are its recorder), or whom a hand-over names;
    - each of those persons' institution (their row points at it);
    - every institution the cone's events are indexed under (a sample's custodian, a loan's
      borrower, an agreement's institution, a transfer's recipient), and every lender (a report
      names the first as "Lender");
    - the mission of every sample the cone registers.

    A person's or an institution's row is its `person.added` or `institution.added` and the
    changes to it the cut takes. Each added
    record is found by one seek of the subject index, not by reading every reference record
    (`tests/test_i13_asof_references.py` proves that a view reads nothing else).
    """
    named = _named_in_events(connection, cone)
    persons = cone.persons | named.actors | named.parties
    people = _added(connection, "person", persons, head)
    lenders = _lenders(connection, head)
    institutions = cone.institutions | set(lenders) | _homes(people.values())
    return (
        set(people)
        | set(lenders.values())
        | set(_added(connection, "institution", institutions, head))
        | _person_changes(connection, persons, cut, head)
        | _institution_changes(connection, institutions, cut, head)
        | _missions(connection, named.missions, head)
    )


@dataclass(frozen=True)
class _Named:
    """What a cone's events name outside the subject index."""

    actors: set[str]  # who recorded each event
    parties: set[str]  # the registered persons of a hand-over (e-mails)
    missions: set[str]  # the mission of each registered sample


def _named_in_events(connection: Connection, cone: _Cone) -> _Named:
    """The persons (e-mails) and missions (codes) the cone's events name outside the index:
    each event's actor, a hand-over's registered persons, a registered sample's mission."""
    table = LedgerEvent.__table__  # type: ignore[attr-defined]  # SQLModel sets it
    naming = case((table.c.kind.in_(tuple(NAMING_PAYLOADS)), table.c.payload), else_=None)
    named = _Named(actors=set(), parties=set(), missions=set())
    seqs = sorted(cone.taken)
    for start in range(0, len(seqs), IN_CHUNK):
        chunk = seqs[start : start + IN_CHUNK]
        query = select(table.c.seq, table.c.actor, table.c.kind, naming).where(
            table.c.seq.in_(chunk)
        )
        for seq, actor, kind, payload in connection.execute(query):
            named.actors.add(str(actor))
            if payload is None:
                continue
            data = stored_payload(seq, kind, payload)
            values = {v for v in (data.get(f) for f in NAMING_PAYLOADS[kind]) if isinstance(v, str)}
            if kind == ev.SampleRegistered.kind:
                named.missions.update(values)
            else:  # a hand-over names a registered person by e-mail, anyone else by name
                named.parties.update(v for v in values if "@" in v)
    return named


def _homes(people: Iterable[dict[str, Any]]) -> set[str]:
    """The institution of each person, from their `person.added` payload (it never changes)."""
    return {str(payload.get("institution")) for payload in people}


ADDED = {
    "person": (ev.PersonAdded.kind, "email"),
    "institution": (ev.InstitutionAdded.kind, "short_name"),
}
"""A reference subject type → the kind of event that adds such a record, and its key's field."""


def _added(
    connection: Connection, subject_type: str, keys: set[str], head: int
) -> dict[int, dict[str, Any]]:
    """The events (up to `head`) that added the records of `keys`: seq → payload.

    Each is the first event indexed under its record (nothing names a record before it exists:
    its row is pointed at), so one seek of the subject index finds it. Where that first event
    is something else (a tampered index), the `kind` index answers for those keys.
    """
    index = EventSubject.__table__  # type: ignore[attr-defined]  # SQLModel sets it
    events = LedgerEvent.__table__  # type: ignore[attr-defined]  # SQLModel sets it
    kind, field = ADDED[subject_type]
    firsts: dict[str, int] = {}
    for key in sorted(keys):
        first = connection.execute(
            select(func.min(index.c.seq)).where(
                index.c.subject_type == subject_type,
                index.c.subject_key == key,
                index.c.seq <= head,
            )
        ).scalar()
        if first is not None:  # else nothing up to `head` names it: not a record of the cut
            firsts[key] = int(first)
    found: dict[int, dict[str, Any]] = {}
    query = select(events.c.seq, events.c.kind, events.c.payload).where(
        events.c.seq.in_(sorted(set(firsts.values())))
    )
    for seq, first_kind, payload in connection.execute(query):
        data = stored_payload(seq, first_kind, payload)
        if first_kind == kind and data.get(field) in firsts:
            found[int(seq)] = data
    missing = set(firsts) - {str(data.get(field)) for data in found.values()}
    if missing:  # an index that does not start with the record
        by_kind = select(events.c.seq, events.c.payload).where(
            events.c.kind == kind, events.c.seq <= head
        )
        for seq, payload in connection.execute(by_kind):
            data = stored_payload(seq, kind, payload)
            if data.get(field) in missing:
                found[int(seq)] = data
    return found


def _lenders(connection: Connection, head: int) -> dict[str, int]:
    """Every lending institution added up to `head`: short name → the seq that added it.

    Read through the `kind` index, the payloads filtered in the database: institutions are few
    by nature, and the lenders among them fewer (the text match is confirmed on the JSON)."""
    events = LedgerEvent.__table__  # type: ignore[attr-defined]  # SQLModel sets it
    query = select(events.c.seq, events.c.payload).where(
        events.c.kind == ev.InstitutionAdded.kind,
        events.c.seq <= head,
        events.c.payload.like(f'%"institution_kind":"{InstitutionKind.LENDER.value}"%'),
    )
    lenders: dict[str, int] = {}
    for seq, payload in connection.execute(query):
        data = stored_payload(seq, ev.InstitutionAdded.kind, payload)
        if data.get("institution_kind") == InstitutionKind.LENDER:
            lenders[str(data.get("short_name"))] = int(seq)
    return lenders


def _person_changes(connection: Connection, emails: set[str], cut: Cut, head: int) -> set[int]:
    """The changes to the given persons the cut takes (a deactivation, a new role, a name)."""
    return _changes(connection, PERSON_CHANGE_KINDS, "email", emails, cut, head)


def _institution_changes(
    connection: Connection, short_names: set[str], cut: Cut, head: int
) -> set[int]:
    """The changes to the given institutions the cut takes (a name put right)."""
    return _changes(connection, INSTITUTION_CHANGE_KINDS, "short_name", short_names, cut, head)


def _changes(
    connection: Connection, kinds: tuple[str, ...], key: str, keys: set[str], cut: Cut, head: int
) -> set[int]:
    """The changes of `kinds` to the records whose payload `key` is one of `keys` that the cut
    takes, through the `kind` index (changes to a person or an institution are few by nature:
    a deactivation, a new role, a name put right)."""
    events = LedgerEvent.__table__  # type: ignore[attr-defined]  # SQLModel sets it
    query = select(events.c.seq, events.c.kind, events.c.occurred_at, events.c.payload).where(
        events.c.kind.in_(kinds), events.c.seq <= head
    )
    return {
        int(seq)
        for seq, kind, occurred, payload in connection.execute(query)
        if cut.takes(kind, from_stored(occurred))
        and stored_payload(seq, kind, payload).get(key) in keys
    }


def _missions(connection: Connection, codes: set[str], head: int) -> set[int]:
    """The `mission.added` events of the given missions (a handful by nature: the `kind`
    index)."""
    events = LedgerEvent.__table__  # type: ignore[attr-defined]  # SQLModel sets it
    query = select(events.c.seq, events.c.payload).where(
        events.c.kind == ev.MissionAdded.kind, events.c.seq <= head
    )
    return {
        int(seq)
        for seq, payload in connection.execute(query)
        if stored_payload(seq, ev.MissionAdded.kind, payload).get("code") in codes
    }


def _head_seq(connection: Connection) -> int:
    """The last seq of the ledger (0 when empty)."""
    table = LedgerEvent.__table__  # type: ignore[attr-defined]  # SQLModel sets it
    return int(connection.execute(select(func.max(table.c.seq))).scalar() or 0)


def _subject_seqs(
    connection: Connection, subject: Subject, after: int, up_to: int, cut: Cut
) -> list[tuple[int, str]]:
    """(seq, kind) of the events of one subject with `after < seq ≤ up_to` that the cut takes
    (an agreement: only the agreement's own events)."""
    index = EventSubject.__table__  # type: ignore[attr-defined]  # SQLModel sets it
    events = LedgerEvent.__table__  # type: ignore[attr-defined]  # SQLModel sets it
    query = (
        select(events.c.seq, events.c.kind, events.c.occurred_at)
        .join(index, index.c.seq == events.c.seq)
        .where(
            index.c.subject_type == subject[0],
            index.c.subject_key == subject[1],
            index.c.seq > after,
            index.c.seq <= up_to,
        )
    )
    if subject[0] == "agreement":
        query = query.where(events.c.kind.in_(AGREEMENT_KINDS))
    rows = connection.execute(query)
    return [(seq, kind) for seq, kind, occurred in rows if cut.takes(kind, from_stored(occurred))]


def _subjects_of(connection: Connection, seqs: Sequence[int]) -> Iterator[tuple[int, str, str]]:
    """(seq, subject_type, subject_key) of every index entry of the given events."""
    index = EventSubject.__table__  # type: ignore[attr-defined]  # SQLModel sets it
    for start in range(0, len(seqs), IN_CHUNK):
        chunk = list(seqs[start : start + IN_CHUNK])
        query = select(index.c.seq, index.c.subject_type, index.c.subject_key).where(
            index.c.seq.in_(chunk)
        )
        for seq, subject_type, key in connection.execute(query):
            yield int(seq), subject_type, key


class IndexCheck:
    """The replayed index compared with the ledger's own `event_subject`, event by event, as a
    replay of the whole ledger goes (`verify`), instead of copying it.

    The index is the largest table (four to five entries per event): writing it into the scratch
    copy and comparing the two with a set difference was a fifth of `verify`'s time on a
    1M-event ledger. The stored entries are read in seq order beside the replay; each event's
    entries are compared as a set with those stored under its seq. A stored entry under a seq
    no event had, or left after the last event, is one no event produced.

    The events are compared `EVENTS_AT_ONCE` at a time: the stored entries up to the last of
    them against all their replayed entries, as two sets (in C). Only where those differ is
    each event compared on its own (`_compare_each`), which names the differences; equal sets
    mean that every event's entries are exactly those stored under its seq and that no other
    entry up to there is one this check compares.
    """

    LIMIT = 50
    """Differences kept to name (all are counted)."""

    EVENTS_AT_ONCE = 2000
    """Events whose entries are compared together (a per-event loop in Python cost a replay
    about a tenth of its time)."""

    SEQS_AT_ONCE = 4000
    """At most this many seqs from the first event compared together to the last: the stored
    entries up to the last are held at once, and one half's events may lie far apart (a run of
    the other half's in between held 86 MB more on the bench ledger)."""

    READ_AT_ONCE = 5000
    """Stored entries read from the cursor at a time."""

    def __init__(self, connection: Connection, half: tuple[Halves, int] | None = None) -> None:
        # which seqs' entries this check compares: all, or those of one half (`Halves.checks`),
        # also as one byte per seq for a whole list at once (`Halves.compared`)
        self._checks: Callable[[Any], bool] | None = None
        self._compared: bytes | None = None
        if half is not None:
            halves, which = half
            self._checks = lambda seq: halves.checks(seq, which)
            self._compared = halves.compared(which)
        query = "SELECT seq, subject_type, subject_key FROM event_subject ORDER BY seq"
        # whole lists as the driver fetches them, never a step per entry (4.5M at 1M events)
        self._chunks = db.stream_chunks(connection, query, self.READ_AT_ONCE)
        self._buffer: list[tuple[Any, ...]] = []  # stored entries read and not yet compared
        self._at = 0  # the first of them in `_buffer`
        self._seqs: list[int] = []  # the events not compared yet, in seq order
        self._replayed: set[tuple[int, str, str]] = set()  # and their entries
        self.extra: list[tuple[Any, ...]] = []
        """Stored entries no event produced (the first `LIMIT`)."""
        self.missing: list[tuple[Any, ...]] = []
        """Entries the events produce that are not stored (the first `LIMIT`)."""
        self.differences = 0

    def event(self, seq: int, entries: set[tuple[int, str, str]]) -> None:
        """Take one replayed event's entries, to compare with the stored entries under its seq
        (at the latest by `finish`)."""
        seqs = self._seqs
        if not seqs or seq - seqs[-1] > self.SEQS_AT_ONCE:
            self._compare_taken()
            self._pass_before(seq)  # a run of seqs without an event here, read a chunk at a time
        seqs = self._seqs
        seqs.append(seq)
        self._replayed.update(entries)  # a copy: the unit reuses its set for the next event
        if len(seqs) >= self.EVENTS_AT_ONCE or seq - seqs[0] >= self.SEQS_AT_ONCE:
            self._compare_taken()

    def _pass_before(self, seq: int) -> None:
        """Read past the stored entries under seqs before `seq` (no event of this check has
        them): those this check compares are ones no event produced."""
        while chunk := self._stored_up_to(seq - 1, self.READ_AT_ONCE):
            compared, _others = self._split(chunk)
            self._note(self.extra, compared)

    def finish(self) -> None:
        """Compare what is left; every stored entry after the last replayed event is one no
        event produced."""
        self._compare_taken()
        while (entry := self._read()) is not None:
            self._stray(entry)

    def close(self) -> None:
        """Stop reading the stored index (its cursor is closed while the connection is open)."""
        self._chunks.close()

    def _compare_taken(self) -> None:
        """Compare the events taken so far with the stored entries up to the last of them."""
        if not self._seqs:
            return
        seqs, replayed = self._seqs, self._replayed
        self._seqs, self._replayed = [], set()
        stored = self._stored_up_to(seqs[-1])
        compared, others = self._split(stored)
        # every compared entry is one an event produced, under that event's seq, each once, and
        # none is missing; an entry this check does not compare is under no seq of its events
        if (
            len(compared) == len(replayed)
            and replayed == set(compared)
            and (not others or set(seqs).isdisjoint(entry[0] for entry in others))
        ):
            return
        self._compare_each(seqs, replayed, stored)

    def _split(
        self, stored: list[tuple[Any, ...]]
    ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """The stored entries this check compares, and the others (another half's)."""
        checks, compared = self._checks, self._compared
        if checks is None or not stored:
            return stored, []
        if (
            compared is not None
            and type(stored[0][0]) is int
            and type(stored[-1][0]) is int
            and stored[0][0] > 0
            and stored[-1][0] < len(compared)
        ):  # in seq order: every seq is a number within the halves (one byte each)
            return (
                [entry for entry in stored if compared[entry[0]]],
                [entry for entry in stored if not compared[entry[0]]],
            )
        return (
            [entry for entry in stored if checks(entry[0])],
            [entry for entry in stored if not checks(entry[0])],
        )

    def _compare_each(
        self, seqs: list[int], replayed: set[tuple[int, str, str]], stored: list[tuple[Any, ...]]
    ) -> None:
        """Compare event by event, naming the differences: `stored` holds, in seq order, every
        stored entry up to the last of `seqs` that none of the earlier events took."""
        by_seq: dict[int, set[tuple[int, str, str]]] = {}
        for entry in replayed:
            by_seq.setdefault(entry[0], set()).add(entry)
        at = 0
        for seq in seqs:
            entries = by_seq.get(seq, set())
            under: set[tuple[Any, ...]] = set()
            # a seq that is not a number (a tampered row) sorts after every number: `finish`
            while at < len(stored) and _number_at_most(stored[at][0], seq):
                if stored[at][0] < seq:
                    self._stray(stored[at])
                else:
                    under.add(stored[at])
                at += 1
            if under != entries:
                self._note(self.extra, sorted(under - entries, key=db.sql_order))
                self._note(self.missing, sorted(entries - under))

    def _stored_up_to(self, seq: int, limit: int | None = None) -> list[tuple[Any, ...]]:
        """The stored entries not read yet, in seq order, up to the first whose seq is not a
        number no greater than `seq` (left for the next events, or `finish`); with `limit`, the
        first `limit` or so of them (whole chunks read)."""
        taken: list[tuple[Any, ...]] = []
        while True:
            buffer, at = self._buffer, self._at
            if at >= len(buffer):
                self._buffer, self._at = buffer, at = next(self._chunks, []), 0
                if not buffer:
                    return taken
            first, last = buffer[at][0], buffer[-1][0]
            if type(first) is int and type(last) is int:
                # in seq order, numbers lie between two numbers (SQLite sorts NULL before them,
                # text and blobs after): the cut is found by bisection
                end = bisect_right(buffer, seq, lo=at, key=_seq_of)
            else:
                end = at
                while end < len(buffer) and _number_at_most(buffer[end][0], seq):
                    end += 1
            taken.extend(buffer[at:end])
            self._at = end
            if end < len(buffer) or (limit is not None and len(taken) >= limit):
                return taken

    def _read(self) -> tuple[Any, ...] | None:
        """The next stored entry not read yet, or None."""
        if self._at >= len(self._buffer):
            self._buffer, self._at = next(self._chunks, []), 0
            if not self._buffer:
                return None
        self._at += 1
        return self._buffer[self._at - 1]

    def _stray(self, entry: tuple[Any, ...]) -> None:
        """A stored entry under a seq this check has no event for: one no event produced, unless
        another replay compares that seq (`ledger/halves.py`)."""
        if self._checks is None or self._checks(entry[0]):
            self._note(self.extra, [entry])

    def _note(self, found: list[tuple[Any, ...]], rows: list[tuple[Any, ...]]) -> None:
        """Count differences; keep the first ones to name."""
        self.differences += len(rows)
        found.extend(rows[: max(0, self.LIMIT - len(self.extra) - len(self.missing))])


_seq_of = itemgetter(0)
"""The seq of a stored index entry (seq, subject type, key)."""


def _number_at_most(value: Any, seq: int) -> bool:
    """Whether a stored seq is a number no greater than `seq`."""
    return isinstance(value, int | float) and value <= seq


def replay_into(
    source: Engine | Connection,
    target: Engine,
    cut: Cut | None = None,
    scope: Sequence[Subject] | None = None,
    *,
    batch: int = REPLAY_BATCH,
    index_check: IndexCheck | None = None,
    progress: Callable[[int], None] | None = None,
    half: tuple[Halves, int] | None = None,
) -> str | None:
    """Replay the events of `source` (all, or those of `cut`; only what `scope` needs, when
    given) into the empty schema of `target`, writing every `batch` events; the first failure
    in words ("event N (kind) cannot be replayed: …"), or None.

    `source` is an engine or a connection whose open read transaction is the snapshot to replay.
    With `index_check` (a whole replay, `source` a connection), the events and their index are
    not copied: the replay reads the ledger's own, and hands each event's entries to the check.
    With `half` (halves, which), only the events that half takes (`ledger/halves.py`).
    """
    cut = cut or Cut()
    with (
        gc_paused(),  # the young generations are collected after each batch
        _connected(source) as reading,
        target.begin() as connection,
    ):
        stored = reading if index_check is not None else None
        # a whole replay of the ledger's own events: plain consumptions are filled after it
        later = stored is not None and scope is None and cut.occurred_by is None
        unit = Unit(
            connection,
            checks_now=False,
            empty=True,
            stored=stored,
            defer_changes=True,
            consumptions_later=later,
        )
        meta = LedgerMeta.__table__  # type: ignore[attr-defined]  # SQLModel sets it
        rows = [dict(row._mapping) for row in reading.execute(select(meta).order_by(meta.c.key))]
        if rows:
            connection.execute(meta.insert(), rows)
        count = 0
        own = stored is not None and scope is None  # the ledger's own rows, read as tuples
        rows_read: Iterator[Any] = (
            _stored_rows(reading, cut, half) if own else _event_rows(reading, cut, scope)
        )
        for row in rows_read:
            if half is not None and not own and not half[0].takes(row.seq, half[1]):
                continue  # the other half's (`_stored_rows` leaves them out itself)
            try:
                # in the try: a row of a page cut short holds NULLs and zero bytes, no time
                envelope = envelope_of(row)
                if not cut.takes(row.kind, envelope.occurred_at):
                    continue
                payload = json.loads(row.payload)
                if not isinstance(payload, dict):  # only an edit of the file writes one
                    raise InvalidInput("its payload is not a JSON object")
                check_types(row.kind, payload)
                event = event_from_payload(row.kind, payload)
                # a copy of the row only where the unit writes it (not into `stored`'s replay)
                replay(
                    unit,
                    _mapping_of(row) if stored is not None else dict(row._mapping),
                    envelope,
                    event,
                )
                if index_check is not None and (half is None or half[0].checks(row.seq, half[1])):
                    index_check.event(row.seq, unit.indexed())
                if progress is not None:
                    progress(row.seq)
                count += 1
                if count % batch == 0:
                    unit.release()
                    gc.collect(1)  # the batch's own cycles (few): not the rows kept across
            except (
                SampleLoansError,
                ValueError,
                TypeError,
                KeyError,
                SQLAlchemyError,
                RecursionError,  # a payload nested beyond Python's stack, written by hand
            ) as exc:
                db.raise_if_environment(exc, str(target.url.database), what="a scratch replay")
                return f"event {row.seq} ({row.kind}) cannot be replayed: {_first_line(exc)}"
        try:
            unit.flush()  # every row as the last event left it (`release` defers changes)
            if later:
                fill_consumptions(reading, connection, cut, half)
        except SQLAlchemyError as exc:
            db.raise_if_environment(exc, str(target.url.database), what="a scratch replay")
            return f"the replayed projections cannot be stored: {_first_line(exc)}"
    return None


CONSUMED_STAGE = "CREATE TEMP TABLE consumed_event (seq INTEGER PRIMARY KEY, payload, occurred_at)"
"""The stored `loan.consumed` events of a replay, their times as a projection stores them."""

_CONSUMPTION_FIELDS = ("number", "sample", "technique", "destructive", "mass_ug")
CONSUMED_FILL = (
    "INSERT INTO consumption "
    "(seq, loan_number, sample_code, technique, destructive, mass_ug, occurred_at) "
    "SELECT seq, "
    + ", ".join(f"json_extract(payload, '$.{name}')" for name in _CONSUMPTION_FIELDS)
    + ", occurred_at FROM temp.consumed_event AS e "
    # json_valid first (CASE keeps the order): Python reads some texts SQLite calls malformed
    # (NaN); no escape: both read the same characters; each key once: a JSON path reads the
    # first of two, Python the last (the five are all Python found: it refuses any other)
    "WHERE CASE WHEN instr(payload, '\\') = 0 AND json_valid(payload) THEN json_remove(payload, "
    + ", ".join(f"'$.{name}'" for name in _CONSUMPTION_FIELDS)
    + ") = '{}' ELSE 0 END "
    "AND NOT EXISTS (SELECT 1 FROM consumption AS c WHERE c.seq = e.seq)"
)
"""The consumption rows `apply` did not write, from their stored JSON, in C. Those are plain as
Python read them (`apply.plain_consumption`: text, a boolean, a 64-bit integer), and where the
payload has each key once and no escape a JSON path reads the same values (a boolean as 1 or 0,
as the column stores Python's)."""
CONSUMED_LEFT = (
    "SELECT seq, payload, occurred_at FROM temp.consumed_event AS e "
    "WHERE NOT EXISTS (SELECT 1 FROM consumption AS c WHERE c.seq = e.seq) ORDER BY seq"
)
"""The consumptions neither `apply` nor `CONSUMED_FILL` wrote (Python reads them)."""


def fill_consumptions(
    reading: Connection, target: Connection, cut: Cut, half: tuple[Halves, int] | None
) -> None:
    """Write the consumption rows `apply` left to this fill (`Unit.consumptions_later`): one
    per stored `loan.consumed` event the replay applied (each one, as it is whole and clean),
    from its stored payload, with the mass as recorded (a corrected one has its row already).

    The rows are the ones `apply` would have written; the replay itself still applied every
    consumption to its loan, sample and item and checked its rules.
    """
    within = "" if cut.up_to_seq is None else f" AND seq <= {int(cut.up_to_seq)}"
    query = (
        "SELECT seq, payload, occurred_at FROM ledger_event "
        f"WHERE kind = '{ev.LoanConsumed.kind}'{within} ORDER BY seq"
    )
    staged = (_staged(chunk, half) for chunk in db.stream_chunks(reading, query, REPLAY_BATCH))
    consumption = Consumption.__table__  # type: ignore[attr-defined]  # SQLModel sets it
    fill = db.StagedFill(CONSUMED_STAGE, "consumed_event", CONSUMED_FILL, CONSUMED_LEFT)
    for found in db.staged_fill(target, fill, staged, REPLAY_BATCH):
        target.execute(consumption.insert(), [_consumption_row(*row) for row in found])


def _staged(
    chunk: list[tuple[Any, ...]], half: tuple[Halves, int] | None
) -> Iterator[tuple[Any, str, str]]:
    """The events of a chunk this replay applied, their times as a projection stores them (an
    unaware time: `apply` wrote that row itself)."""
    for seq, payload, occurred_at in chunk:
        if half is not None and not half[0].takes(seq, half[1]):
            continue  # the other half's
        if type(occurred_at) is str and _STORED_TIME.fullmatch(occurred_at):
            yield seq, payload, occurred_at  # as `utc_text` writes it (the replay read it)
            continue
        when = datetime.fromisoformat(occurred_at)
        if when.tzinfo is not None:
            yield seq, payload, utc_text(when)


_STORED_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.(?!000000)\d{6})?Z", re.ASCII)
"""An event time already in the text `utc_text` gives the time it reads as (the common case):
written as it is, without reading it as a time again."""


def _consumption_row(seq: int, payload: str, occurred_at: str) -> dict[str, Any]:
    """A consumption row as `apply` writes it, from its stored event (its loan's number is the
    event's: `apply` finds the loan by that key)."""
    event = event_from_payload(ev.LoanConsumed.kind, json.loads(payload))
    assert isinstance(event, ev.LoanConsumed)
    # a plain event's number is text, and the loan found by it has that same key
    return consumption_values(seq, from_stored(occurred_at), event, event.number)


class StoredEvent(NamedTuple):
    """A stored event row as the driver gives it: a replay of the whole ledger reads plain
    tuples (building SQLAlchemy rows cost it about as much as decoding the payloads)."""

    seq: int
    kind: str
    payload: str
    occurred_at: str
    recorded_at: str
    actor: str
    os_user: str
    corrects_seq: int | None
    reason: str | None
    prev_hash: str
    hash: str


def _stored_rows(
    reading: Connection, cut: Cut, half: tuple[Halves, int] | None = None
) -> Iterator[StoredEvent]:
    """Every stored row within the cut (with `half`, those that half takes), in seq order, in
    the connection's snapshot. The other half's rows are left out as the driver gives them:
    no named tuple is built for the half of the ledger this replay skips."""
    within = "" if cut.up_to_seq is None else f" WHERE seq <= {int(cut.up_to_seq)}"
    query = f"SELECT {', '.join(StoredEvent._fields)} FROM ledger_event{within} ORDER BY seq"
    make = StoredEvent._make
    for chunk in db.stream_chunks(reading, query, REPLAY_BATCH):
        if half is None:
            yield from map(make, chunk)
            continue
        halves, which = half
        yield from (make(values) for values in chunk if halves.takes(values[0], which))


def _mapping_of(row: Any) -> Mapping[str, Any]:
    """What `unit.replay` reads of a stored row the unit does not copy (`Unit(stored=…)`): its
    seq, kind and hash, by name (not the whole row as a dict: one per event)."""
    if isinstance(row, StoredEvent):
        return {"seq": row.seq, "kind": row.kind, "hash": row.hash}
    return row._mapping


def _event_rows(reading: Connection, cut: Cut, scope: Sequence[Subject] | None) -> Iterator[Any]:
    """The stored rows to replay, in seq order: all within the cut, or those `scope` needs."""
    events = LedgerEvent.__table__  # type: ignore[attr-defined]  # SQLModel sets it
    if scope is None:
        query = select(events).order_by(events.c.seq)
        if cut.up_to_seq is not None:
            query = query.where(events.c.seq <= cut.up_to_seq)
        yield from reading.execution_options(yield_per=REPLAY_BATCH).execute(query)
        return
    seqs = scope_seqs(reading, scope, cut)
    for start in range(0, len(seqs), IN_CHUNK):
        chunk = seqs[start : start + IN_CHUNK]
        yield from reading.execute(
            select(events).where(events.c.seq.in_(chunk)).order_by(events.c.seq)
        )


@contextmanager
def ledger_at(
    session: Session, cut: Cut, scope: Sequence[Subject] | None = None
) -> Iterator[Session]:
    """A read session over the ledger replayed in memory as `cut` takes it: all of it, or
    only what the records of `scope` need (identical for those records).

    The replay reads through a second, read-only connection: never BEGIN IMMEDIATE against the
    caller's own session. A ledger that does not replay is a storage problem (run `verify`).
    """
    target = db.memory_ledger()
    try:
        failure = replay_into(db.reader_of(session), target, cut, scope)
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
