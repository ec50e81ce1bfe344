"""Chain-of-custody history: every event concerning a sample lineage, a loan or an institution,
and (for `--as-of`) the state replayed from the ledger up to a moment in the past."""

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from sampleloans.dates import (
    bound_text,
    format_datetime,
    format_moment,
    from_iso,
    refuse_future,
    to_iso,
)
from sampleloans.errors import InvalidInput, NoSuchRecord, NotYetRecorded
from sampleloans.ledger.envelope import Context, from_stored, importer_of, os_account_of
from sampleloans.ledger.payload import stored_payload
from sampleloans.models import (
    EventSubject,
    Institution,
    LedgerEvent,
    Loan,
    LoanItem,
    Note,
    Person,
    Sample,
    Shipment,
    byte_order,
    time_order_key,
    time_order_text,
)
from sampleloans.readmodels.handover import Handover, is_backdated
from sampleloans.readmodels.items import item_masses
from sampleloans.services import access
from sampleloans.services.borrower_mark import BorrowerMark, loan_of
from sampleloans.services.common import get_sample, root_sample
from sampleloans.services.handover import HANDOVER_KINDS, NAMES_NOW, handover_of, names_at
from sampleloans.services.listing import EVERY_ROW, Page, Query, batches, counter, paged
from sampleloans.text import counted, words

if TYPE_CHECKING:
    from sampleloans.ledger.replay import Cut  # the write side loads only for --as-of
from sampleloans.units import format_mass, format_period, quote_input


@dataclass(frozen=True)
class HistoryEntry:
    """One event of a record's history, described in one line."""

    seq: int
    occurred_at: datetime
    recorded_at: datetime
    kind: str
    actor: str
    os_user: str | None  # the OS account that recorded it; None for a researcher (lender's)
    reason: str | None  # why, where the command asks (a recall, a correction)
    description: str
    corrects_seq: int | None
    corrected_by: tuple[int, ...]
    imported_by: str | None = None  # the curator who imported it from a history file
    handover: Handover | None = None  # who released and who received, for a hand-over
    by_borrower: bool = False  # recorded by a person of the borrower (services/borrower_mark.py)

    @property
    def backdated(self) -> bool:
        """Whether the event was entered after the fact (see `handover.BACKDATED_AFTER`)."""
        return is_backdated(self.occurred_at, self.recorded_at)


@dataclass(frozen=True)
class SampleState:
    """A sample as the ledger stood at some moment."""

    code: str
    parent_code: str | None
    custody_state: str
    custodian: str
    loan_number: str | None
    initial_ug: int
    vault_ug: int
    on_loan_ug: int
    split_ug: int
    consumed_ug: int
    lost_ug: int
    transferred_ug: int
    frozen: bool = False  # an open incident froze it then: "held (frozen)", as every view says


@dataclass(frozen=True)
class ItemState:
    """One loan item as the ledger stood at some moment."""

    sample_code: str
    state: str
    issued_ug: int  # by the curator: 0 for a sample the borrower split off
    held_ug: int
    consumed_ug: int
    returned_ug: int
    from_split_ug: int = 0  # split off another sample of the loan by the borrower


@dataclass(frozen=True)
class LoanState:
    """A loan as the ledger stood at some moment."""

    number: str
    institution: str
    status: str
    due_at: datetime | None
    items: tuple[ItemState, ...]
    recalled_at: datetime | None = None  # the last recall by then, which set the due date


@dataclass(frozen=True)
class ReplayedState:
    """The records of a history replayed up to the last event at or before `as_of`."""

    as_of: datetime
    up_to_seq: int
    samples: tuple[SampleState, ...]
    loans: tuple[LoanState, ...]


@dataclass(frozen=True)
class History:
    """A record's history in seq order, with the replayed state when asked `as_of`."""

    subject_type: str  # sample | loan | institution
    subject_key: str
    codes: tuple[str, ...]  # the sample lineage (for a sample), else empty
    entries: Iterable[HistoryEntry]  # a tuple, or a stream from `history_listing`
    as_of: datetime | None
    state: ReplayedState | None


def lineage(session: Session, code: str) -> list[str]:
    """A sample's whole lineage: its root ancestor and every descendant, sorted by code."""
    root = root_sample(session, get_sample(session, code))
    found, frontier = [root.code], [root.code]
    while frontier:
        children = session.exec(
            select(Sample.code).where(col(Sample.parent_code).in_(frontier))
        ).all()
        frontier = [c for c in children if c not in found]
        found.extend(frontier)
    return sorted(found)


