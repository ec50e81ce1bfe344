"""Read models for the command line and reports: plain frozen dataclasses, sorted."""

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, type_coerce
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from sampleloans.ledger import overdue as rule
from sampleloans.models import (
    Agreement,
    EventSubject,
    Institution,
    LedgerEvent,
    Loan,
    LoanItem,
    Sample,
    Shipment,
    UTCDateTime,
    byte_order,
    latest_time,
)
from sampleloans.readmodels.report import LoanEnd, loan_end
from sampleloans.vocab import (
    ACTIVE_LOAN_STATUSES,
    Direction,
    InstitutionKind,
    ItemSource,
    LoanStatus,
    SubjectType,
)

__all__ = ["ACTIVE_LOAN_STATUSES", "InstitutionSummary", "collection_summary"]


@dataclass(frozen=True)
class InstitutionSummary:
    """One borrowing institution's loans and masses."""

    institution: str
    country: str
    loans: int
    status: str
    issued_ug: int
    consumed_ug: int
    returned_ug: int
    held_ug: int


def _agreement_status(session: Session, institution: str) -> str:
    """The institution's agreements' statuses, e.g. 'signed' or 'pending'."""
    statuses = session.exec(
        select(Agreement.status).where(Agreement.institution == institution)
    ).all()
    return ", ".join(sorted(set(statuses))) or "no agreement"


def collection_summary(session: Session, now: datetime) -> list[InstitutionSummary]:
    """Every borrowing institution with loans or agreements, by short name."""
    by_institution = _loan_totals(session)
    overdue = _institutions_overdue(session, now)
    rows = []
    institutions = session.exec(
        select(Institution)
        .where(Institution.kind == InstitutionKind.BORROWER)
        .order_by(byte_order(Institution.short_name))
    ).all()
    for institution in institutions:
        totals_row = by_institution.get(institution.short_name)
        status = _agreement_status(session, institution.short_name)
        if totals_row is None and status == "no agreement":
            continue
        if institution.short_name in overdue:
            status += ", overdue"
        _name, loans, issued, consumed, returned, held = totals_row or ("", 0, 0, 0, 0, 0)
        rows.append(
            InstitutionSummary(
                institution=institution.short_name,
                country=institution.country,
                loans=int(loans),
                status=status,
                issued_ug=int(issued),
                consumed_ug=int(consumed),
                returned_ug=int(returned),
                held_ug=int(held),
            )
        )
    return rows


def _loan_totals(session: Session) -> dict[str, tuple[Any, ...]]:
    """Per institution with loans: (institution, loans, issued, consumed, returned, held µg)."""
    # Core `select`: sqlmodel's is typed for at most four columns
    totals = session.execute(
        sa_select(
            col(Loan.institution),
            func.count(func.distinct(Loan.number)),
            # a borrower's split moves mass between items of one loan: count issued once
            func.coalesce(
                func.sum(
                    case((col(LoanItem.source) == ItemSource.ISSUED, LoanItem.issued_ug), else_=0)
                ),
                0,
            ),
            func.coalesce(func.sum(LoanItem.consumed_ug), 0),
            func.coalesce(func.sum(LoanItem.returned_ug), 0),
            func.coalesce(func.sum(LoanItem.held_ug), 0),
        )
        .join(LoanItem, col(LoanItem.loan_number) == col(Loan.number), isouter=True)
        .group_by(Loan.institution)
    ).all()
    return {row[0]: row for row in totals}


def _institutions_overdue(session: Session, now: datetime) -> set[str]:
    """The institutions with a return or an inventory overdue at `now`."""
    loans = session.exec(select(Loan).where(col(Loan.status).in_(ACTIVE_LOAN_STATUSES))).all()
    sent = sent_back_at(session, loans)
    return {
        loan.institution
        for loan in loans
        if rule.return_overdue(loan.status, loan.due_at, now, sent.get(loan.number))
        or rule.inventory_overdue(
            loan.status, loan.next_inventory_due_at, now, for_inventory(sent).get(loan.number)
        )
    }


_SENT_BACK_CHUNK = 500  # loan numbers a query names at once (far under any driver's limit)


_BEFORE_SENT_BACK: ContextVar[bool] = ContextVar("before_sent_back", default=False)
"""Whether a document is rebuilt as a layout printed before "returned by" meant "sent back by"
(report layout 12, statement layout 11): a return on its way back counted as still owed."""
_BEFORE_INVENTORY_SENT_BACK: ContextVar[bool] = ContextVar(
    "before_inventory_sent_back", default=False
)
"""Whether a document is rebuilt as a layout printed before an inventory was met by sending
everything back by its due time (report layout 13, statement layout 12): still owed then."""


@contextmanager
def judged_before_sent_back(before: bool, inventory_before: bool) -> Iterator[None]:
    """Within: `sent_back_at` finds nothing when `before`, and `for_inventory` nothing when
    `inventory_before` (the document's layout predates that rule), so a file printed then is
    rebuilt as it was judged, and still verifies."""
    token = _BEFORE_SENT_BACK.set(before)
    inventory_token = _BEFORE_INVENTORY_SENT_BACK.set(before or inventory_before)
    try:
        yield
    finally:
        _BEFORE_INVENTORY_SENT_BACK.reset(inventory_token)
        _BEFORE_SENT_BACK.reset(token)


