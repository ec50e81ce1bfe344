"""Who may read what: compliance officers and curators read everything; researchers read
only their own institution's records. Every read service calls one of these first."""

from sqlmodel import Session

from sampleloans.errors import PermissionDenied
from sampleloans.ledger.envelope import Context
from sampleloans.models import Person
from sampleloans.services.common import acting_person


def reader(session: Session, ctx: Context) -> Person:
    """The acting person for a read (any registered role)."""
    return acting_person(session, ctx)


def can_see_institution(person: Person, institution: str) -> bool:
    """Whether a person may read records of an institution."""
    return person.role in ("curator", "compliance_officer") or person.institution == institution


def require_institution_access(person: Person, institution: str, what: str) -> None:
    """Refuse a researcher reading another institution's records (exit 4)."""
    if not can_see_institution(person, institution):
        raise PermissionDenied(
            f"{person.email} is a researcher at {person.institution}; {what} belongs to "
            f"{institution} and only its own researchers, curators and compliance officers "
            "may read it"
        )


def require_staff(person: Person, what: str) -> None:
    """Refuse researchers for collection-wide reads (lists across institutions, verify)."""
    if person.role not in ("curator", "compliance_officer"):
        raise PermissionDenied(
            f"{person.email} is a researcher; only curators and compliance officers may {what}"
        )