def _descendants(session: Session, code: str, keep: Callable[[Sample], bool]) -> list[str]:
    """A sample and its descendants, in code order, entering only the samples `keep` accepts
    (a child it refuses is left out with its whole subtree)."""
    found, frontier = [code], [code]
    while frontier:
        children = session.exec(select(Sample).where(col(Sample.parent_code).in_(frontier))).all()
        frontier = [c.code for c in children if c.code not in found and keep(c)]
        found.extend(frontier)
    return sorted(found)


def _own_loan_samples(session: Session, institution: str) -> set[str]:
    """Every sample that was ever an item of a loan of an institution."""
    rows = session.exec(
        select(LoanItem.sample_code)
        .join(Loan, col(Loan.number) == col(LoanItem.loan_number))
        .where(Loan.institution == institution)
    ).all()
    return set(rows)


def readable_lineage(session: Session, person: Person, code: str) -> list[str]:
    """The lineage whose history a person may read: all of it for staff; for a researcher the
    sample and those of its descendants that were ever on a loan of their institution, since
    ancestors, siblings and other children carry other institutions' loans."""
    if access.is_staff(person):
        return lineage(session, code)
    own = _own_loan_samples(session, person.institution)
    return [c for c in _descendants(session, code, lambda _s: True) if c == code or c in own]


def visible_subtree(session: Session, person: Person, code: str) -> list[str]:
    """The lineage whose current state a person may read: all of it for staff; for a researcher
    the sample and the descendants on their institution's loans now (as `samples tree`)."""
    if access.is_staff(person):
        return lineage(session, code)
    return _descendants(session, code, lambda s: access.can_see_sample(session, person, s))


def foreign_loan_events(session: Session, person: Person, seqs: list[int]) -> set[int]:
    """Events of other institutions' loans, which a researcher may not read."""
    if access.is_staff(person) or not seqs:
        return set()
    rows = session.exec(
        select(EventSubject.seq)
        .join(Loan, col(Loan.number) == col(EventSubject.subject_key))
        .where(
            EventSubject.subject_type == "loan",
            col(EventSubject.seq).in_(seqs),
            Loan.institution != person.institution,
        )
    ).all()
    return set(rows)


def record_history(
    session: Session,
    ctx: Context,
    *,
    sample: str | None = None,
    loan: str | None = None,
    institution: str | None = None,
    as_of: datetime | None = None,
) -> History:
    """Every event concerning one record in seq order (a sample: its whole lineage), as a
    tuple (small histories, tests); `history_listing` streams."""
    history, _total = history_listing(
        session, ctx, sample=sample, loan=loan, institution=institution, as_of=as_of
    )
    return replace(history, entries=tuple(history.entries))


@dataclass(frozen=True)
class HistoryFilters:
    """What `custody history` narrows to: event kinds, and a time range (whole seconds)."""

    kinds: tuple[str, ...] = ()  # event kinds as in a .jsonl history, e.g. loan.received
    since: datetime | None = None  # occurred at or after
    until: datetime | None = None  # occurred at or before
    seal: str | None = None  # a container's seal number: its shipment and that shipment's receipt


def history_listing(
    session: Session,
    ctx: Context,
    *,
    sample: str | None = None,
    loan: str | None = None,
    institution: str | None = None,
    as_of: datetime | None = None,
    filters: HistoryFilters = HistoryFilters(),
    page: Page = EVERY_ROW,
) -> tuple[History, Callable[[], int]]:
    """A record's history whose `entries` stream in seq order, a batch at a time, and a count
    of every event the filters match. Every argument is checked before any event is read."""
    person = access.reader(session, ctx)
    options = (("sample", sample), ("loan", loan), ("institution", institution))
    chosen = [(t, k) for t, k in options if k]
    if len(chosen) != 1:
        raise InvalidInput("give exactly one of --sample, --loan or --institution")
    subject_type, key = chosen[0]
    assert key is not None
    codes: list[str] = []
    if subject_type == "sample":
        access.readable_sample(session, person, key)
        codes = readable_lineage(session, person, key)
        keys = codes
    elif subject_type == "loan":
        access.readable_loan(session, person, key)
        keys = [key]
    else:
        access.readable_institution(session, person, key)
        keys = [key]
    if as_of is not None:
        refuse_future("--as-of", as_of, ctx.now, "give a moment up to now")
    query = _event_query(person, subject_type, keys, _checked(filters), as_of)
    if filters.seal is not None:
        query = query.where(_sealed(session, person, filters.seal))
    state = None
    if as_of is not None:
        state = replayed_state(session, as_of, subject_type, key, codes, reader=person)
    history = History(
        subject_type=subject_type,
        subject_key=key,
        codes=tuple(codes),
        entries=_entries(session, paged(query, page), as_of, staff=access.is_staff(person)),
        as_of=as_of,
        state=state,
    )
    return history, counter(session, query)