def for_inventory(sent: Mapping[str, datetime]) -> Mapping[str, datetime]:
    """The sent-back times (`sent_back_at`) that `ledger.overdue.inventory_due` judges an
    inventory by: none for a document of a layout before that rule (`judged_before_sent_back`)."""
    return {} if _BEFORE_INVENTORY_SENT_BACK.get() else sent


def sent_back_at(session: Session, loans: Iterable[Loan]) -> dict[str, datetime]:
    """When the last return shipment left, for each of `loans` whose every part left is on its
    way back (`return_in_transit`): what `ledger.overdue.return_owed` judges the return by
    (nothing for a document of a layout before that rule: `judged_before_sent_back`)."""
    if _BEFORE_SENT_BACK.get():
        return {}
    numbers = sorted({loan.number for loan in loans if loan.status == LoanStatus.RETURN_IN_TRANSIT})
    found: dict[str, datetime] = {}
    for start in range(0, len(numbers), _SENT_BACK_CHUNK):
        chunk = numbers[start : start + _SENT_BACK_CHUNK]
        rows = session.exec(
            select(Shipment.loan_number, latest_time(col(Shipment.shipped_at)))
            .where(
                col(Shipment.loan_number).in_(chunk),
                col(Shipment.direction) == Direction.RETURN.value,
            )
            .group_by(col(Shipment.loan_number))
        ).all()
        found.update((number, shipped_at) for number, shipped_at in rows)
    return found


def sent_back_column() -> Any:
    """SQL: when a loan's last return shipment left, if its every part left is on its way back
    (else NULL), typed as the time column; a correlated subquery guarded by a CASE, so only
    such a loan pays its index lookup (`sent_back_at` for loans already read)."""
    last = (
        sa_select(latest_time(col(Shipment.shipped_at)))
        .where(
            col(Shipment.loan_number) == col(Loan.number),
            col(Shipment.direction) == Direction.RETURN.value,
        )
        .scalar_subquery()
    )
    in_transit = col(Loan.status) == LoanStatus.RETURN_IN_TRANSIT.value
    return type_coerce(case((in_transit, last), else_=None), UTCDateTime())


def issued_under(session: Session, agreement: str) -> int:
    """Micrograms issued so far under an agreement (curator-issued items only)."""
    query = (
        select(LoanItem.issued_ug)
        .join(Loan, col(Loan.number) == col(LoanItem.loan_number))
        .where(Loan.agreement == agreement, LoanItem.source == ItemSource.ISSUED)
    )
    return sum(session.exec(query).all())


def frozen_on_loan(session: Session, loan_number: str, codes: Sequence[str]) -> frozenset[str]:
    """Which of these samples of loan `loan_number` an open incident freezes while they are on
    that loan: every view of a loan says "(frozen)" by this alone. A sample back in the vault,
    or on another loan since, is not frozen on this one, whatever froze it (before, a sample
    frozen after it left, or brought back frozen, read "returned (frozen)" on every loan it was
    ever on)."""
    if not codes:
        return frozenset()
    found = session.exec(
        select(Sample.code).where(
            col(Sample.code).in_(list(codes)),
            col(Sample.frozen),
            col(Sample.loan_number) == loan_number,
        )
    ).all()
    return frozenset(found)


def returned_at(session: Session, number: str) -> datetime | None:
    """When the loan's last return shipment arrived back (None when nothing came back)."""
    from sampleloans.models import Shipment
    from sampleloans.vocab import Direction

    return session.exec(
        select(latest_time(col(Shipment.received_at))).where(
            Shipment.loan_number == number, Shipment.direction == Direction.RETURN
        )
    ).one()


def _about_loan(column: Any, number: str) -> Any:
    """A SELECT of `column` over the index of the events about one loan."""
    return select(column).where(
        EventSubject.subject_type == SubjectType.LOAN, EventSubject.subject_key == number
    )


def last_event_of_loan(session: Session, number: str) -> int | None:
    """The seq of the last event about one loan (None before any)."""
    last: int | None = session.exec(_about_loan(func.max(EventSubject.seq), number)).one()
    return last


def events_of_loan(session: Session, number: str, *kinds: str) -> list[LedgerEvent]:
    """The events of these kinds about one loan (it is among their subjects), in seq order."""
    about_loan = _about_loan(EventSubject.seq, number)
    return list(
        session.exec(
            select(LedgerEvent)
            .where(col(LedgerEvent.seq).in_(about_loan), col(LedgerEvent.kind).in_(kinds))
            .order_by(col(LedgerEvent.seq))
        ).all()
    )


def withdrawn_reason(session: Session, loan: Loan) -> str | None:
    """The reason recorded when the loan was withdrawn before issue (None unless it was)."""
    if loan.issued_at is not None or loan.closed_at is None:
        return None
    withdrawals = events_of_loan(session, loan.number, "loan.withdrawn")
    return withdrawals[-1].reason if withdrawals else None


def loan_ended(session: Session, loan: Loan) -> LoanEnd | None:
    """How a loan that is over ended, as the documents print it in place of its old due date
    (None while it is not over): `readmodels.report.loan_end` of the ledger's facts."""
    return loan_end(
        loan.status,
        withdrawn=withdrawn_reason(session, loan) is not None,
        returned_at=returned_at(session, loan.number),
        settled_at=loan.settled_at,
        closed_at=loan.closed_at,
    )
