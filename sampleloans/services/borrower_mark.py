"""Which events a person of the borrowing institution recorded: the one rule behind
`custody history`'s "(recorded by the borrower)" and the custody report's "(the borrower)".

The rule: the event is about a loan (a `loan.*` event names it as `number`, an `incident.*`
event as `loan`) and its actor belongs to the institution that loan is lent to. It reads the
`person` and `loan` rows alone, which every reader sees alike: a researcher's own institution's
people and the lender's staff under PostgreSQL's row-level security, everyone for a curator. (The
role a person held when recording cannot be the rule: the person events that carry role changes
are hidden from a researcher, so a researcher's view and the curator's would differ.) A person's
institution never changes, and only a researcher of the borrower records on its loans, so the
two readings agree wherever both can be made.
"""

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from sampleloans.models import Loan, Person

IN_CHUNK = 500
"""Loan numbers per `IN (…)` list (well under SQLite's bound-parameter limit)."""


def loan_of(kind: str, payload: dict[str, Any]) -> str | None:
    """The number of the loan an event is about (None: not about a loan)."""
    if kind.startswith("loan."):
        number = payload.get("number")
    elif kind.startswith("incident."):
        number = payload.get("loan")
    else:
        return None
    return str(number) if number else None


class BorrowerMark:
    """The rule over one read transaction: people read once, loans' borrowers as needed."""

    def __init__(self, session: Session, loans: Iterable[Loan] = ()) -> None:
        self.session = session
        self.borrower = {loan.number: loan.institution for loan in loans}
        rows = session.execute(sa_select(col(Person.email), col(Person.institution))).all()
        self.home = {str(email): str(institution) for email, institution in rows}

    def learn(self, numbers: Iterable[str]) -> None:
        """Read the borrowers of loans not known yet (one query per chunk of numbers)."""
        missing = sorted({n for n in numbers if n not in self.borrower})
        for start in range(0, len(missing), IN_CHUNK):
            chunk = missing[start : start + IN_CHUNK]
            query = sa_select(col(Loan.number), col(Loan.institution)).where(
                col(Loan.number).in_(chunk)
            )
            for number, institution in self.session.execute(query):
                self.borrower[str(number)] = str(institution)

    def recorded(self, kind: str, payload: dict[str, Any], actor: str) -> bool:
        """Whether a person of the borrower of the event's loan recorded it (`learn` first)."""
        number = loan_of(kind, payload)
        borrower = self.borrower.get(number) if number else None
        return borrower is not None and self.home.get(actor) == borrower