def _checked(filters: HistoryFilters) -> HistoryFilters:
    """The filters with each kind checked against the event kinds (InvalidInput naming them)."""
    if filters.kinds:  # the kinds' registry is the write side's: loaded only when asked
        from sampleloans.ledger.events import EVENT_TYPES
    for kind in filters.kinds:
        if kind not in EVENT_TYPES:
            raise InvalidInput(
                f"--kind: {quote_input(kind)} is not an event kind; give one of "
                + ", ".join(sorted(EVENT_TYPES))
            )
    if filters.since and filters.until and filters.since > filters.until:
        raise InvalidInput(
            f"--since: {to_iso(filters.since)} is after --until {to_iso(filters.until)}; "
            "give a range that moves forward"
        )
    return filters


def _sealed(session: Session, person: Person, seal: str) -> Any:
    """The events of the shipments sealed with `seal` that a person may read: each shipment
    and its receipt (InvalidInput when there is none, the same for a seal of other
    institutions' shipments as for one never used)."""
    query = sa_select(col(Shipment.seq)).where(col(Shipment.seal_number) == seal.strip())
    if not access.is_staff(person):
        query = query.join(Loan, col(Loan.number) == col(Shipment.loan_number)).where(
            col(Loan.institution) == person.institution
        )
    shipped = list(session.connection().execute(query).scalars())
    if not shipped:
        raise InvalidInput(
            f"--seal: {quote_input(seal)} is not the seal of any shipment you may read; "
            "see 'loans show'"
        )
    # a receipt names its shipment in its payload, canonical JSON (docs/ledger-format.md:
    # compact, keys sorted), so `"shipment_seq":N` is followed by ',' or '}'
    receipts = [
        col(LedgerEvent.payload).like(f'%"shipment_seq":{seq}{end}%')
        for seq in shipped
        for end in (",", "}")
    ]
    return or_(
        col(LedgerEvent.seq).in_(shipped),
        and_(col(LedgerEvent.kind) == "loan.received", or_(*receipts)),
    )


def _occurred() -> Any:
    """An event's `occurred_at` in text whose order is its time order (`time_order_key`)."""
    return time_order_key(col(LedgerEvent.occurred_at))


def _event_query(
    person: Person,
    subject_type: str,
    keys: list[str],
    filters: HistoryFilters,
    as_of: datetime | None,
) -> Query:
    """The events of some records a person may read, filtered, in seq order."""
    subjects = sa_select(col(EventSubject.seq)).where(
        col(EventSubject.subject_type) == subject_type, col(EventSubject.subject_key).in_(keys)
    )
    query = sa_select(*_EVENT_COLUMNS).where(col(LedgerEvent.seq).in_(subjects))
    if not access.is_staff(person):  # events of other institutions' loans are not theirs
        foreign = (
            sa_select(col(EventSubject.seq))
            .join(Loan, col(Loan.number) == col(EventSubject.subject_key))
            .where(
                col(EventSubject.seq) == col(LedgerEvent.seq),
                col(EventSubject.subject_type) == "loan",
                col(Loan.institution) != person.institution,
            )
        )
        query = query.where(~foreign.exists())
    if filters.kinds:
        query = query.where(col(LedgerEvent.kind).in_(filters.kinds))
    if filters.since is not None:
        query = query.where(_occurred() >= time_order_text(filters.since))
    until = min((t for t in (filters.until, as_of) if t is not None), default=None)
    if until is not None:
        query = query.where(_occurred() <= time_order_text(until))
    return query.order_by(col(LedgerEvent.seq))


_EVENT_COLUMNS = (
    col(LedgerEvent.seq),
    col(LedgerEvent.kind),
    col(LedgerEvent.payload),
    col(LedgerEvent.occurred_at),
    col(LedgerEvent.recorded_at),
    col(LedgerEvent.actor),
    col(LedgerEvent.os_user),
    col(LedgerEvent.corrects_seq),
    col(LedgerEvent.reason),
)


