"""Read models of loans and incidents for the command line: frozen dataclasses, sorted.

Every function starts with the acting reader; researchers see only their own institution's
loans and incidents, curators and compliance officers see everything.
"""

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, type_coerce
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from sampleloans.dates import to_iso
from sampleloans.errors import EditedTable, InvalidInput
from sampleloans.ledger import overdue as rule
from sampleloans.ledger.envelope import Context, from_stored
from sampleloans.ledger.payload import stored_payload
from sampleloans.models import (
    EDITED,
    Agreement,
    Consumption,
    EventSubject,
    Extension,
    Incident,
    LedgerEvent,
    Loan,
    LoanItem,
    Note,
    Person,
    Shipment,
    UTCDateTime,
    Weighing,
    byte_order,
    latest_time,
    time_order_key,
    time_order_text,
)
from sampleloans.readmodels.handover import PartyView, is_backdated
from sampleloans.readmodels.items import ItemMasses, item_masses, item_source
from sampleloans.readmodels.report import LoanEnd, loan_end
from sampleloans.services import access
from sampleloans.services.common import loan_agreement_ended
from sampleloans.services.handover import loan_handovers
from sampleloans.services.listing import (
    EVERY_ROW,
    Listing,
    Page,
    Query,
    batches,
    counter,
    paged,
    plain_batches,
    view_maker,
)
from sampleloans.services.queries import (
    events_of_loan,
    frozen_on_loan,
    returned_at,
    sent_back_at,
    sent_back_column,
    withdrawn_reason,
)
from sampleloans.units import quote_input
from sampleloans.vocab import (
    LOAN_STATUSES,
    Direction,
    IncidentStatus,
    ItemSource,
    ItemState,
    LoanStatus,
    SubjectType,
)


@dataclass(frozen=True)
class LoanRow:
    """One loan in a list."""

    number: str
    agreement: str
    institution: str
    pi: str
    status: str
    transfer_type: str
    samples: int
    issued_ug: int
    held_ug: int
    returning_ug: int  # the part of held_ug on its way back (a return in transit), as `status`
    due_at: datetime | None  # kept as a fact once the loan is over, though it binds no more
    days_left: int | None  # negative when overdue; None unless the loan is out
    overdue: bool
    sent_back_in_time: bool  # everything left sent back by the due time: its return is met
    # how it ended, as `status` and `loans show` say it (None while it has not)
    returned_at: datetime | None = None  # the last return shipment's arrival
    settled_at: datetime | None = None
    closed_at: datetime | None = None
    withdrawn_reason: str | None = None  # withdrawn before issue: why
    loan_period: str = ""  # as requested: due that long after issue (as `status` says)

    @property
    def said_status(self) -> str:
        """The status in words: a loan closed without ever being issued was withdrawn."""
        return "withdrawn" if self.withdrawn_reason is not None else self.status

    def ended(self) -> tuple[str, datetime] | None:
        """Its last milestone once the due date binds no more (all back, settled, closed or
        withdrawn), as ('closed', when); None while the loan is not over."""
        end = loan_end(
            self.status,
            withdrawn=self.withdrawn_reason is not None,
            returned_at=self.returned_at,
            settled_at=self.settled_at,
            closed_at=self.closed_at,
        )
        return None if end is None else (end.word, end.at)


@dataclass(frozen=True)
class ItemView:
    """One sample of a loan with its mass balance (as `readmodels/items.py` reads it)."""

    sample: str
    source: str
    state: str
    issued_ug: int  # issued by the curator: 0 for a sample the borrower split off
    held_ug: int
    consumed_ug: int
    returned_ug: int
    split_ug: int
    lost_ug: int
    transferred_ug: int
    from_split_ug: int = 0  # split off another sample of the loan by the borrower
    frozen: bool = False  # the sample is frozen by an open incident


@dataclass(frozen=True)
class ShipmentView:
    """One sealed hand-over of a loan."""

    seq: int
    direction: str
    container: str
    seal_number: str
    method: str
    sender: str
    receiver: str
    shipped_at: datetime
    received_at: datetime | None
    seal_intact: bool | None
    condition: str | None


