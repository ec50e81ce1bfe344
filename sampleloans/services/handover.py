"""Who handed over to whom: the persons of each hand-over, apart from who recorded it.

A hand-over is an issue (vault → dispatch), a shipment (outbound or return release) or a
receipt (outbound receipt or return acceptance). Its payload may name `released_by`,
`received_by`, `courier` and `witness`: a registered person by e-mail, or anyone else by name.
A field a payload does not name (every event written before these fields existed) takes its
default, the same rule at writing and at reading:

| hand-over | released by (default) | received by (default) |
|---|---|---|
| issue | the recording curator | the recording curator |
| ship (outbound) | the recording curator | the courier, if one is named |
| receive (outbound) | who took the shipment (its courier), else its releaser | the loan's PI |
| return (release) | the loan's PI | the courier, if one is named |
| accept-return | who took the shipment (its courier), else its releaser | the recording curator |
"""

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from sampleloans.errors import InvalidInput, RuleViolation
from sampleloans.ledger.envelope import from_stored
from sampleloans.ledger.payload import stored_payload
from sampleloans.ledger.reads import get_row
from sampleloans.models import Institution, LedgerEvent, Loan, Person
from sampleloans.readmodels.handover import Handover, PartyView
from sampleloans.services.common import STAFF_INSTITUTION_KINDS
from sampleloans.services.queries import events_of_loan
from sampleloans.text import clean_email, clean_name
from sampleloans.vocab import Direction, Role

HANDOVER_KINDS = frozenset({"loan.issued", "loan.shipped", "loan.received"})
PARTY_FIELDS = ("released_by", "received_by", "courier", "witness")
MAX_PARTY_LEN = 120


@dataclass(frozen=True)
class Parties:
    """The persons of one hand-over as recorded: e-mails of registered people, or names."""

    released_by: str | None
    received_by: str | None
    courier: str | None
    witness: str | None


def require_party(
    session: Session, value: str | None, field: str, recorder: Person | None = None
) -> str | None:
    """A hand-over person as given on the command line: a registered e-mail, or a name.

    Anything with an '@' must be a registered person's e-mail (exit 2 otherwise), so a typo in
    an address is not silently kept as a name. A researcher `recorder` names only people they
    may see (their institution's, the lender's staff): anyone else answers as unregistered.
    """
    if value is None:
        return None
    if "@" in value:
        email = clean_email(value, field)
        person = get_row(session, Person, email)
        if person is None or not _may_name(session, recorder, person):
            raise InvalidInput(
                f"{field}: no registered person has the e-mail {email}; give a registered "
                "person's e-mail (see 'people list') or the name of someone who is not registered"
            )
        if not person.active:  # a deactivated person no longer hands samples over or takes them
            raise RuleViolation(
                f"{field}: {email} is deactivated; name an active person (see 'people list')"
            )
        return email
    return clean_name(value, field, max_len=MAX_PARTY_LEN)


def _may_name(session: Session, recorder: Person | None, person: Person) -> bool:
    """Whether the recorder may name a registered person: staff anyone; a researcher someone
    of their own institution or of the lender's side (whom their hand-overs show anyway)."""
    if recorder is None or recorder.role != Role.RESEARCHER:
        return True
    if person.institution == recorder.institution:
        return True
    institution = get_row(session, Institution, person.institution)
    return institution is not None and institution.kind in STAFF_INSTITUTION_KINDS


def require_active_defaults(session: Session, given: dict[str, Any], parties: Parties) -> None:
    """A party left out takes its default person (the loan's PI receives a shipment and
    releases its return); that person may no longer hand samples over once deactivated, as
    one named is not (`require_party`): the command must say who did."""
    for name in ("released_by", "received_by"):
        email = getattr(parties, name)
        if given.get(name) is not None or email is None or "@" not in email:
            continue
        person = get_row(session, Person, email)
        if person is not None and not person.active:
            option = "--" + name.replace("_", "-")
            raise RuleViolation(
                f"{name.replace('_', ' ')}: {email} (by default) is deactivated; name who "
                f"{name.split('_')[0]} the samples with {option} (a registered person's "
                "e-mail or a name)"
            )