def _entries(
    session: Session, query: Query, as_of: datetime | None, *, staff: bool
) -> Iterator[HistoryEntry]:
    """The history lines of the events of `query`, a batch at a time (corrections looked up
    per batch). The lender's operating-system account of each event is for its staff only: a
    researcher reads the events of their loans, not the lender's machines' accounts."""
    mark = BorrowerMark(session)
    names = NAMES_NOW if as_of is None else names_at(session, _occurred() > time_order_text(as_of))
    for batch in batches(session, query):
        corrected = _corrections_of(session, [row.seq for row in batch], as_of)
        payloads = [stored_payload(row.seq, row.kind, row.payload) for row in batch]
        mark.learn(filter(None, (loan_of(r.kind, p) for r, p in zip(batch, payloads, strict=True))))
        for row, payload in zip(batch, payloads, strict=True):
            yield HistoryEntry(
                seq=row.seq,
                occurred_at=from_stored(row.occurred_at),
                recorded_at=from_stored(row.recorded_at),
                kind=row.kind,
                actor=row.actor,
                os_user=os_account_of(row.os_user) if staff else None,
                reason=row.reason,
                description=describe(session, row),
                corrects_seq=row.corrects_seq,
                corrected_by=tuple(corrected.get(row.seq, [])),
                imported_by=importer_of(row.os_user),
                handover=handover_of(session, row, names) if row.kind in HANDOVER_KINDS else None,
                by_borrower=mark.recorded(row.kind, payload, row.actor),
            )


def _corrections_of(
    session: Session, seqs: list[int], as_of: datetime | None
) -> dict[int, list[int]]:
    """Corrected seq → the seqs of its corrections (as they stood at `as_of`, when given)."""
    query = (
        sa_select(col(Note.corrects_seq), col(Note.seq))
        .join(LedgerEvent, col(LedgerEvent.seq) == col(Note.seq))
        .where(col(Note.corrects_seq).in_(seqs))
    )
    if as_of is not None:  # a correction made after the moment asked for had not happened yet
        query = query.where(_occurred() <= time_order_text(as_of))
    corrected: dict[int, list[int]] = {}
    for target, seq in session.connection().execute(query.order_by(col(Note.seq))):
        corrected.setdefault(target, []).append(seq)
    return corrected


def replayed_state(
    session: Session,
    as_of: datetime,
    subject_type: str,
    key: str,
    codes: list[str],
    *,
    reader: Person | None = None,
) -> ReplayedState:
    """Replay the record's scope (not the whole ledger: `ledger/replay.py`) into an in-memory
    schema as it stood at `as_of`, then read the record there.

    For a researcher `reader`, only their institution's loans, and only the samples that were
    on one of them at that moment, are part of the state.
    """
    from sampleloans.ledger import replay
    from sampleloans.services.logins import refuse_hidden_replay

    refuse_hidden_replay(session, "--as-of")
    cut = replay.as_of(session, as_of)  # the one definition of "as it stood at"
    up_to = cut.up_to_seq or 0
    scope = [("sample", code) for code in codes] if subject_type == "sample" else []
    with replay.ledger_at(session, cut, scope=scope or [(subject_type, key)]) as past:
        _refuse_not_yet_recorded(session, past, cut, subject_type, key)
        if subject_type == "sample":
            samples = past.exec(select(Sample).where(col(Sample.code).in_(codes))).all()
            numbers = {
                i.loan_number
                for i in past.exec(
                    select(LoanItem).where(col(LoanItem.sample_code).in_(codes))
                ).all()
            }
            loans = past.exec(select(Loan).where(col(Loan.number).in_(numbers))).all()
        elif subject_type == "loan":
            loans = past.exec(select(Loan).where(Loan.number == key)).all()
            in_loan = past.exec(
                select(LoanItem.sample_code).where(LoanItem.loan_number == key)
            ).all()
            samples = past.exec(select(Sample).where(col(Sample.code).in_(in_loan))).all()
        else:
            loans = past.exec(select(Loan).where(Loan.institution == key)).all()
            samples = past.exec(select(Sample).where(Sample.custodian == key)).all()
        if reader is not None and not access.is_staff(reader):
            loans = [x for x in loans if x.institution == reader.institution]
            samples = [x for x in samples if access.can_see_sample(past, reader, x)]
        return ReplayedState(
            as_of=as_of,
            up_to_seq=up_to,
            samples=tuple(_sample_state(s) for s in sorted(samples, key=lambda s: s.code)),
            loans=tuple(_loan_state(past, loan) for loan in sorted(loans, key=lambda x: x.number)),
        )