@dataclass(frozen=True)
class ConsumptionView:
    """Mass used by one analysis."""

    seq: int
    sample: str
    technique: str
    destructive: bool
    mass_ug: int
    occurred_at: datetime
    recorded_at: datetime | None = None
    backdated: bool = False  # recorded over an hour after it happened


@dataclass(frozen=True)
class ExtensionView:
    """One granted extension."""

    seq: int
    period: str
    approver: str
    reason: str
    new_due_at: datetime
    occurred_at: datetime | None = None
    recorded_at: datetime | None = None
    backdated: bool = False  # recorded over an hour after it happened


@dataclass(frozen=True)
class HandoverView:
    """One hand-over of a loan: who released, who received, both times, who recorded it."""

    seq: int
    step: str  # issue | ship | receive | return | accept-return
    occurred_at: datetime
    recorded_at: datetime
    backdated: bool  # recorded more than an hour after it happened
    released_by: PartyView | None
    received_by: PartyView | None
    courier: PartyView | None
    witness: PartyView | None
    recorded_by: str


@dataclass(frozen=True)
class DiscrepancyView:
    """A sample that weighed other than expected at a receipt or return."""

    seq: int
    sample: str
    expected_ug: int
    weighed_ug: int
    difference_ug: int  # weighed - expected


@dataclass(frozen=True)
class BrokenSealView:
    """A container whose seal arrived broken."""

    seq: int  # the receipt
    shipment_seq: int
    direction: str
    seal_number: str


@dataclass(frozen=True)
class CorrectionView:
    """A correction of one of the loan's events: a note, or a mass superseding the one recorded."""

    seq: int
    corrects_seq: int
    occurred_at: datetime
    recorded_by: str
    description: str  # the note, or what the mass correction changed and why


@dataclass(frozen=True)
class LoanDetail:
    """Everything `loans show` prints about one loan."""

    number: str
    agreement: str
    institution: str
    pi: str
    purpose: str
    transfer_type: str
    status: str
    loan_period: str
    requested_at: datetime
    approved_at: datetime | None
    issued_at: datetime | None
    due_at: datetime | None
    days_left: int | None
    overdue: bool
    sent_back_in_time: bool  # everything left sent back by the due time: its return is met
    extensions_granted: int
    extensions_allowed: int
    next_inventory_due_at: datetime | None
    inventory_days_left: int | None  # negative when late; None when no inventory is owed
    inventory_overdue: bool
    recalled_at: datetime | None
    settled_at: datetime | None
    obligations: str | None
    closed_at: datetime | None
    items: tuple[ItemView, ...]
    shipments: tuple[ShipmentView, ...]
    consumptions: Iterable[ConsumptionView]  # a tuple, or a stream from `loan_detail_stream`
    extensions: tuple[ExtensionView, ...]
    handovers: tuple[HandoverView, ...] = ()
    weighing_discrepancies: tuple[DiscrepancyView, ...] = ()
    broken_seals: tuple[BrokenSealView, ...] = ()
    corrections: tuple[CorrectionView, ...] = ()
    returned_at: datetime | None = None  # when the last return shipment arrived back
    withdrawn_reason: str | None = None  # withdrawn before issue, and why
    held_ug: int = 0  # what the borrower holds, with what is on its way back, as `status`
    returning_ug: int = 0  # the part of held_ug on its way back (a return in transit)
    agreement_ended: str = ""  # why no extension is left while some are unused, or ''

    def ended(self) -> LoanEnd | None:
        """How the loan ended once it is over (its due date binds no more), as `loans list`
        and the documents say it; None while it is not over."""
        return loan_end(
            self.status,
            withdrawn=self.withdrawn_reason is not None,
            returned_at=self.returned_at,
            settled_at=self.settled_at,
            closed_at=self.closed_at,
        )


