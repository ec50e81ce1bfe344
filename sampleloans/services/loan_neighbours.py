"""What a loan step reads of the loan besides the loan, declared to go with the writers' lock.

On PostgreSQL every round trip a write makes while it holds the writers' advisory lock delays
every queued writer (issue 14, Performance). A loan step names, before its transaction begins,
the loan's records it will read: each is one query keyed by the loan's number, sent in the
lock's own pipeline (`services/lock_reads.query_with_the_lock`), and the step answers from it
(`answered_with_the_lock`). Elsewhere (SQLite, a transaction already begun) nothing changes.
"""

from typing import Any

from sqlalchemy import Table, bindparam, func, literal_column
from sqlalchemy import select as sa_select
from sqlmodel import Session, SQLModel

from sampleloans.models import (
    Agreement,
    Institution,
    LedgerEvent,
    Loan,
    LoanItem,
    Person,
    Sample,
    Shipment,
    byte_order,
)
from sampleloans.services.lock_reads import query_with_the_lock
from sampleloans.vocab import ACTIVE_LOAN_STATUSES, ItemSource

_LOAN_T: Table = Loan.__table__  # type: ignore[attr-defined]  # SQLModel sets it
_ITEM_T: Table = LoanItem.__table__  # type: ignore[attr-defined]  # SQLModel sets it
_SHIPMENT_T: Table = Shipment.__table__  # type: ignore[attr-defined]  # SQLModel sets it


def _of_the_loan(column: Any) -> Any:
    """One column of the loan named by the bound parameter `n` (a scalar subquery)."""
    return sa_select(column).where(_LOAN_T.c.number == bindparam("n")).scalar_subquery()


def _constant(value: str) -> Any:
    """A vocabulary word written into the SQL (a statement read with the lock carries only
    the parameters it is declared with)."""
    assert value.isidentifier()  # a word of `vocab`, never input
    return literal_column(f"'{value}'")


def _neighbour_reads() -> dict[str, tuple[type[SQLModel] | None, Any]]:
    """The records of a loan a write command reads besides the loan, each one query keyed by
    the loan's number (built once: building a statement costs more than running it)."""
    agreement_t: Table = Agreement.__table__  # type: ignore[attr-defined]  # SQLModel sets it
    sample_t: Table = Sample.__table__  # type: ignore[attr-defined]  # SQLModel sets it
    person_t: Table = Person.__table__  # type: ignore[attr-defined]  # SQLModel sets it
    institution_t: Table = Institution.__table__  # type: ignore[attr-defined]  # SQLModel sets it
    event_t: Table = LedgerEvent.__table__  # type: ignore[attr-defined]  # SQLModel sets it
    on_the_loan = _ITEM_T.c.loan_number == bindparam("n")
    in_transit = sa_select(_SHIPMENT_T.c.seq).where(
        _SHIPMENT_T.c.loan_number == bindparam("n"), _SHIPMENT_T.c.received_at.is_(None)
    )
    issued = (
        sa_select(func.coalesce(func.sum(_ITEM_T.c.issued_ug), literal_column("0")))
        .select_from(_LOAN_T.join(_ITEM_T, _ITEM_T.c.loan_number == _LOAN_T.c.number))
        .where(
            _LOAN_T.c.agreement == agreement_t.c.number,
            _ITEM_T.c.source == _constant(ItemSource.ISSUED),
        )
        .scalar_subquery()
    )
    pi_institution = (
        sa_select(person_t.c.institution)
        .where(person_t.c.email == _of_the_loan(_LOAN_T.c.pi_email))
        .scalar_subquery()
    )
    out = [_constant(status) for status in ACTIVE_LOAN_STATUSES]
    return {
        "agreement": (
            Agreement,
            sa_select(agreement_t).where(agreement_t.c.number == _of_the_loan(_LOAN_T.c.agreement)),
        ),
        "items": (
            LoanItem,
            sa_select(_ITEM_T).where(on_the_loan).order_by(byte_order(_ITEM_T.c.sample_code)),
        ),
        "samples": (
            Sample,
            sa_select(sample_t).where(
                sample_t.c.code.in_(sa_select(_ITEM_T.c.sample_code).where(on_the_loan))
            ),
        ),
        "pi": (
            Person,
            sa_select(person_t).where(person_t.c.email == _of_the_loan(_LOAN_T.c.pi_email)),
        ),
        "pi institution": (
            Institution,
            sa_select(institution_t).where(institution_t.c.short_name == pi_institution),
        ),
        "shipments in transit": (
            Shipment,
            sa_select(_SHIPMENT_T).where(_SHIPMENT_T.c.seq.in_(in_transit)),
        ),
        "their shipping events": (
            LedgerEvent,
            sa_select(event_t).where(event_t.c.seq.in_(in_transit)),
        ),
        "loans out at the institution": (
            Loan,
            sa_select(_LOAN_T)
            .where(
                _LOAN_T.c.institution == _of_the_loan(_LOAN_T.c.institution),
                _LOAN_T.c.status.in_(out),
            )
            .order_by(byte_order(_LOAN_T.c.number)),
        ),
        "issued under the agreement": (
            None,
            sa_select(agreement_t.c.number, issued).where(
                agreement_t.c.number == _of_the_loan(_LOAN_T.c.agreement)
            ),
        ),
    }


NEIGHBOURS = _neighbour_reads()
"""What `declare_neighbours` may declare of a loan: name → (the model of its rows, or None
for plain values; the query, keyed by the loan's number as `n`)."""
STEP_NEIGHBOURS: dict[str, tuple[str, ...]] = {
    # each step: what it reads of the loan besides the loan (the parties' defaults included)
    "approve": ("agreement",),
    "issue": ("agreement", "items", "samples", "loans out at the institution",
              "issued under the agreement"),
    "ship": ("items", "samples"),
    "receive": ("items", "samples", "pi", "pi institution", "shipments in transit",
                "their shipping events"),
    "consume": ("agreement", "items"),
    "split": ("agreement", "items"),
    "ship_return": ("items", "samples", "pi", "pi institution"),
    "accept_return": ("items", "samples", "pi", "shipments in transit",
                      "their shipping events"),
}  # fmt: skip
"""The neighbours each loan step declares with the lock (the others declare none)."""


def declare_neighbours(session: Session, number: str, names: tuple[str, ...]) -> None:
    """Declare the named neighbours of loan `number` (`NEIGHBOURS`) to go with the lock; each
    is answered under `(name, number)`."""
    for name in names:
        model, statement = NEIGHBOURS[name]
        items_of_loan = number if name == "items" else None
        query_with_the_lock(
            session, (name, number), model, statement, {"n": number}, items_of_loan=items_of_loan
        )