_SUBJECT_TABLES: dict[str, type[Sample] | type[Loan] | type[Institution]] = {
    "sample": Sample,
    "loan": Loan,
    "institution": Institution,
}


def _refuse_not_yet_recorded(
    session: Session, past: Session, cut: "Cut", subject_type: str, key: str
) -> None:
    """Refuse (exit 2) a record that exists now but not yet in the ledger as it stood at the
    cut, in the words `report custody --as-of` uses: "no events" would read as a record that
    had nothing happen to it."""
    from sampleloans.ledger import replay

    if past.get(_SUBJECT_TABLES[subject_type], key) is not None:
        return
    assert cut.occurred_by is not None  # an --as-of cut
    missing = NoSuchRecord(subject_type, key, "", option=f"--{subject_type}")
    held = counted(replay.last_taken(session, cut), "event")
    since = replay.earliest_cut_with(session, subject_type, key)
    later = bound_text(since) if since else None
    raise NotYetRecorded.as_of(missing, format_moment(cut.occurred_by), held, later=later)


def _sample_state(sample: Sample) -> SampleState:
    """A sample row as a frozen state."""
    return SampleState(
        code=sample.code,
        parent_code=sample.parent_code,
        custody_state=sample.custody_state,
        custodian=sample.custodian,
        loan_number=sample.loan_number,
        initial_ug=sample.initial_mass_ug,
        vault_ug=sample.vault_ug,
        on_loan_ug=sample.on_loan_ug,
        split_ug=sample.split_ug,
        consumed_ug=sample.consumed_ug,
        lost_ug=sample.lost_ug,
        transferred_ug=sample.transferred_ug,
        frozen=sample.frozen,
    )


def _loan_state(session: Session, loan: Loan) -> LoanState:
    """A loan row and its items as a frozen state."""
    items = session.exec(
        select(LoanItem)
        .where(LoanItem.loan_number == loan.number)
        .order_by(byte_order(LoanItem.sample_code))
    ).all()
    return LoanState(
        number=loan.number,
        institution=loan.institution,
        status=loan.status,
        due_at=loan.due_at,
        items=tuple(_item_state(i) for i in items),
        recalled_at=loan.recalled_at,
    )


def _item_state(item: LoanItem) -> ItemState:
    """One loan item as it stood, its masses as every view reads them (`readmodels/items.py`)."""
    masses = item_masses(item)
    return ItemState(
        sample_code=item.sample_code,
        state=item.state,
        issued_ug=masses.issued_ug,
        held_ug=masses.held_ug,
        consumed_ug=masses.consumed_ug,
        returned_ug=masses.returned_ug,
        from_split_ug=masses.from_split_ug,
    )


# --- one-line descriptions ------------------------------------------------------------------------


def _pairs(pairs: list[list[Any]]) -> str:
    """`[[code, mass_ug], …]` as 'CODE 20.000 mg, …'."""
    return ", ".join(f"{code} {format_mass(int(mass))}" for code, mass in pairs)


def describe(session: Session, row: LedgerEvent) -> str:
    """One line a person can read for a stored event."""
    payload = stored_payload(row.seq, row.kind, row.payload)
    return describe_payload(session, row.kind, row.seq, row.corrects_seq, payload, row.reason)


Describer = Callable[[Session, int, int | None, dict[str, Any], str | None], str]
"""(session, seq, corrects_seq, payload, envelope reason) → the line a person reads."""

DESCRIBERS: dict[str, Describer] = {}
"""Event kind → its one-line description (every kind has one: `services/kinds.py` checks)."""


def _describes(*kinds: str) -> Callable[[Describer], Describer]:
    """Register the description of one or more event kinds."""

    def register(function: Describer) -> Describer:
        """Record `function` as the description of each kind."""
        for kind in kinds:
            DESCRIBERS[kind] = function
        return function

    return register


def describe_payload(
    session: Session,
    kind: str,
    seq: int,
    corrects_seq: int | None,
    p: dict[str, Any],
    reason: str | None = None,
) -> str:
    """`describe` for an event already decoded: its kind, seq, corrected seq and payload (and
    the envelope's reason, which a change to a person names)."""
    describer = DESCRIBERS.get(kind)
    return kind if describer is None else describer(session, seq, corrects_seq, p, reason)