@dataclass(frozen=True)
class IncidentView:
    """One incident, open or resolved."""

    seq: int
    sample: str
    loan: str | None
    institution: str | None
    kind: str
    description: str
    mass_lost_ug: int
    reported_at: datetime
    reported_by: str
    status: str
    resolved_at: datetime | None
    resolution: str | None


def _items(session: Session, number: str) -> list[LoanItem]:
    """A loan's items in sample-code order."""
    query = select(LoanItem).where(LoanItem.loan_number == number)
    return list(session.exec(query.order_by(byte_order(LoanItem.sample_code))).all())


def list_loans(
    session: Session,
    ctx: Context,
    *,
    status: str | None = None,
    institution: str | None = None,
) -> list[LoanRow]:
    """Every loan by number, as a list (small ledgers, tests); `loans_listing` streams."""
    filters = LoanFilters(status=status, institution=institution)
    return list(loans_listing(session, ctx, filters=filters).rows)


@dataclass(frozen=True)
class LoanFilters:
    """What `loans list` narrows to; None: no filter on that field."""

    status: str | None = None
    institution: str | None = None
    pi: str | None = None  # the principal investigator's e-mail
    due_before: datetime | None = None  # due strictly before
    due_after: datetime | None = None  # due strictly after


def loans_listing(
    session: Session,
    ctx: Context,
    *,
    filters: LoanFilters = LoanFilters(),
    page: Page = EVERY_ROW,
) -> Listing[LoanRow]:
    """Loans by number, streamed a batch at a time, with the count of every match.

    Researchers see only their own institution's loans (in SQL); every filter value is checked
    before any row is read.
    """
    person = access.reader(session, ctx)
    query = _loan_query(session, person, filters)
    return Listing(
        rows=_loan_rows(session, paged(query, page), ctx.now), total=counter(session, query)
    )


WITHDRAWN = "withdrawn"
"""What `loans list --status` also takes, as `status` says it: closed without being issued."""


def _loan_status(status: str) -> str:
    """A loan status as stored (or `withdrawn`), or InvalidInput naming the accepted ones."""
    wanted = status.strip().lower().replace("-", "_").replace(" ", "_")
    if wanted not in (*LOAN_STATUSES, WITHDRAWN):
        accepted = ", ".join(name.replace("_", "-") for name in (*LOAN_STATUSES, WITHDRAWN))
        raise InvalidInput(f"--status: {quote_input(status)} is not one of {accepted}")
    return wanted


def _status_filter(status: str) -> Any:
    """The SQL condition for one status; a withdrawn loan is stored closed, never issued."""
    if status == WITHDRAWN:
        return (col(Loan.status) == LoanStatus.CLOSED.value) & col(Loan.issued_at).is_(None)
    return col(Loan.status) == status


def _loan_query(session: Session, person: Person, filters: LoanFilters) -> Query:
    """The loans a person may read that match the filters, with their item totals, by number."""
    # correlated subqueries, one index lookup per loan row: the rows stream, nothing is grouped
    of_loan = col(LoanItem.loan_number) == col(Loan.number)
    issued = case(
        (col(LoanItem.source) == ItemSource.ISSUED.value, col(LoanItem.issued_ug)), else_=0
    )
    query = sa_select(
        col(Loan.number),
        col(Loan.agreement),
        col(Loan.institution),
        col(Loan.pi_email),
        col(Loan.status),
        col(Loan.transfer_type),
        col(Loan.due_at),
        sent_back_column().label("sent_back_at"),
        sa_select(func.count()).where(of_loan).scalar_subquery().label("samples"),
        sa_select(func.coalesce(func.sum(issued), 0))
        .where(of_loan)
        .scalar_subquery()
        .label("issued_ug"),
        sa_select(func.coalesce(func.sum(col(LoanItem.held_ug)), 0))
        .where(of_loan)
        .scalar_subquery()
        .label("held_ug"),
        sa_select(func.coalesce(func.sum(col(LoanItem.held_ug)), 0))
        .where(of_loan, col(LoanItem.state) == ItemState.RETURN_IN_TRANSIT.value)
        .scalar_subquery()
        .label("returning_ug"),
        *_ending_columns(),
    )
    status = None if filters.status is None else _loan_status(filters.status)
    if status is not None:
        query = query.where(_status_filter(status))
    if filters.institution is not None:
        short = access.readable_institution(session, person, filters.institution.strip())
        query = query.where(col(Loan.institution) == short.short_name)
    elif not access.is_staff(person):
        query = query.where(col(Loan.institution) == person.institution)
    if filters.pi is not None:
        email = access.readable_person(session, person, filters.pi.strip(), "--pi").email
        query = query.where(col(Loan.pi_email) == email)
    before, after = filters.due_before, filters.due_after
    if before is not None and after is not None and after >= before:
        # both bounds are strict: no loan is due in an empty or backward range
        raise InvalidInput(
            f"--due-after: {to_iso(after)} is not before --due-before {to_iso(before)}; "
            "give a range that moves forward"
        )
    if before is not None or after is not None:
        query = query.where(col(Loan.status).in_(_owing_a_return(status, before)))
    if before is not None:
        query = query.where(time_order_key(col(Loan.due_at)) < time_order_text(before))
    if after is not None:
        query = query.where(time_order_key(col(Loan.due_at)) > time_order_text(after))
    return query.order_by(byte_order(col(Loan.number)))


