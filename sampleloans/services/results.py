"""What a write service did: the appended event's envelope and the rows it changed.

Commands print from a result instead of reading the database again after writing; the rows
are the session's own instances, as `apply` left them (no query).
"""

from dataclasses import dataclass
from typing import Any, TypeVar

from sqlmodel import Session, SQLModel

from sampleloans.ledger.envelope import Envelope
from sampleloans.models import Agreement, Loan, LoanItem, Sample

Row = TypeVar("Row", bound=SQLModel)


@dataclass(frozen=True)
class Written:
    """An event appended by a service: its envelope."""

    envelope: Envelope

    @property
    def seq(self) -> int:
        """The appended event's sequence number."""
        return self.envelope.seq


@dataclass(frozen=True)
class LoanWritten(Written):
    """An event about a loan, with the loan and its items after it."""

    loan: Loan
    items: tuple[LoanItem, ...]


@dataclass(frozen=True)
class SamplesWritten(Written):
    """An event that registered or split samples, with the new samples after it."""

    samples: tuple[Sample, ...]


@dataclass(frozen=True)
class AgreementWritten(Written):
    """An event about an agreement, with the agreement after it."""

    agreement: Agreement


def _row(session: Session, model: type[Row], key: Any) -> Row:
    """A row the event just wrote, from the session's identity map."""
    row = session.get(model, key)
    assert row is not None, f"{model.__name__} {key!r} was just written"
    return row


def loan_written(
    session: Session, envelope: Envelope, number: str, codes: list[str]
) -> LoanWritten:
    """The result of an event about loan `number` that changed the items of `codes`."""
    loan = _row(session, Loan, number)
    items = tuple(_row(session, LoanItem, (number, code)) for code in sorted(codes))
    return LoanWritten(envelope, loan, items)


def samples_written(session: Session, envelope: Envelope, codes: list[str]) -> SamplesWritten:
    """The result of an event that registered or split off the samples `codes`."""
    return SamplesWritten(envelope, tuple(_row(session, Sample, code) for code in codes))


def agreement_written(session: Session, envelope: Envelope, number: str) -> AgreementWritten:
    """The result of an event about agreement `number`."""
    return AgreementWritten(envelope, _row(session, Agreement, number))