# each describer takes (session, seq, corrects_seq, payload, reason); most need the payload only


@_describes("ledger.created")
def _ledger_created(_s: Session, _q: int, _c: int | None, p: dict[str, Any], _r: str | None) -> str:
    return f"ledger created ({p['software']})"


@_describes("mission.added")
def _mission(_s: Session, _q: int, _c: int | None, p: dict[str, Any], _r: str | None) -> str:
    return f"mission {p['code']} added ({p['name']})"


@_describes("institution.added")
def _institution(_s: Session, _q: int, _c: int | None, p: dict[str, Any], _r: str | None) -> str:
    return (
        f"institution {p['short_name']} added: {p['name']}, {p['city']}, {p['country']} "
        f"({p['institution_kind']})"
    )


@_describes("person.added")
def _person_added(_s: Session, _q: int, _c: int | None, p: dict[str, Any], _r: str | None) -> str:
    role = str(p["role"]).replace("_", " ")
    return f"person {p['email']} added: {p['name']}, {role} at {p['institution']}"


def _with_reason(line: str, reason: str | None) -> str:
    """A change to a person names the envelope's reason."""
    return line + (f"; reason: {reason}" if reason else "")


@_describes("person.deactivated")
def _deactivated(_s: Session, _q: int, _c: int | None, p: dict[str, Any], why: str | None) -> str:
    return _with_reason(f"person {p['email']} deactivated: may no longer act", why)


@_describes("person.reactivated")
def _reactivated(_s: Session, _q: int, _c: int | None, p: dict[str, Any], why: str | None) -> str:
    return _with_reason(f"person {p['email']} reactivated", why)


@_describes("person.role_changed")
def _role_changed(_s: Session, _q: int, _c: int | None, p: dict[str, Any], why: str | None) -> str:
    before, after = (str(p[k]).replace("_", " ") for k in ("previous_role", "role"))
    return _with_reason(f"person {p['email']} role changed from {before} to {after}", why)


@_describes("institution.renamed")
def _institution_renamed(
    _s: Session, _q: int, _c: int | None, p: dict[str, Any], _r: str | None
) -> str:
    # its reason follows in the views, as a move's does (only a person's event says its own)
    return f"institution {p['short_name']} renamed: {p['previous_name']} → {p['name']}"


@_describes("institution.place_changed")
def _institution_place(
    _s: Session, _q: int, _c: int | None, p: dict[str, Any], _r: str | None
) -> str:
    # its reason follows in the views, as a rename's does
    before = f"{p['previous_city']}, {p['previous_country']}"
    return f"institution {p['short_name']} place changed: {before} → {p['city']}, {p['country']}"


@_describes("person.renamed")
def _renamed(_s: Session, _q: int, _c: int | None, p: dict[str, Any], why: str | None) -> str:
    line = f"person {p['email']} renamed: {p['previous_name']} → {p['name']}"
    return _with_reason(line, why)


@_describes("sample.registered")
def _registered(_s: Session, _q: int, _c: int | None, p: dict[str, Any], _r: str | None) -> str:
    return (
        f"{p['code']} registered: {format_mass(p['mass_ug'])} {p['material_type']} "
        f"{p['physical_form']} ({p['purpose_class']}) at {p['custodian']}, "
        f"{p['storage_location']}"
    )


@_describes("sample.split")
def _split(_s: Session, _q: int, _c: int | None, p: dict[str, Any], _r: str | None) -> str:
    loss = f"; {format_mass(p['loss_ug'])} lost in processing" if p["loss_ug"] else ""
    return f"{p['parent']} split into {_pairs(p['children'])}{loss}"


@_describes("sample.moved")
def _moved(_s: Session, _q: int, _c: int | None, p: dict[str, Any], _r: str | None) -> str:
    return f"{p['code']} moved to {p['storage_location']}"


@_describes("sample.transferred")
def _transferred(_s: Session, _q: int, _c: int | None, p: dict[str, Any], _r: str | None) -> str:
    return (
        f"{_pairs(p['items'])} given to {p['recipient']} for good (a permanent transfer, "
        f"not a loan); reference: {p['reference']}"
    )


@_describes("agreement.created")
def _drafted(_s: Session, _q: int, _c: int | None, p: dict[str, Any], _r: str | None) -> str:
    return f"{_drafted_terms(p)}, up to {counted(p['max_extensions'], 'extension')}"