def _ending_columns() -> tuple[Any, ...]:
    """How a loan ended, as `status` reads it: the last return shipment's arrival, settled and
    closed times, and why it was withdrawn (closed, never issued). Correlated subqueries, one
    index lookup a row; the reason's is guarded by a CASE, so only a withdrawn loan pays it."""
    arrived = (
        sa_select(latest_time(col(Shipment.received_at)))
        .where(
            col(Shipment.loan_number) == col(Loan.number),
            col(Shipment.direction) == Direction.RETURN.value,
        )
        .scalar_subquery()
    )
    # correlated by name: two levels down, SQLAlchemy's own correlation skips the listing's
    # loan and joins every loan instead (each withdrawn loan then read the latest withdrawal's
    # reason, whichever loan it was of)
    about_loan = (
        sa_select(col(EventSubject.seq))
        .where(
            col(EventSubject.subject_type) == SubjectType.LOAN.value,
            col(EventSubject.subject_key) == col(Loan.number),
        )
        .correlate(Loan)
    )
    reason = (
        sa_select(col(LedgerEvent.reason))
        .where(col(LedgerEvent.seq).in_(about_loan), col(LedgerEvent.kind) == "loan.withdrawn")
        .order_by(col(LedgerEvent.seq).desc())
        .limit(1)
        .scalar_subquery()
    )
    never_issued = col(Loan.issued_at).is_(None) & col(Loan.closed_at).is_not(None)
    return (
        # typed as the column, so the time reads back as one
        type_coerce(arrived, UTCDateTime()).label("returned_at"),
        col(Loan.settled_at),
        col(Loan.closed_at),
        case((never_issued, reason), else_=None).label("withdrawn_reason"),
        col(Loan.loan_period),
    )


def _owing_a_return(status: str | None, before: datetime | None) -> list[str]:
    """The statuses a due bound selects from: a loan that is out (`ledger.overdue`), whose
    return is still owed; a returned or closed loan is due nowhere any more, so a due bound
    with such a --status is refused rather than answered with nothing."""
    out = [str(s) for s in rule.OUT_STATUSES]
    if status is None:
        return out
    if status not in out:
        option = "--due-before" if before is not None else "--due-after"
        shown = ", ".join(s.replace("_", "-") for s in out)
        raise InvalidInput(
            f"{option}: a loan {status.replace('_', '-')} owes no return, so it is due at no "
            f"time; the due bounds list loans still out ({shown})"
        )
    return [status]


_make_loan_row = view_maker(LoanRow)


