"""Who may read what: compliance officers and curators read everything; researchers read
only their own institution's records. Every read service calls one of these first.

A researcher's view of a record they may not read is the view of a record that does not exist:
one `NotFound` (exit 2) with the same words for both, naming no institution, so that a refusal
never tells them what exists elsewhere or who holds it. Curators and compliance officers read
everything, so they only ever meet the precise "does not exist" of `common.get`.

A researcher reads a sample only while it is on a loan of their institution: in the vault it is
the curator's, on another loan it is that borrower's.
"""

from collections.abc import Callable
from functools import partial
from typing import TypeVar

from sqlmodel import Session, SQLModel

from sampleloans.errors import NoSuchRecord, PermissionDenied
from sampleloans.ledger.envelope import Context
from sampleloans.models import Agreement, Institution, Loan, Person, Sample
from sampleloans.services.common import (
    STAFF_ROLES,
    acting_person,
    get_agreement,
    get_institution,
    get_loan,
    get_person,
    get_sample,
    twin_hint,
)

T = TypeVar("T", bound=SQLModel)

LIST_COMMANDS = {
    "sample": "sampleloans samples list",
    "loan": "sampleloans loans list",
    "person": "sampleloans people list",
    "agreement": "sampleloans agreements list",
    "institution": "sampleloans institutions list",
    "incident": "sampleloans incidents list",
}
"""The command that lists each kind of record, named in a refusal."""


def reader(session: Session, ctx: Context) -> Person:
    """The acting person for a read (any registered, active role)."""
    return acting_person(session, ctx)


def is_staff(person: Person) -> bool:
    """Curators and compliance officers, who read every institution's records."""
    return person.role in STAFF_ROLES


def can_see_institution(person: Person, institution: str | None) -> bool:
    """Whether a person may read records of an institution."""
    return is_staff(person) or (institution is not None and person.institution == institution)


def unseen(what: str, key: str, option: str | None = None) -> NoSuchRecord:
    """The one refusal a researcher gets for a record that is missing or not theirs (exit 2),
    led by the option that named it when the service knows it (`--pi 'x': no such person …`)."""
    return NoSuchRecord(what, key, f"see '{LIST_COMMANDS[what]}'", scoped=True, option=option)


def require_institution_access(
    person: Person, institution: str | None, what: str, key: str, option: str | None = None
) -> None:
    """Refuse a researcher a record of another institution as if it did not exist."""
    if not can_see_institution(person, institution):
        raise unseen(what, key, option)


def require_staff(person: Person, what: str) -> None:
    """Refuse researchers for collection-wide reads (lists across institutions, verify)."""
    if not is_staff(person):
        raise PermissionDenied(
            f"{person.email} is a researcher; only curators and compliance officers may {what}"
        )


def _lookup(
    session: Session,
    person: Person,
    getter: Callable[[Session, str], T],
    key: str,
    what: str,
    option: str | None = None,
    readable: Callable[[T], bool] | None = None,
) -> T:
    """A record by key: staff get the precise NotFound; a researcher the one `unseen`, naming
    the key spelt in another case only when that record is one they may `readable` (a twin
    they may not read answers as a missing one does); each led by `option` when given."""
    try:
        return getter(session, key)
    except NoSuchRecord as missing:
        if not is_staff(person):
            twin = missing.twin
            if twin is not None and readable is not None and readable(getter(session, twin)):
                hint = twin_hint(twin, what)
                raise NoSuchRecord(what, key, hint, scoped=True, option=option) from None
            raise unseen(what, key, option) from None
        if option is None:
            raise
        raise missing.typed_as(option) from None


def _of_theirs(person: Person, record: Loan | Agreement) -> bool:
    """Whether a loan or agreement is of an institution the person may read."""
    return can_see_institution(person, record.institution)


def sample_owner(session: Session, sample: Sample) -> str | None:
    """The borrowing institution whose records a sample is part of now (None in the vault)."""
    if sample.loan_number is None:
        return None
    loan = session.get(Loan, sample.loan_number)
    return None if loan is None else loan.institution


def can_see_sample(session: Session, person: Person, sample: Sample) -> bool:
    """Whether a person may read a sample as it is now (researchers: on their own loans)."""
    return is_staff(person) or sample_owner(session, sample) == person.institution


def readable_sample(session: Session, person: Person, code: str) -> Sample:
    """A sample the person may read, or NotFound."""
    sample = _lookup(
        session, person, get_sample, code, "sample", None, partial(can_see_sample, session, person)
    )
    if not can_see_sample(session, person, sample):
        raise unseen("sample", code)
    return sample


def readable_loan(session: Session, person: Person, number: str) -> Loan:
    """A loan the person may read, or NotFound."""
    loan = _lookup(session, person, get_loan, number, "loan", None, partial(_of_theirs, person))
    require_institution_access(person, loan.institution, "loan", number)
    return loan


def readable_institution(
    session: Session, person: Person, short_name: str, option: str | None = None
) -> Institution:
    """An institution the person may read, or NotFound (led by `option`, e.g. --custodian);
    a researcher who types their own institution in another case is told its name, as staff
    are told any institution's (naming their own discloses nothing)."""
    refuse_own_case_twin(person, short_name, option)
    institution = _lookup(session, person, get_institution, short_name, "institution", option)
    require_institution_access(person, institution.short_name, "institution", short_name, option)
    return institution


def refuse_own_case_twin(person: Person, short_name: str, option: str | None = None) -> None:
    """A researcher's own institution typed in another case (`osaka`): not found, naming it."""
    own = person.institution
    if not is_staff(person) and short_name != own and short_name.lower() == own.lower():
        hint = twin_hint(own, "institution")
        raise NoSuchRecord("institution", short_name, hint, scoped=True, option=option)


def readable_person(
    session: Session, person: Person, email: str, option: str | None = None
) -> Person:
    """A registered person the reader may see, or NotFound (led by `option`, e.g. --pi)."""
    found = _lookup(session, person, get_person, email.lower(), "person", option)
    require_institution_access(person, found.institution, "person", email.lower(), option)
    return found


def readable_agreement(session: Session, person: Person, number: str) -> Agreement:
    """An agreement the person may read, or NotFound."""
    agreement = _lookup(
        session, person, get_agreement, number, "agreement", None, partial(_of_theirs, person)
    )
    require_institution_access(person, agreement.institution, "agreement", number)
    return agreement