def _drafted_terms(p: dict[str, Any]) -> str:
    """An agreement drafted, with whom, its mass and loan period."""
    return (
        f"agreement {p['number']} drafted with {p['institution']}: up to "
        f"{format_mass(p['max_total_mass_ug'])}, loans up to "
        f"{format_period(p['max_loan_period'])}"
    )


def _drafted_earlier(p: dict[str, Any]) -> str:
    """The words of reports before layout 7: '1 extension(s)'."""
    return f"{_drafted_terms(p)}, {p['max_extensions']} extension(s)"


@_describes("agreement.signed")
def _signed(_s: Session, _q: int, _c: int | None, p: dict[str, Any], _r: str | None) -> str:
    return f"agreement {p['number']} signed by {p['signed_by']}"


@_describes("agreement.ended")
def _ended(_s: Session, _q: int, _c: int | None, p: dict[str, Any], _r: str | None) -> str:
    return f"agreement {p['number']} {p['status']}"


@_describes("loan.requested")
def _requested(_s: Session, _q: int, _c: int | None, p: dict[str, Any], _r: str | None) -> str:
    return (
        f"loan {p['number']} requested under {p['agreement']} by {p['pi']} "
        f"({words(p['purpose_class'])}, {format_period(p['loan_period'])}): "
        f"{', '.join(p['samples'])}"
    )


@_describes("loan.approved")
def _approved(_s: Session, _q: int, _c: int | None, p: dict[str, Any], _r: str | None) -> str:
    return f"loan {p['number']} approved"


@_describes("loan.issued")
def _issued(_s: Session, _q: int, _c: int | None, p: dict[str, Any], _r: str | None) -> str:
    return f"loan {p['number']} issued from the vault: {_pairs(p['items'])}"


@_describes("loan.shipped")
def _shipped_line(s: Session, seq: int, _c: int | None, p: dict[str, Any], _r: str | None) -> str:
    return _shipped(s, seq, p)


@_describes("loan.received")
def _received_line(s: Session, _q: int, _c: int | None, p: dict[str, Any], _r: str | None) -> str:
    return _received(s, p)


@_describes("loan.consumed")
def _consumed(_s: Session, _q: int, _c: int | None, p: dict[str, Any], _r: str | None) -> str:
    return f"{_consumed_what(p)} ({analysis_words(p)})"


def _consumed_what(p: dict[str, Any]) -> str:
    """How much of which sample an analysis used, on which loan."""
    return f"{format_mass(p['mass_ug'])} of {p['sample']} consumed on loan {p['number']}"


def analysis_words(p: dict[str, Any]) -> str:
    """An analysis's technique and whether it destroyed what it used, either way in words
    ('SIMS, non-destructive'): a reader must not infer it from a word left out."""
    return f"{p['technique']}, {'destructive' if p['destructive'] else 'non-destructive'}"


def analysis_words_earlier(p: dict[str, Any]) -> str:
    """The words of reports before layout 7 and statements before layout 7: a non-destructive
    analysis said nothing ('SIMS')."""
    return p["technique"] + (", destructive" if p["destructive"] else "")


def _consumed_earlier(p: dict[str, Any]) -> str:
    """The words of reports and statements before layout 7 (see `analysis_words_earlier`)."""
    return f"{_consumed_what(p)} ({analysis_words_earlier(p)})"


def _shipped_earlier(
    session: Session, seq: int, _c: int | None, p: dict[str, Any], _r: str | None
) -> str:
    """The words of reports and statements before layout 7: 'by hand carried'."""
    return _shipped(session, seq, p, earlier=True)


EARLIER_WORDS: dict[str, Describer] = {
    "agreement.created": lambda _s, _q, _c, p, _r: _drafted_earlier(p),
    "loan.consumed": lambda _s, _q, _c, p, _r: _consumed_earlier(p),
    "loan.shipped": _shipped_earlier,
}
"""Event kinds whose description reports before page layout 7 (and statements before statement
layout 7) worded otherwise, and those words: their content digests cover them."""


def describe_earlier(
    session: Session,
    kind: str,
    seq: int,
    corrects_seq: int | None,
    p: dict[str, Any],
    reason: str | None = None,
) -> str:
    """`describe_payload` in the words of reports before page layout 7 (`EARLIER_WORDS`)."""
    earlier = EARLIER_WORDS.get(kind)
    if earlier is None:
        return describe_payload(session, kind, seq, corrects_seq, p, reason)
    return earlier(session, seq, corrects_seq, p, reason)