def _loan_rows(session: Session, query: Query, now: datetime) -> Iterator[LoanRow]:
    """The rows of a loan query as `LoanRow`s, with days left judged at `now`."""
    for batch in plain_batches(session, query):
        for number, agreement, owner, pi, status, kind, due_at, sent_back, *rest in batch:
            days_left, overdue = rule.return_due(status, due_at, now, sent_back)
            met = rule.sent_back_in_time(status, due_at, sent_back)
            totals = tuple(int(count) for count in rest[:4])  # samples, issued, held, returning
            ending = rest[4:]  # returned, settled, closed, withdrawn reason, loan period
            yield _make_loan_row(
                (
                    number,
                    agreement,
                    owner,
                    pi,
                    status,
                    kind,
                    *totals,
                    due_at,
                    days_left,
                    overdue,
                    met,
                    *ending,
                )
            )


def loan_detail(session: Session, ctx: Context, number: str) -> LoanDetail:
    """One loan with its items, shipments, consumptions and extensions (each in seq order), the
    consumptions as a tuple (small loans, tests); `loan_detail_stream` streams them."""
    detail, _total = loan_detail_stream(session, ctx, number)
    return replace(detail, consumptions=tuple(detail.consumptions))


def loan_detail_stream(
    session: Session, ctx: Context, number: str, *, page: Page = EVERY_ROW
) -> tuple[LoanDetail, Callable[[], int]]:
    """`loan_detail` whose consumptions (the part that grows with the loan's events) stream a
    batch at a time, one page of them, with a count of them all."""
    person = access.reader(session, ctx)
    loan = access.readable_loan(session, person, number)
    agreement = session.get(Agreement, loan.agreement)
    if agreement is None:  # a loan is requested under an agreement: its row was deleted by hand
        raise EditedTable(
            f"loan {loan.number}: its agreement {loan.agreement} has no row in the agreement "
            f"table: {EDITED}"
        )
    sent_back = sent_back_at(session, [loan]).get(loan.number)
    days_left, overdue = rule.return_due(loan.status, loan.due_at, ctx.now, sent_back)
    # no inventory is owed once nothing is out or all was sent back by it (as `status` says)
    inventory_due = rule.inventory_due(loan.status, loan.next_inventory_due_at, sent_back)
    extensions = _extension_views(session, number)
    consumptions = _consumption_query(number)
    items = _item_views(session, number)
    detail = LoanDetail(
        number=loan.number,
        agreement=loan.agreement,
        institution=loan.institution,
        pi=loan.pi_email,
        purpose=loan.purpose_class,
        transfer_type=loan.transfer_type,
        status=loan.status,
        loan_period=loan.loan_period,
        requested_at=loan.requested_at,
        approved_at=loan.approved_at,
        issued_at=loan.issued_at,
        due_at=loan.due_at,
        days_left=days_left,
        overdue=overdue,
        sent_back_in_time=rule.sent_back_in_time(loan.status, loan.due_at, sent_back),
        extensions_granted=loan.extensions_granted,
        extensions_allowed=agreement.max_extensions,
        next_inventory_due_at=inventory_due,
        inventory_days_left=(
            None if inventory_due is None else rule.calendar_days(ctx.now, inventory_due)
        ),
        inventory_overdue=rule.inventory_overdue(loan.status, inventory_due, ctx.now, sent_back),
        recalled_at=loan.recalled_at,
        settled_at=loan.settled_at,
        obligations=loan.obligations,
        closed_at=loan.closed_at,
        items=items,
        shipments=_shipment_views(session, number),
        consumptions=_consumptions(session, paged(consumptions, page)),
        extensions=extensions,
        handovers=_handovers(session, number),
        weighing_discrepancies=_discrepancies(session, number),
        broken_seals=_broken_seals(session, number),
        corrections=_corrections(session, number),
        returned_at=returned_at(session, number),
        withdrawn_reason=withdrawn_reason(session, loan),
        held_ug=sum(i.held_ug for i in items),
        returning_ug=sum(i.held_ug for i in items if i.state == ItemState.RETURN_IN_TRANSIT),
        agreement_ended=loan_agreement_ended(loan, agreement, ctx.now),
    )
    return detail, counter(session, consumptions)