def parties_of(session: Session, kind: str, payload: dict[str, Any], recorder: str) -> Parties:
    """The persons of a hand-over event: the payload's, and the defaults for what it omits."""
    given = {name: payload.get(name) for name in PARTY_FIELDS}
    released, received = _defaults(session, kind, payload, recorder, given["courier"])
    return Parties(
        released_by=given["released_by"] or released,
        received_by=given["received_by"] or received,
        courier=given["courier"],
        witness=given["witness"],
    )


SIDES: dict[str, tuple[tuple[str, str], ...]] = {
    # step → (the party checked, where a registered person in that role must work); a party
    # not listed may be a courier or anyone else (a shipment is received by whoever carries it)
    "issue": (("released_by", "staff"),),
    "ship": (("released_by", "staff"),),
    "receive": (("received_by", "borrower"),),
    "return": (("released_by", "borrower"), ("received_by", "staff-or-borrower")),
    "accept-return": (("received_by", "staff"),),
}


def check_sides(session: Session, step: str, loan: Loan, parties: Parties) -> None:
    """Refuse a registered person on the wrong side of a hand-over: the lender's staff release
    from the vault and take returns back; the borrowing institution receives and releases returns.
    Unregistered names (couriers, lab staff) are not checked: the ledger knows nothing of them."""
    for field, side in SIDES[step]:
        _check_side(session, step, loan, field, side, getattr(parties, field))


def _check_side(
    session: Session, step: str, loan: Loan, field: str, side: str, email: str | None
) -> None:
    """Refuse one registered party who does not work where `side` says."""
    person = get_row(session, Person, email) if email and "@" in email else None
    if person is None:
        return
    what = field.replace("_", " ")
    institution = get_row(session, Institution, person.institution)
    is_staff = institution is not None and institution.kind in STAFF_INSTITUTION_KINDS
    if side == "staff-or-borrower":  # a return carried by the lender's staff or the borrower's
        if is_staff or person.institution == loan.institution:
            return
        raise RuleViolation(
            f"{what}: {email} is at {person.institution}, neither the lender nor "
            f"{loan.institution}, the borrowing institution of loan {loan.number}; name someone "
            "there, or a courier who is not registered"
        )
    if side == "staff":
        if is_staff:
            return
        raise RuleViolation(
            f"{what}: {email} is at {person.institution}, not at the lender or a curator; at "
            f"a {step} the samples pass through the lender's staff (name one of them, or "
            "someone who is not registered)"
        )
    if person.institution != loan.institution:
        raise RuleViolation(
            f"{what}: {email} is at {person.institution}, not at {loan.institution}, the "
            f"borrowing institution of loan {loan.number}; name someone there (or someone who "
            "is not registered)"
        )


def _defaults(
    session: Session, kind: str, payload: dict[str, Any], recorder: str, courier: str | None
) -> tuple[str | None, str | None]:
    """(released by, received by) when the payload does not name them (see the module table)."""
    loan = get_row(session, Loan, payload["number"])
    pi = loan.pi_email if loan is not None else None
    if kind == "loan.issued":
        return recorder, recorder
    if kind == "loan.shipped":
        outbound = payload.get("direction", Direction.OUTBOUND) == Direction.OUTBOUND
        return (recorder if outbound else pi), courier
    shipped = _shipment_row(session, payload)
    if shipped is None:
        return None, recorder
    shipped_payload = stored_payload(shipped.seq, shipped.kind, shipped.payload)
    sender = parties_of(session, shipped.kind, shipped_payload, shipped.actor)
    outbound = shipped_payload.get("direction", Direction.OUTBOUND) == Direction.OUTBOUND
    return sender.received_by or sender.released_by, (pi if outbound else recorder)