@_describes("loan.split")
def _loan_split(_s: Session, _q: int, _c: int | None, p: dict[str, Any], _r: str | None) -> str:
    return (
        f"{p['child']} ({format_mass(p['mass_ug'])}) split from {p['parent']} by the "
        f"borrower on loan {p['number']}"
    )


@_describes("loan.extended")
def _extended(_s: Session, _q: int, _c: int | None, p: dict[str, Any], _r: str | None) -> str:
    period = format_period(p["period"])
    return f"loan {p['number']} extended by {period} (approved by {p['approver']})"


@_describes("loan.recalled")
def _recalled(_s: Session, _q: int, _c: int | None, p: dict[str, Any], _r: str | None) -> str:
    return f"loan {p['number']} recalled; due by {format_datetime(from_iso(p['due_at']))}"


@_describes("loan.inventory")
def _inventory(_s: Session, _q: int, _c: int | None, p: dict[str, Any], _r: str | None) -> str:
    held = sum(int(mass) for _code, mass in p["held"])
    note = f"; note: {p['note']}" if p.get("note") else ""
    return f"inventory of loan {p['number']} attested: {format_mass(held)} held{note}"


@_describes("loan.settled")
def _settled(_s: Session, _q: int, _c: int | None, p: dict[str, Any], _r: str | None) -> str:
    return f"loan {p['number']} settled: {p['obligations']}"


@_describes("loan.closed")
def _closed(_s: Session, _q: int, _c: int | None, p: dict[str, Any], _r: str | None) -> str:
    return f"loan {p['number']} closed"


@_describes("loan.withdrawn")
def _withdrawn(_s: Session, _q: int, _c: int | None, p: dict[str, Any], r: str | None) -> str:
    return f"loan {p['number']} withdrawn before issue: {r}"


@_describes("incident.reported")
def _incident(_s: Session, _q: int, _c: int | None, p: dict[str, Any], _r: str | None) -> str:
    lost = f"; {format_mass(p['mass_lost_ug'])} lost" if p.get("mass_lost_ug") else ""
    return f"{p['incident_kind']} incident on {p['sample']}: {p['description']}{lost}"


@_describes("incident.resolved")
def _resolved(_s: Session, _q: int, _c: int | None, p: dict[str, Any], _r: str | None) -> str:
    return f"incident {p['incident_seq']} resolved: {p['resolution']}"


@_describes("event.corrected")
def _note(_s: Session, _q: int, corrects: int | None, p: dict[str, Any], _r: str | None) -> str:
    return f"CORRECTION of event {corrects}: {p['text']}"


@_describes("mass.corrected")
def _mass(_s: Session, _q: int, corrects: int | None, p: dict[str, Any], reason: str | None) -> str:
    return (
        f"CORRECTION of event {corrects}: {p['what']} of {p['sample']} "
        f"{format_mass(p['old_mass_ug'])} → {format_mass(p['new_mass_ug'])}"
        + (f"; reason: {reason}" if reason else "")
    )


def _shipped(session: Session, seq: int, p: dict[str, Any], *, earlier: bool = False) -> str:
    """A shipment: who sends to whom, in which sealed container, how ('by hand'; `earlier`:
    the words of reports before layout 7, 'by hand carried')."""
    shipment = session.get(Shipment, seq)
    route = f" {shipment.sender} → {shipment.receiver}" if shipment is not None else ""
    method = words(p["method"]) if earlier else _METHOD_WORDS.get(p["method"], words(p["method"]))
    return (
        f"loan {p['number']} shipped {p['direction']}{route} in {p['container']}, seal "
        f"{p['seal_number']}, by {method}: {', '.join(p['samples'])}"
    )


_METHOD_WORDS = {"hand_carried": "hand"}
"""A shipment method as it follows "by", where its name does not ('by hand', not 'by hand
carried'); the others read as they are ('by courier', 'by diplomatic pouch', 'by post')."""


def _received(session: Session, p: dict[str, Any]) -> str:
    """A receipt: seal check, condition and what was weighed."""
    shipment = session.get(Shipment, p["shipment_seq"])
    where = f" at {shipment.receiver}" if shipment is not None else ""
    seal = "intact" if p["seal_intact"] else "BROKEN"
    return (
        f"loan {p['number']} received{where} (shipment {p['shipment_seq']}), seal {seal}, "
        f"condition {p['condition']}; weighed {_pairs(p['weighed'])}"
    )