def _extension_views(session: Session, number: str) -> tuple[ExtensionView, ...]:
    """The loan's extensions in seq order, each with when it happened and was recorded."""
    extension_rows = session.exec(
        select(Extension).where(Extension.loan_number == number).order_by(col(Extension.seq))
    ).all()
    times = _event_times(session, [e.seq for e in extension_rows])
    return tuple(
        ExtensionView(
            seq=e.seq,
            period=e.period,
            approver=e.approver,
            reason=e.reason,
            new_due_at=e.new_due_at,
            occurred_at=times[e.seq][0],
            recorded_at=times[e.seq][1],
            backdated=is_backdated(*times[e.seq]),
        )
        for e in extension_rows
    )


def _item_views(session: Session, number: str) -> tuple[ItemView, ...]:
    """The loan's items, each with its mass term by term."""
    items = _items(session, number)
    frozen = frozen_on_loan(session, number, [i.sample_code for i in items])
    return tuple(_item_view(i, i.sample_code in frozen) for i in items)


def _item_view(item: LoanItem, frozen: bool) -> ItemView:
    """One item of `loans show`: its masses as every view reads them."""
    masses = item_masses(item)
    return ItemView(
        sample=item.sample_code,
        source=item_source(item),
        state=item.state,
        frozen=frozen,
        **{name: getattr(masses, name) for name in ItemMasses.__dataclass_fields__},
    )


def _shipment_views(session: Session, number: str) -> tuple[ShipmentView, ...]:
    """The loan's shipments out and back, in seq order."""
    return tuple(
        ShipmentView(
            seq=s.seq,
            direction=s.direction,
            container=s.container,
            seal_number=s.seal_number,
            method=s.method,
            sender=s.sender,
            receiver=s.receiver,
            shipped_at=s.shipped_at,
            received_at=s.received_at,
            seal_intact=s.seal_intact,
            condition=s.condition_on_receipt,
        )
        for s in session.exec(
            select(Shipment).where(Shipment.loan_number == number).order_by(col(Shipment.seq))
        ).all()
    )


def _consumption_query(number: str) -> Query:
    """A loan's consumptions with their event's times, in seq order."""
    return (
        sa_select(
            col(Consumption.seq),
            col(Consumption.sample_code),
            col(Consumption.technique),
            col(Consumption.destructive),
            col(Consumption.mass_ug),
            col(Consumption.occurred_at),
            col(LedgerEvent.occurred_at).label("event_occurred_at"),
            col(LedgerEvent.recorded_at),
        )
        .join(LedgerEvent, col(LedgerEvent.seq) == col(Consumption.seq))
        .where(col(Consumption.loan_number) == number)
        .order_by(col(Consumption.seq))
    )


def _consumptions(session: Session, query: Query) -> Iterator[ConsumptionView]:
    """The consumptions of `query`, a batch at a time."""
    for batch in batches(session, query):
        for c in batch:
            occurred, recorded = from_stored(c.event_occurred_at), from_stored(c.recorded_at)
            yield ConsumptionView(
                seq=c.seq,
                sample=c.sample_code,
                technique=c.technique,
                destructive=bool(c.destructive),
                mass_ug=c.mass_ug,
                occurred_at=c.occurred_at,
                recorded_at=recorded,
                backdated=is_backdated(occurred, recorded),
            )


def _event_times(session: Session, seqs: list[int]) -> dict[int, tuple[datetime, datetime]]:
    """seq → (occurred_at, recorded_at) of some events."""
    rows = session.exec(
        select(LedgerEvent.seq, LedgerEvent.occurred_at, LedgerEvent.recorded_at).where(
            col(LedgerEvent.seq).in_(seqs)
        )
    ).all()
    return {seq: (from_stored(occurred), from_stored(recorded)) for seq, occurred, recorded in rows}


def _handovers(session: Session, number: str) -> tuple[HandoverView, ...]:
    """A loan's hand-overs in seq order, with their persons and both times."""
    return tuple(
        HandoverView(
            seq=h.seq,
            step=h.step,
            occurred_at=h.occurred_at,
            recorded_at=h.recorded_at,
            backdated=h.backdated,
            released_by=h.released_by,
            received_by=h.received_by,
            courier=h.courier,
            witness=h.witness,
            recorded_by=h.recorded_by,
        )
        for h in loan_handovers(session, number)
    )