def _shipment_row(session: Session, payload: dict[str, Any]) -> LedgerEvent | None:
    """The shipment event a receipt names, or None when that event is no shipment.

    Only on a ledger edited by hand (events renumbered, a payload rewritten) can a receipt name
    another kind of event, itself included; following it would loop forever, so a read of such
    a ledger shows the defaults a missing shipment gives and leaves the finding to `verify`."""
    shipped = get_row(session, LedgerEvent, int(payload["shipment_seq"]))
    return shipped if shipped is not None and shipped.kind == "loan.shipped" else None


@dataclass(frozen=True)
class NamesAt:
    """Registered persons' names as they stood at a moment: each renamed after it reads by the
    name its first later rename replaced (a history "as of" a moment prints the names a report
    as of it prints, not today's)."""

    earlier: dict[str, str]  # e-mail → the name before its first rename after the moment

    def name_of(self, person: Person) -> str:
        """`person`'s name at the moment."""
        return self.earlier.get(person.email, person.name)


NAMES_NOW = NamesAt({})
"""Every person by their current name."""


def names_at(session: Session, later_than: Any) -> NamesAt:
    """The names at a moment, given `later_than`: a condition on `LedgerEvent` true of the events
    after it (a handful of renames in a ledger's life, read once per listing)."""
    rows = session.exec(
        select(LedgerEvent.seq, LedgerEvent.kind, LedgerEvent.payload)
        .where(LedgerEvent.kind == "person.renamed", later_than)
        .order_by(col(LedgerEvent.seq))
    )
    earlier: dict[str, str] = {}
    for seq, kind, stored in rows:  # in seq order: a person's renames follow in time too
        payload = stored_payload(seq, kind, stored)
        earlier.setdefault(payload["email"], payload["previous_name"])
    return NamesAt(earlier)


def party_view(session: Session, value: str | None, names: NamesAt = NAMES_NOW) -> PartyView | None:
    """How a recorded person reads: name (as `names` has it) and institution for a registered
    e-mail."""
    if value is None:
        return None
    person = session.get(Person, value) if "@" in value else None
    if person is None:
        return PartyView(email=None, name=value, institution=None)
    return PartyView(email=person.email, name=names.name_of(person), institution=person.institution)


def step_of(session: Session, kind: str, payload: dict[str, Any]) -> str:
    """The command-line name of a hand-over step (issue, ship, receive, return, accept-return)."""
    if kind == "loan.issued":
        return "issue"
    if kind == "loan.shipped":
        outbound = payload.get("direction", Direction.OUTBOUND) == Direction.OUTBOUND
        return "ship" if outbound else "return"
    shipped = _shipment_row(session, payload)
    direction = (
        stored_payload(shipped.seq, shipped.kind, shipped.payload).get("direction")
        if shipped is not None
        else None
    )
    return "accept-return" if direction == Direction.RETURN else "receive"


def handover_of(session: Session, row: Any, names: NamesAt = NAMES_NOW) -> Handover:
    """The hand-over of one stored event row (seq, kind, payload, occurred_at, recorded_at,
    actor), its persons resolved to names (as `names` has them) and institutions."""
    payload = stored_payload(row.seq, row.kind, row.payload)
    parties = parties_of(session, row.kind, payload, row.actor)
    return Handover(
        seq=row.seq,
        step=step_of(session, row.kind, payload),
        occurred_at=from_stored(row.occurred_at),
        recorded_at=from_stored(row.recorded_at),
        recorded_by=row.actor,
        released_by=party_view(session, parties.released_by, names),
        received_by=party_view(session, parties.received_by, names),
        courier=party_view(session, parties.courier, names),
        witness=party_view(session, parties.witness, names),
    )


def loan_handovers(session: Session, number: str) -> list[Handover]:
    """Every hand-over of a loan in seq order."""
    rows = events_of_loan(session, number, *HANDOVER_KINDS)
    return [handover_of(session, row) for row in rows]