def _discrepancies(session: Session, number: str) -> tuple[DiscrepancyView, ...]:
    """Weighings of a loan that differ from the mass the ledger expected, by seq and sample."""
    return _discrepancy_views(session, Weighing.loan_number == number)


def weighing_discrepancies(session: Session, seq: int) -> tuple[DiscrepancyView, ...]:
    """The weighings of one hand-over (a receipt, an accepted return) that differ from the
    mass the ledger expected, by sample: what its confirmation tells the person who weighed."""
    return _discrepancy_views(session, Weighing.seq == seq)


def _discrepancy_views(session: Session, which: Any) -> tuple[DiscrepancyView, ...]:
    """The weighings selected by `which` that differ from the expected mass, by seq and sample."""
    query = (
        select(Weighing)
        .where(which, Weighing.weighed_ug != Weighing.expected_ug)
        .order_by(col(Weighing.seq), byte_order(col(Weighing.sample_code)))
    )
    return tuple(
        DiscrepancyView(
            seq=w.seq,
            sample=w.sample_code,
            expected_ug=w.expected_ug,
            weighed_ug=w.weighed_ug,
            difference_ug=w.weighed_ug - w.expected_ug,
        )
        for w in session.exec(query).all()
    )


def _broken_seals(session: Session, number: str) -> tuple[BrokenSealView, ...]:
    """Shipments of a loan whose seal arrived broken, by receipt."""
    views = []
    for receipt in events_of_loan(session, number, "loan.received"):
        seq = receipt.seq
        p = stored_payload(seq, receipt.kind, receipt.payload)
        shipment = session.get(Shipment, int(p["shipment_seq"]))
        if p["seal_intact"] or shipment is None:
            continue
        views.append(
            BrokenSealView(
                seq=seq,
                shipment_seq=shipment.seq,
                direction=shipment.direction,
                seal_number=shipment.seal_number,
            )
        )
    return tuple(views)


def _corrections(session: Session, number: str) -> tuple[CorrectionView, ...]:
    """The corrections of the loan's events, in seq order: the tables above show the values in
    force (a corrected mass), and a note is the only record of what else was wrong (a seal, a
    courier, a date), so a reader of the loan sees both."""
    rows = events_of_loan(session, number, "event.corrected", "mass.corrected")
    notes = {
        n.seq: n
        for n in session.exec(select(Note).where(col(Note.seq).in_([r.seq for r in rows]))).all()
    }
    return tuple(
        CorrectionView(
            seq=r.seq,
            corrects_seq=notes[r.seq].corrects_seq,
            occurred_at=from_stored(r.occurred_at),
            recorded_by=r.actor,
            description=notes[r.seq].text,
        )
        for r in rows
        if r.seq in notes  # every correction files its note; `verify` names a missing one
    )


def list_incidents(
    session: Session, ctx: Context, *, open_only: bool = False
) -> list[IncidentView]:
    """Incidents by seq; researchers see only those on their own institution's loans."""
    person = access.reader(session, ctx)
    query = select(Incident, Loan.institution).join(
        Loan, col(Loan.number) == col(Incident.loan_number), isouter=True
    )
    if open_only:
        query = query.where(Incident.status == IncidentStatus.OPEN)
    rows = []
    for incident, institution in session.exec(query.order_by(col(Incident.seq))).all():
        if not access.can_see_institution(person, institution):
            continue
        rows.append(
            IncidentView(
                seq=incident.seq,
                sample=incident.sample_code,
                loan=incident.loan_number,
                institution=institution,
                kind=incident.kind,
                description=incident.description,
                mass_lost_ug=incident.mass_lost_ug,
                reported_at=incident.reported_at,
                reported_by=incident.reported_by,
                status=incident.status,
                resolved_at=incident.resolved_at,
                resolution=incident.resolution,
            )
        )
    return rows
