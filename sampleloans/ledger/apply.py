"""`apply(session, envelope, event)`: the one code path that turns events into projections.

Services call it through `store.append`; `verify` calls it to replay the whole ledger into an
empty schema. It never looks at the clock: every time comes from the envelope. It refuses
(raises) on an event that cannot follow the current state, so a replay of a tampered ledger
names the event that no longer fits.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import insert
from sqlmodel import Session, SQLModel, select

from sampleloans.errors import Conflict, InvalidInput, NotFound, RuleViolation
from sampleloans.ledger import events as ev
from sampleloans.ledger.checks import (
    NEVER_LENT,
    loan_status_of,
    require_loan_transition,
    words,
)
from sampleloans.models import (
    Agreement,
    Consumption,
    EventSubject,
    Extension,
    Incident,
    Institution,
    Inventory,
    LedgerEvent,
    Loan,
    LoanItem,
    Mission,
    Note,
    Person,
    Sample,
    Shipment,
    Weighing,
)
from sampleloans.units import period_delta


@dataclass
class Touched:
    """The records one event changed, so the checks can look at exactly those."""

    samples: set[str] = field(default_factory=set)
    loans: set[str] = field(default_factory=set)
    agreements: set[str] = field(default_factory=set)

    def update(self, other: "Touched") -> None:
        """Add what another event touched."""
        self.samples |= other.samples
        self.loans |= other.loans
        self.agreements |= other.agreements


Applier = Callable[[Session, Any, Any, Touched], None]
APPLIERS: dict[str, Applier] = {}
E = TypeVar("E", bound=ev.Event)


def applies(event_type: type[E]) -> Callable[[Applier], Applier]:
    """Register the projection function of one event kind."""

    def register(function: Applier) -> Applier:
        APPLIERS[event_type.kind] = function
        return function

    return register


def apply(session: Session, envelope: Any, event: ev.Event) -> Touched:
    """Update the projections for one event; return what it touched."""
    touched = Touched()
    session.info["event_subjects"] = {}
    APPLIERS[event.kind](session, envelope, event, touched)
    subjects = list(session.info.pop("event_subjects").values())
    if subjects:  # one executemany instead of an ORM object per subject
        session.execute(insert(EventSubject.__table__), subjects)  # type: ignore[attr-defined]
    return touched


# --- helpers ------------------------------------------------------------------------------------


def _insert(session: Any, model: type[SQLModel], **values: Any) -> None:
    """Add a new projection row (a bulk `BatchSession` takes the values without a model object)."""
    insert_row = getattr(session, "insert_row", None)
    if insert_row is not None:
        insert_row(model, values)
    else:
        session.add(model(**values))


def _subject(session: Session, seq: int, subject_type: str, key: str) -> None:
    """Index the event under one record (idempotent within the event)."""
    # collected per event in session.info and inserted once by `apply`
    seen: dict[tuple[int, str, str], dict[str, Any]] = session.info.setdefault("event_subjects", {})
    seen.setdefault(
        (seq, subject_type, key), {"seq": seq, "subject_type": subject_type, "subject_key": key}
    )


def _in_order(previous: datetime, envelope: Any, what: str) -> None:
    """Refuse an event dated before the previous event of the same record (a rule: exit 1)."""
    if envelope.occurred_at < previous:
        raise RuleViolation(
            f"time: {envelope.occurred_at.isoformat().replace('+00:00', 'Z')} is before the "
            f"previous event of {what} ({previous.isoformat().replace('+00:00', 'Z')}); "
            "events of a record are kept in time order"
        )


def _sample(session: Session, envelope: Any, code: str, touched: Touched) -> Sample:
    """Load a sample, check time order, mark it as touched and index the event under it."""
    sample = session.get(Sample, code)
    if sample is None:
        raise NotFound(f"sample {code} is not registered; check the code with 'samples list'")
    _in_order(sample.last_event_at, envelope, f"sample {code}")
    sample.last_event_at = envelope.occurred_at
    touched.samples.add(code)
    _subject(session, envelope.seq, "sample", code)
    session.add(sample)
    return sample


def _loan(
    session: Session, envelope: Any, number: str, touched: Touched, *, whole: bool = True
) -> Loan:
    """Load a loan, check time order, mark it as touched and index the event under it.

    An event about the whole loan (`whole`: approve, issue, the outbound shipment and its
    receipt, extend, recall, inventory, settle, close) must follow every earlier event of the
    loan. An event about some of its samples (consumption, a borrower's split, a return, an
    incident) is ordered per sample by `_sample`, and here only after the last whole-loan event:
    entering sample A's analysis of June 1 after sample B's split of June 15 is fine.
    """
    loan = session.get(Loan, number)
    if loan is None:
        raise NotFound(f"loan {number} does not exist; see 'loans list'")
    if whole:
        _in_order(loan.last_event_at, envelope, f"loan {number}")
        loan.last_loan_wide_event_at = envelope.occurred_at
    else:
        _in_order(loan.last_loan_wide_event_at, envelope, f"loan {number} as a whole")
    loan.last_event_at = max(loan.last_event_at, envelope.occurred_at)
    touched.loans.add(number)
    touched.agreements.add(loan.agreement)
    for subject_type, key in (
        ("loan", number),
        ("institution", loan.institution),
        ("agreement", loan.agreement),
        ("person", loan.pi_email),
    ):
        _subject(session, envelope.seq, subject_type, key)
    session.add(loan)
    return loan


def _follow_items(session: Session, loan: Loan) -> None:
    """Set a received loan's status from its items (see `checks.loan_status_of`); the query
    sees this event's item changes (the session autoflushes; a batch writes before it reads)."""
    loan.status = loan_status_of(_items(session, loan.number), loan.status)


def shipment_samples(session: Session, shipment_seq: int) -> list[str]:
    """The sample codes a shipment carried, as its event recorded them."""
    row = session.get(LedgerEvent, shipment_seq)
    if row is None or row.kind != ev.LoanShipped.kind:
        raise NotFound(f"event {shipment_seq} is not a shipment")
    return sorted(json.loads(row.payload)["samples"])


def _item(session: Session, number: str, code: str) -> LoanItem:
    """One item of a loan."""
    item = session.get(LoanItem, (number, code))
    if item is None:
        raise NotFound(f"sample {code} is not part of loan {number}")
    return item


def _items(session: Session, number: str) -> list[LoanItem]:
    """Every item of a loan, in sample-code order."""
    query = select(LoanItem).where(LoanItem.loan_number == number).order_by(LoanItem.sample_code)
    return list(session.exec(query).all())


def _agreement(session: Session, number: str) -> Agreement:
    """Load an agreement or say which is missing."""
    agreement = session.get(Agreement, number)
    if agreement is None:
        raise NotFound(f"agreement {number} does not exist; see 'agreements list'")
    return agreement


# --- reference records --------------------------------------------------------------------------


@applies(ev.LedgerCreated)
def _ledger_created(session: Session, envelope: Any, event: ev.LedgerCreated, _t: Touched) -> None:
    """Nothing to project: the ledger's identity lives in ledger_meta."""
    if envelope.seq != 1:
        raise Conflict("ledger.created must be the first event")


@applies(ev.MissionAdded)
def _mission(session: Session, envelope: Any, event: ev.MissionAdded, _t: Touched) -> None:
    """Add a mission."""
    from sampleloans.dates import from_iso

    if session.get(Mission, event.code) is not None:
        raise Conflict(f"mission {event.code} already exists")
    returned_at = from_iso(event.returned_at) if event.returned_at else None
    _insert(
        session,
        Mission,
        code=event.code,
        name=event.name,
        returned_at=returned_at,
        returned_mass_ug=event.returned_mass_ug,
    )


@applies(ev.InstitutionAdded)
def _institution(session: Session, envelope: Any, event: ev.InstitutionAdded, _t: Touched) -> None:
    """Add an institution."""
    if session.get(Institution, event.short_name) is not None:
        raise Conflict(f"institution {event.short_name} already exists")
    _insert(
        session,
        Institution,
        short_name=event.short_name,
        name=event.name,
        country=event.country,
        city=event.city,
        kind=event.institution_kind,
    )
    _subject(session, envelope.seq, "institution", event.short_name)


@applies(ev.PersonAdded)
def _person(session: Session, envelope: Any, event: ev.PersonAdded, _t: Touched) -> None:
    """Add a person."""
    if session.get(Person, event.email) is not None:
        raise Conflict(f"person {event.email} already exists")
    _insert(
        session,
        Person,
        email=event.email,
        name=event.name,
        institution=event.institution,
        role=event.role,
    )
    _subject(session, envelope.seq, "person", event.email)
    _subject(session, envelope.seq, "institution", event.institution)


def _known_person(session: Session, envelope: Any, email: str) -> Person:
    """A registered person, with the event indexed under them and their institution."""
    person = session.get(Person, email)
    if person is None:
        raise NotFound(f"person {email} does not exist; see 'people list'")
    _subject(session, envelope.seq, "person", person.email)
    _subject(session, envelope.seq, "institution", person.institution)
    return person


@applies(ev.PersonDeactivated)
def _person_deactivated(
    session: Session, envelope: Any, event: ev.PersonDeactivated, _t: Touched
) -> None:
    """The person may no longer act; the row stays, marked inactive."""
    person = _known_person(session, envelope, event.email)
    if not person.active:
        raise Conflict(f"person {person.email} is already deactivated")
    person.active = False
    session.add(person)


@applies(ev.PersonReactivated)
def _person_reactivated(
    session: Session, envelope: Any, event: ev.PersonReactivated, _t: Touched
) -> None:
    """A deactivated person may act again."""
    person = _known_person(session, envelope, event.email)
    if person.active:
        raise Conflict(f"person {person.email} is active; only a deactivated person is reactivated")
    person.active = True
    session.add(person)


@applies(ev.PersonRoleChanged)
def _person_role_changed(
    session: Session, envelope: Any, event: ev.PersonRoleChanged, _t: Touched
) -> None:
    """The role changes; the event names the role it replaces, which must be the current one."""
    person = _known_person(session, envelope, event.email)
    if person.role != event.previous_role:
        raise Conflict(
            f"person {person.email} is a {person.role.replace('_', ' ')}, not a "
            f"{event.previous_role.replace('_', ' ')} as the role change says"
        )
    person.role = event.role
    session.add(person)


# --- samples ------------------------------------------------------------------------------------


@applies(ev.SampleRegistered)
def _registered(session: Session, envelope: Any, event: ev.SampleRegistered, t: Touched) -> None:
    """A new sample in the vault."""
    if session.get(Sample, event.code) is not None:
        raise Conflict(f"sample {event.code} is already registered; codes are unique")
    _insert(
        session,
        Sample,
        code=event.code,
        mission=event.mission,
        origin=event.origin,
        depth_top_mm=event.depth_top_mm,
        depth_bottom_mm=event.depth_bottom_mm,
        material_type=event.material_type,
        physical_form=event.physical_form,
        purpose_class=event.purpose_class,
        storage_location=event.storage_location,
        condition=event.condition,
        record=event.record,
        initial_mass_ug=event.mass_ug,
        vault_ug=event.mass_ug,
        custodian=event.custodian,
        registered_at=envelope.occurred_at,
        last_event_at=envelope.occurred_at,
    )
    session.flush()
    t.samples.add(event.code)
    _subject(session, envelope.seq, "sample", event.code)
    _subject(session, envelope.seq, "institution", event.custodian)


def _child_of(parent: Sample, code: str, mass_ug: int, envelope: Any) -> dict[str, Any]:
    """The fields of a split: it inherits everything descriptive from its parent."""
    return dict(
        code=code,
        mission=parent.mission,
        parent_code=parent.code,
        origin=parent.origin,
        depth_top_mm=parent.depth_top_mm,
        depth_bottom_mm=parent.depth_bottom_mm,
        material_type=parent.material_type,
        physical_form=parent.physical_form,
        purpose_class=parent.purpose_class,
        storage_location=parent.storage_location,
        condition=parent.condition,
        record=parent.record,
        initial_mass_ug=mass_ug,
        custodian=parent.custodian,
        registered_at=envelope.occurred_at,
        last_event_at=envelope.occurred_at,
    )


@applies(ev.SampleSplit)
def _split(session: Session, envelope: Any, event: ev.SampleSplit, t: Touched) -> None:
    """Children leave the parent's vault mass; processing loss is recorded as lost."""
    parent = _sample(session, envelope, event.parent, t)
    if parent.custody_state != "vault":
        raise Conflict(f"sample {parent.code} is not in the vault; it cannot be split")
    total_ug = sum(int(mass) for _code, mass in event.children) + event.loss_ug
    if total_ug > parent.vault_ug:
        raise Conflict(f"split of {parent.code} needs more mass than is in the vault")
    parent.vault_ug -= total_ug
    parent.split_ug += total_ug - event.loss_ug
    parent.lost_ug += event.loss_ug
    for code, mass in event.children:
        if session.get(Sample, code) is not None:
            raise Conflict(f"sample {code} is already registered; codes are unique")
        _insert(session, Sample, **_child_of(parent, code, int(mass), envelope), vault_ug=int(mass))
        session.flush()
        t.samples.add(code)
        _subject(session, envelope.seq, "sample", code)


@applies(ev.SampleMoved)
def _moved(session: Session, envelope: Any, event: ev.SampleMoved, t: Touched) -> None:
    """A new storage location."""
    sample = _sample(session, envelope, event.code, t)
    sample.storage_location = event.storage_location


@applies(ev.SampleTransferred)
def _transferred(session: Session, envelope: Any, event: ev.SampleTransferred, t: Touched) -> None:
    """Whole samples leave the vault for good: custody and ownership pass to the recipient."""
    recipient = session.get(Institution, event.recipient)
    if recipient is None or recipient.kind != "recipient":
        raise Conflict(f"institution {event.recipient} is not a recipient of transfers")
    _subject(session, envelope.seq, "institution", event.recipient)
    for code, mass in event.items:
        sample = _sample(session, envelope, code, t)
        _require_transferable(sample, int(mass))
        sample.vault_ug = 0
        sample.transferred_ug += int(mass)
        sample.custody_state = "transferred"
        sample.custodian = recipient.short_name


def _require_transferable(sample: Sample, mass_ug: int) -> None:
    """A transfer takes a whole, unfrozen, lendable sample from the vault (replay's wall)."""
    if sample.custody_state != "vault" or sample.vault_ug != mass_ug or mass_ug <= 0:
        raise Conflict(f"sample {sample.code} is not whole in the vault; it cannot be transferred")
    if sample.frozen:
        raise Conflict(f"sample {sample.code} is frozen by an open incident")
    if sample.purpose_class in NEVER_LENT:
        raise Conflict(f"sample {sample.code} is {sample.purpose_class} storage; never given away")


# --- agreements ---------------------------------------------------------------------------------


@applies(ev.AgreementCreated)
def _agreement_created(
    session: Session, envelope: Any, event: ev.AgreementCreated, t: Touched
) -> None:
    """A pending agreement with its terms."""
    if session.get(Agreement, event.number) is not None:
        raise Conflict(f"agreement {event.number} already exists")
    _insert(
        session,
        Agreement,
        number=event.number,
        institution=event.institution,
        created_at=envelope.occurred_at,
        term=event.term,
        max_total_mass_ug=event.max_total_mass_ug,
        allowed_purposes=",".join(sorted(event.allowed_purposes)),
        destructive_use_allowed=event.destructive_use_allowed,
        onward_transfer_allowed=event.onward_transfer_allowed,
        max_loan_period=event.max_loan_period,
        max_extensions=event.max_extensions,
        max_extension_period=event.max_extension_period,
        inventory_interval=event.inventory_interval,
    )
    _subject(session, envelope.seq, "agreement", event.number)
    _subject(session, envelope.seq, "institution", event.institution)


@applies(ev.AgreementSigned)
def _agreement_signed(
    session: Session, envelope: Any, event: ev.AgreementSigned, t: Touched
) -> None:
    """Signed: in force from now for its term."""
    agreement = _agreement(session, event.number)
    if agreement.status != "pending":
        raise Conflict(
            f"agreement {agreement.number} is {agreement.status}; only pending ones can be signed"
        )
    agreement.status = "signed"
    agreement.signed_at = envelope.occurred_at
    agreement.signed_by = event.signed_by
    agreement.expires_at = envelope.occurred_at + period_delta(agreement.term)
    session.add(agreement)
    _subject(session, envelope.seq, "agreement", agreement.number)
    _subject(session, envelope.seq, "institution", agreement.institution)


@applies(ev.AgreementEnded)
def _agreement_ended(session: Session, envelope: Any, event: ev.AgreementEnded, t: Touched) -> None:
    """Expired or terminated: no more issues under it."""
    agreement = _agreement(session, event.number)
    if agreement.status not in ("pending", "signed"):
        raise Conflict(f"agreement {agreement.number} has already ended ({agreement.status})")
    if event.status not in ("expired", "terminated"):
        raise InvalidInput(f"status: {event.status!r} is not expired or terminated")
    agreement.status = event.status
    agreement.ended_at = envelope.occurred_at
    agreement.end_reason = envelope.reason
    session.add(agreement)
    _subject(session, envelope.seq, "agreement", agreement.number)
    _subject(session, envelope.seq, "institution", agreement.institution)


# --- loans --------------------------------------------------------------------------------------


@applies(ev.LoanRequested)
def _requested(session: Session, envelope: Any, event: ev.LoanRequested, t: Touched) -> None:
    """A requested loan with its items (no mass yet)."""
    if session.get(Loan, event.number) is not None:
        raise Conflict(f"loan {event.number} already exists; loan numbers are unique")
    agreement = _agreement(session, event.agreement)
    _insert(
        session,
        Loan,
        number=event.number,
        agreement=event.agreement,
        institution=agreement.institution,
        pi_email=event.pi,
        purpose_class=event.purpose_class,
        transfer_type=event.transfer_type,
        loan_period=event.loan_period,
        requested_at=envelope.occurred_at,
        last_event_at=envelope.occurred_at,
        last_loan_wide_event_at=envelope.occurred_at,
    )
    session.flush()
    _loan(session, envelope, event.number, t)
    for code in event.samples:
        _sample(session, envelope, code, t)
        _insert(session, LoanItem, loan_number=event.number, sample_code=code)


@applies(ev.LoanApproved)
def _approved(session: Session, envelope: Any, event: ev.LoanApproved, t: Touched) -> None:
    """Approved by the acting curator."""
    loan = _loan(session, envelope, event.number, t)
    require_loan_transition(loan, "approve")
    loan.status = "approved"
    loan.approved_at = envelope.occurred_at
    loan.approved_by = envelope.actor


@applies(ev.LoanIssued)
def _issued(session: Session, envelope: Any, event: ev.LoanIssued, t: Touched) -> None:
    """Whole samples leave the vault; the due date and first inventory are set."""
    loan = _loan(session, envelope, event.number, t)
    require_loan_transition(loan, "issue")
    agreement = _agreement(session, loan.agreement)
    for code, mass in event.items:
        sample = _sample(session, envelope, code, t)
        item = _item(session, loan.number, code)
        if sample.custody_state != "vault" or sample.vault_ug != int(mass):
            raise Conflict(f"sample {code} is not whole in the vault; it cannot be issued")
        sample.vault_ug = 0
        sample.on_loan_ug = int(mass)
        sample.custody_state = "issued"
        sample.loan_number = loan.number
        loan.curator = sample.custodian
        item.issued_ug = item.held_ug = int(mass)
        item.state = "issued"
        session.add(item)
    loan.status = "issued"
    loan.issued_at = envelope.occurred_at
    loan.due_at = envelope.occurred_at + period_delta(loan.loan_period)
    loan.next_inventory_due_at = envelope.occurred_at + period_delta(agreement.inventory_interval)


@applies(ev.LoanShipped)
def _shipped(session: Session, envelope: Any, event: ev.LoanShipped, t: Touched) -> None:
    """A sealed container leaves the sender; its samples are in transit.

    The outbound shipment carries the whole loan; a return carries the samples it names, so
    several returns of one loan may travel at once while the borrower keeps the rest.
    """
    outbound = event.direction == "outbound"
    loan = _loan(session, envelope, event.number, t, whole=outbound)
    require_loan_transition(loan, "ship" if outbound else "ship_return")
    expected_state = "issued" if outbound else "held"
    for code in event.samples:
        sample = _sample(session, envelope, code, t)
        item = _item(session, loan.number, code)
        if item.state != expected_state:
            raise Conflict(
                f"sample {code} of loan {loan.number} is {words(item.state)}, "
                f"not {words(expected_state)}"
            )
        item.state = sample.custody_state = "in_transit" if outbound else "return_in_transit"
        session.add(item)
    assert loan.curator is not None
    _insert(
        session,
        Shipment,
        seq=envelope.seq,
        loan_number=loan.number,
        direction=event.direction,
        container=event.container,
        seal_number=event.seal_number,
        method=event.method,
        sender=loan.curator if outbound else loan.institution,
        receiver=loan.institution if outbound else loan.curator,
        released_by=envelope.actor,
        shipped_at=envelope.occurred_at,
    )
    if outbound:
        loan.status = "in_transit"
    else:
        _follow_items(session, loan)


@applies(ev.LoanReceived)
def _received(session: Session, envelope: Any, event: ev.LoanReceived, t: Touched) -> None:
    """The container arrives; the receiver becomes custodian. A return puts mass back."""
    shipment = session.get(Shipment, event.shipment_seq)
    if shipment is None or shipment.loan_number != event.number or shipment.received_at:
        raise Conflict(f"loan {event.number} has no open shipment {event.shipment_seq}")
    outbound = shipment.direction == "outbound"
    loan = _loan(session, envelope, event.number, t, whole=outbound)
    require_loan_transition(loan, "receive" if outbound else "accept_return")
    carried = shipment_samples(session, shipment.seq)
    if sorted(str(code) for code, _mass in event.weighed) != carried:
        raise Conflict(
            f"the receipt of shipment {shipment.seq} of loan {loan.number} must weigh exactly "
            f"the samples it carried ({', '.join(carried)})"
        )
    shipment.received_at = envelope.occurred_at
    shipment.received_by = envelope.actor
    shipment.seal_intact = event.seal_intact
    shipment.condition_on_receipt = event.condition
    session.add(shipment)
    expected_state = "in_transit" if outbound else "return_in_transit"
    for code, weighed in event.weighed:
        sample = _sample(session, envelope, code, t)
        item = _item(session, loan.number, code)
        if item.state != expected_state:
            raise Conflict(
                f"sample {code} of loan {loan.number} is {words(item.state)}, "
                f"not {words(expected_state)}"
            )
        _insert(
            session,
            Weighing,
            seq=envelope.seq,
            sample_code=code,
            loan_number=loan.number,
            expected_ug=item.held_ug,
            weighed_ug=int(weighed),
        )
        sample.condition = event.condition
        if outbound:
            item.state = sample.custody_state = "held"
            sample.custodian = shipment.receiver
        else:
            _return_to_vault(sample, item, shipment.receiver)
        session.add(item)
    _follow_items(session, loan)


def _return_to_vault(sample: Sample, item: LoanItem, curator: str) -> None:
    """The returned mass goes back into the vault and the loan item is done."""
    sample.vault_ug += item.held_ug
    sample.on_loan_ug -= item.held_ug
    item.returned_ug += item.held_ug
    item.held_ug = 0
    item.state = "returned"
    sample.custody_state = "vault"
    sample.custodian = curator
    sample.loan_number = None


def _use_up(sample: Sample, item: LoanItem, mass_ug: int, column: str) -> None:
    """Move mass held by the borrower into a terminal column (consumed, split or lost)."""
    if mass_ug > item.held_ug:
        raise Conflict(f"sample {sample.code} holds less than that on loan {item.loan_number}")
    item.held_ug -= mass_ug
    setattr(item, f"{column}_ug", getattr(item, f"{column}_ug") + mass_ug)
    sample.on_loan_ug -= mass_ug
    if item.held_ug == 0 and item.state == "held":
        item.state = sample.custody_state = {"consumed": "consumed", "lost": "lost"}.get(
            column, "split"
        )


@applies(ev.LoanConsumed)
def _consumed(session: Session, envelope: Any, event: ev.LoanConsumed, t: Touched) -> None:
    """Mass used up by one analysis."""
    loan = _loan(session, envelope, event.number, t, whole=False)
    require_loan_transition(loan, "consume")
    sample = _sample(session, envelope, event.sample, t)
    item = _item(session, loan.number, event.sample)
    _use_up(sample, item, event.mass_ug, "consumed")
    sample.consumed_ug += event.mass_ug
    session.add(item)
    _follow_items(session, loan)
    _insert(
        session,
        Consumption,
        seq=envelope.seq,
        loan_number=loan.number,
        sample_code=event.sample,
        technique=event.technique,
        destructive=event.destructive,
        mass_ug=event.mass_ug,
        occurred_at=envelope.occurred_at,
    )


@applies(ev.LoanSplit)
def _loan_split(session: Session, envelope: Any, event: ev.LoanSplit, t: Touched) -> None:
    """The borrower's split becomes a sample of its own, held on the same loan."""
    loan = _loan(session, envelope, event.number, t, whole=False)
    require_loan_transition(loan, "split")
    parent = _sample(session, envelope, event.parent, t)
    item = _item(session, loan.number, event.parent)
    if session.get(Sample, event.child) is not None:
        raise Conflict(f"sample {event.child} is already registered; codes are unique")
    _use_up(parent, item, event.mass_ug, "split")
    parent.split_ug += event.mass_ug
    session.add(item)
    child = _child_of(parent, event.child, event.mass_ug, envelope)
    child.update(
        on_loan_ug=event.mass_ug,
        custody_state="held",
        custodian=loan.institution,
        loan_number=loan.number,
    )
    _insert(session, Sample, **child)
    session.flush()
    t.samples.add(event.child)
    _subject(session, envelope.seq, "sample", event.child)
    _insert(
        session,
        LoanItem,
        loan_number=loan.number,
        sample_code=event.child,
        source="borrower_split",
        issued_ug=event.mass_ug,
        held_ug=event.mass_ug,
        state="held",
    )


@applies(ev.LoanExtended)
def _extended(session: Session, envelope: Any, event: ev.LoanExtended, t: Touched) -> None:
    """The due date moves by the granted period."""
    loan = _loan(session, envelope, event.number, t)
    require_loan_transition(loan, "extend")
    assert loan.due_at is not None
    loan.due_at = loan.due_at + period_delta(event.period)
    loan.extensions_granted += 1
    _insert(
        session,
        Extension,
        seq=envelope.seq,
        loan_number=loan.number,
        period=event.period,
        approver=event.approver,
        reason=envelope.reason or "",
        new_due_at=loan.due_at,
    )


@applies(ev.LoanRecalled)
def _recalled(session: Session, envelope: Any, event: ev.LoanRecalled, t: Touched) -> None:
    """A recall brings the due date forward (never later than it was)."""
    from sampleloans.dates import from_iso

    loan = _loan(session, envelope, event.number, t)
    require_loan_transition(loan, "recall")
    assert loan.due_at is not None
    loan.due_at = min(loan.due_at, from_iso(event.due_at))
    loan.recalled_at = envelope.occurred_at


@applies(ev.InventoryAttested)
def _inventory(session: Session, envelope: Any, event: ev.InventoryAttested, t: Touched) -> None:
    """An attestation; the next one falls due an interval later."""
    loan = _loan(session, envelope, event.number, t)
    require_loan_transition(loan, "inventory")
    agreement = _agreement(session, loan.agreement)
    loan.last_inventory_at = envelope.occurred_at
    loan.next_inventory_due_at = envelope.occurred_at + period_delta(agreement.inventory_interval)
    _insert(
        session,
        Inventory,
        seq=envelope.seq,
        loan_number=loan.number,
        attested_by=envelope.actor,
        attested_at=envelope.occurred_at,
        held_ug=sum(int(mass) for _code, mass in event.held),
        note=event.note,
    )


@applies(ev.LoanSettled)
def _settled(session: Session, envelope: Any, event: ev.LoanSettled, t: Touched) -> None:
    """Every microgram accounted for; obligations recorded."""
    loan = _loan(session, envelope, event.number, t)
    require_loan_transition(loan, "settle")
    loan.status = "settled"
    loan.settled_at = envelope.occurred_at
    loan.obligations = event.obligations


@applies(ev.LoanClosed)
def _closed(session: Session, envelope: Any, event: ev.LoanClosed, t: Touched) -> None:
    """Closed for good."""
    loan = _loan(session, envelope, event.number, t)
    require_loan_transition(loan, "close")
    loan.status = "closed"
    loan.closed_at = envelope.occurred_at


# --- incidents and corrections ----------------------------------------------------------------


@applies(ev.IncidentReported)
def _incident(session: Session, envelope: Any, event: ev.IncidentReported, t: Touched) -> None:
    """Freeze the sample; write lost mass off where it is (on loan or in the vault)."""
    sample = _sample(session, envelope, event.sample, t)
    loan = None if event.loan is None else _loan(session, envelope, event.loan, t, whole=False)
    if event.mass_lost_ug:
        if loan is not None:
            item = _item(session, loan.number, event.sample)
            _use_up(sample, item, event.mass_lost_ug, "lost")
            session.add(item)
            _follow_items(session, loan)
        else:
            if event.mass_lost_ug > sample.vault_ug:
                raise Conflict(f"sample {sample.code} has less than that in the vault")
            sample.vault_ug -= event.mass_lost_ug
        sample.lost_ug += event.mass_lost_ug
    sample.frozen = True
    _insert(
        session,
        Incident,
        seq=envelope.seq,
        sample_code=sample.code,
        loan_number=event.loan,
        kind=event.incident_kind,
        description=event.description,
        mass_lost_ug=event.mass_lost_ug,
        reported_at=envelope.occurred_at,
        reported_by=envelope.actor,
    )


@applies(ev.IncidentResolved)
def _resolved(session: Session, envelope: Any, event: ev.IncidentResolved, t: Touched) -> None:
    """Resolve; the sample thaws when no other incident on it is open."""
    incident = session.get(Incident, event.incident_seq)
    if incident is None:
        raise NotFound(f"incident {event.incident_seq} does not exist; see 'incidents list'")
    if incident.status != "open":
        raise Conflict(f"incident {incident.seq} is already resolved")
    sample = _sample(session, envelope, incident.sample_code, t)
    if incident.loan_number:
        _loan(session, envelope, incident.loan_number, t, whole=False)
    incident.status = "resolved"
    incident.resolved_at = envelope.occurred_at
    incident.resolution = event.resolution
    session.add(incident)
    session.flush()
    open_left = session.exec(
        select(Incident).where(Incident.sample_code == sample.code, Incident.status == "open")
    ).first()
    sample.frozen = open_left is not None


@applies(ev.Correction)
def _corrected(session: Session, envelope: Any, event: ev.Correction, t: Touched) -> None:
    """A note on an earlier event, filed under the same records as that event."""
    if envelope.corrects_seq is None or session.get(LedgerEvent, envelope.corrects_seq) is None:
        raise NotFound(f"event {envelope.corrects_seq} does not exist; see 'custody history'")
    if envelope.corrects_seq >= envelope.seq:
        raise InvalidInput("a correction can only reference an earlier event")
    _insert(session, Note, seq=envelope.seq, corrects_seq=envelope.corrects_seq, text=event.text)
    subjects = session.exec(
        select(EventSubject).where(EventSubject.seq == envelope.corrects_seq)
    ).all()
    for subject in subjects:
        _subject(session, envelope.seq, subject.subject_type, subject.subject_key)


# --- mass corrections ---------------------------------------------------------------------------

MASS_WHAT: dict[str, str] = {
    ev.LoanConsumed.kind: "consumption",
    ev.LoanReceived.kind: "weighing",
    ev.SampleRegistered.kind: "registration",
    ev.SampleSplit.kind: "split",
    ev.LoanSplit.kind: "split",
    ev.IncidentReported.kind: "loss",
}
"""The event kinds that record a mass a correction may supersede, and what that mass is."""

MAY_BE_ZERO = ("weighing", "loss")
"""The corrected masses that may be 0 µg (an empty weighing, an incident that lost nothing)."""

_LEFT_BORROWER = {"consumed": "consumed", "lost": "lost", "split": "split"}
"""An item whose held mass reaches 0 ends in the state named after where the mass went."""


def mass_samples(kind: str, payload: dict[str, Any]) -> list[str]:
    """The samples whose mass an event of `kind` recorded (a mass correction names one)."""
    if kind == ev.LoanConsumed.kind:
        return [str(payload["sample"])]
    if kind == ev.LoanReceived.kind:
        return sorted(str(code) for code, _mass in payload["weighed"])
    if kind == ev.SampleRegistered.kind:
        return [str(payload["code"])]
    if kind == ev.SampleSplit.kind:
        return sorted(str(code) for code, _mass in payload["children"])
    if kind == ev.LoanSplit.kind:
        return [str(payload["child"])]
    if kind == ev.IncidentReported.kind:
        return [str(payload["sample"])]
    return []


def recorded_mass_ug(session: Session, kind: str, seq: int, code: str) -> int:
    """The mass in force for one sample of a mass-bearing event: as recorded or last corrected.

    The projections hold it (a correction updates them), so no history has to be read.
    """
    if kind == ev.LoanConsumed.kind:
        consumption = session.get(Consumption, seq)
        assert consumption is not None
        return int(consumption.mass_ug)
    if kind == ev.LoanReceived.kind:
        weighing = session.get(Weighing, (seq, code))
        assert weighing is not None
        return int(weighing.weighed_ug)
    if kind == ev.IncidentReported.kind:
        incident = session.get(Incident, seq)
        assert incident is not None
        return int(incident.mass_lost_ug)
    sample = session.get(Sample, code)
    assert sample is not None
    return int(sample.initial_mass_ug)


def mass_correction_text(what: str, code: str, old_ug: int, new_ug: int, reason: str) -> str:
    """The note a mass correction files beside the event it corrects."""
    from sampleloans.units import format_mass

    return f"{what} of {code} corrected: {format_mass(old_ug)} → {format_mass(new_ug)}; {reason}"


def _corrected_row(session: Session, envelope: Any) -> LedgerEvent:
    """The earlier event a correction names."""
    if envelope.corrects_seq is None:
        raise InvalidInput("corrects_seq: a mass correction names the event it corrects")
    row = session.get(LedgerEvent, envelope.corrects_seq)
    if row is None:
        raise NotFound(f"event {envelope.corrects_seq} does not exist; see 'custody history'")
    if envelope.corrects_seq >= envelope.seq:
        raise InvalidInput("a correction can only reference an earlier event")
    return row


_TAKES_MASS = (ev.SampleSplit.kind, ev.LoanIssued.kind)
"""Events that take a sample's vault mass as it stands: its mass is fixed from then on."""


def _later_kinds(session: Session, code: str, after_seq: int) -> set[str]:
    """The kinds of the events about a sample after a given event (an index range scan)."""
    query = (
        select(LedgerEvent.kind)
        .join(EventSubject, EventSubject.seq == LedgerEvent.seq)  # type: ignore[arg-type]
        .where(
            EventSubject.subject_type == "sample",
            EventSubject.subject_key == code,
            EventSubject.seq > after_seq,  # type: ignore[operator]
        )
    )
    return set(session.exec(query).all())


def _fixed_since(session: Session, code: str, after_seq: int, kinds: tuple[str, ...]) -> None:
    """Refuse to change a sample's own mass once something has taken it as it was."""
    later = _later_kinds(session, code, after_seq) & set(kinds)
    if later:
        done = "lent" if ev.LoanIssued.kind in later else "split"
        raise RuleViolation(
            f"mass: sample {code} was {done} after event {after_seq}, with the mass recorded "
            "then; its recorded mass can no longer change"
        )


def _with_borrower(loan: Loan, item: LoanItem) -> None:
    """A loan item's mass can move only while the borrower still has the sample."""
    if loan.status in ("settled", "closed"):
        raise RuleViolation(
            f"mass: loan {loan.number} is {words(loan.status)}; its balance is final"
        )
    if item.state not in ("held", "return_in_transit", *_LEFT_BORROWER):
        raise RuleViolation(
            f"mass: sample {item.sample_code} is {words(item.state)} on loan {loan.number}; "
            "its mass on the loan can be corrected only while the borrower has it"
        )


def _item_state(sample: Sample, item: LoanItem, column: str) -> None:
    """An item's custody state after its held mass changed: used up at 0, held again above."""
    if item.held_ug == 0 and item.state == "held":
        item.state = sample.custody_state = _LEFT_BORROWER[column]
    elif item.held_ug > 0 and item.state in _LEFT_BORROWER:
        item.state = sample.custody_state = "held"


def _move_held(sample: Sample, item: LoanItem, delta_ug: int, column: str) -> None:
    """Move `delta_ug` of what the borrower holds into `column` (back to held when negative).

    Held mass only ever decreases after an item is issued, so what it holds now is the least
    it held at any point since: if that covers the change, every earlier moment does too.
    """
    from sampleloans.units import format_mass

    travelling = item.state == "return_in_transit"
    if delta_ug > item.held_ug or (travelling and delta_ug == item.held_ug):
        raise RuleViolation(
            f"mass: sample {sample.code} holds {format_mass(item.held_ug)} on loan "
            f"{item.loan_number} now; the correction would take {format_mass(delta_ug)} from it"
            + (" and leave its return shipment empty" if travelling else "")
        )
    item.held_ug -= delta_ug
    setattr(item, f"{column}_ug", getattr(item, f"{column}_ug") + delta_ug)
    sample.on_loan_ug -= delta_ug
    _item_state(sample, item, column)


def _correct_consumption(
    session: Session, envelope: Any, event: ev.MassCorrected, p: dict[str, Any], t: Touched
) -> None:
    """A consumption's mass moves between what was consumed and what the borrower holds."""
    loan = _loan(session, envelope, p["number"], t, whole=False)
    sample = _sample(session, envelope, event.sample, t)
    item = _item(session, loan.number, event.sample)
    _with_borrower(loan, item)
    delta_ug = event.new_mass_ug - event.old_mass_ug
    _move_held(sample, item, delta_ug, "consumed")
    sample.consumed_ug += delta_ug
    session.add(item)
    consumption = session.get(Consumption, envelope.corrects_seq)
    assert consumption is not None
    consumption.mass_ug = event.new_mass_ug
    session.add(consumption)
    _follow_items(session, loan)


def _correct_weighing(
    session: Session, envelope: Any, event: ev.MassCorrected, p: dict[str, Any], t: Touched
) -> None:
    """A weighing at a receipt is a record beside the balance; a return's must be exact."""
    from sampleloans.units import format_mass

    shipment = session.get(Shipment, p["shipment_seq"])
    assert shipment is not None
    _loan(session, envelope, p["number"], t, whole=False)
    _sample(session, envelope, event.sample, t)
    weighing = session.get(Weighing, (envelope.corrects_seq, event.sample))
    assert weighing is not None
    if shipment.direction == "return" and event.new_mass_ug != weighing.expected_ug:
        raise RuleViolation(
            f"mass: a returned sample weighs exactly what was accountable; {event.sample} "
            f"came back with {format_mass(weighing.expected_ug)} accountable"
        )
    weighing.weighed_ug = event.new_mass_ug
    session.add(weighing)


def _correct_registration(
    session: Session, envelope: Any, event: ev.MassCorrected, p: dict[str, Any], t: Touched
) -> None:
    """A registered mass changes the sample's initial and vault mass, before any split or loan."""
    sample = _sample(session, envelope, event.sample, t)
    _fixed_since(session, sample.code, envelope.corrects_seq, _TAKES_MASS)
    _vault_change(sample, event.new_mass_ug - event.old_mass_ug)
    sample.initial_mass_ug += event.new_mass_ug - event.old_mass_ug


def _vault_change(sample: Sample, delta_ug: int) -> None:
    """Add to (or take from) a sample's vault mass, which never goes below 0."""
    from sampleloans.units import format_mass

    if sample.vault_ug + delta_ug < 0:
        raise RuleViolation(
            f"mass: sample {sample.code} has {format_mass(sample.vault_ug)} in the vault now; "
            f"the correction would take {format_mass(-delta_ug)} from it"
        )
    sample.vault_ug += delta_ug


def _correct_vault_split(
    session: Session, envelope: Any, event: ev.MassCorrected, p: dict[str, Any], t: Touched
) -> None:
    """A split child's mass moves between the child and its parent's vault mass.

    Neither may have been lent since (an issue takes the vault mass as it was), nor the child
    split; the parent's vault mass only decreases otherwise, so its mass now bounds the change.
    """
    parent = _sample(session, envelope, p["parent"], t)
    child = _sample(session, envelope, event.sample, t)
    _fixed_since(session, child.code, envelope.corrects_seq, _TAKES_MASS)
    _fixed_since(session, parent.code, envelope.corrects_seq, (ev.LoanIssued.kind,))
    delta_ug = event.new_mass_ug - event.old_mass_ug
    _vault_change(parent, -delta_ug)
    _vault_change(child, delta_ug)
    parent.split_ug += delta_ug
    child.initial_mass_ug += delta_ug


def _correct_loan_split(
    session: Session, envelope: Any, event: ev.MassCorrected, p: dict[str, Any], t: Touched
) -> None:
    """A borrower's split child's mass moves between the child and what the parent holds."""
    from sampleloans.units import format_mass

    loan = _loan(session, envelope, p["number"], t, whole=False)
    parent = _sample(session, envelope, p["parent"], t)
    child = _sample(session, envelope, event.sample, t)
    parent_item = _item(session, loan.number, parent.code)
    child_item = _item(session, loan.number, child.code)
    _with_borrower(loan, parent_item)
    _with_borrower(loan, child_item)
    delta_ug = event.new_mass_ug - event.old_mass_ug
    if -delta_ug >= child_item.held_ug:  # the child's own later use is fixed: keep some held
        raise RuleViolation(
            f"mass: sample {child.code} holds {format_mass(child_item.held_ug)} on loan "
            f"{loan.number} now; the correction would take {format_mass(-delta_ug)} from it"
        )
    _move_held(parent, parent_item, delta_ug, "split")
    parent.split_ug += delta_ug
    child_item.issued_ug += delta_ug
    child_item.held_ug += delta_ug
    child.initial_mass_ug += delta_ug
    child.on_loan_ug += delta_ug
    _item_state(child, child_item, "consumed")
    session.add(parent_item)
    session.add(child_item)
    _follow_items(session, loan)


def _correct_loss(
    session: Session, envelope: Any, event: ev.MassCorrected, p: dict[str, Any], t: Touched
) -> None:
    """A loss's mass moves between what was lost and where it was lost from (loan or vault)."""
    sample = _sample(session, envelope, event.sample, t)
    delta_ug = event.new_mass_ug - event.old_mass_ug
    if p["loan"] is not None:
        loan = _loan(session, envelope, p["loan"], t, whole=False)
        item = _item(session, loan.number, sample.code)
        _with_borrower(loan, item)
        _move_held(sample, item, delta_ug, "lost")
        session.add(item)
        _follow_items(session, loan)
    else:  # lost in the vault: fixed once the vault mass was lent or split as it stood
        _fixed_since(session, sample.code, envelope.corrects_seq, _TAKES_MASS)
        _vault_change(sample, -delta_ug)
    sample.lost_ug += delta_ug
    incident = session.get(Incident, envelope.corrects_seq)
    assert incident is not None
    incident.mass_lost_ug = event.new_mass_ug
    session.add(incident)


_MASS_CORRECTORS_BY_KIND: dict[str, Callable[..., None]] = {
    ev.LoanConsumed.kind: _correct_consumption,
    ev.LoanReceived.kind: _correct_weighing,
    ev.SampleRegistered.kind: _correct_registration,
    ev.SampleSplit.kind: _correct_vault_split,
    ev.LoanSplit.kind: _correct_loan_split,
    ev.IncidentReported.kind: _correct_loss,
}


@applies(ev.MassCorrected)
def _mass_corrected(session: Session, envelope: Any, event: ev.MassCorrected, t: Touched) -> None:
    """A corrected mass supersedes the recorded one; the projections move by the difference.

    The corrected event stays as it was; a note beside it says old → new and why.
    """
    row = _corrected_row(session, envelope)
    payload = json.loads(row.payload)
    if MASS_WHAT.get(row.kind) != event.what:
        raise InvalidInput(f"event {row.seq} records no {event.what} mass to correct")
    if event.sample not in mass_samples(row.kind, payload):
        raise InvalidInput(f"event {row.seq} records no mass of sample {event.sample}")
    in_force_ug = recorded_mass_ug(session, row.kind, row.seq, event.sample)
    if in_force_ug != event.old_mass_ug:
        raise Conflict(
            f"event {row.seq} records {in_force_ug} µg of {event.sample} now, "
            f"not {event.old_mass_ug} µg"
        )
    least_ug = 0 if event.what in MAY_BE_ZERO else 1
    if event.new_mass_ug < least_ug or event.new_mass_ug == event.old_mass_ug:
        raise InvalidInput(
            f"mass: the corrected mass must differ from {event.old_mass_ug} µg and be at "
            f"least {least_ug} µg"
        )
    _MASS_CORRECTORS_BY_KIND[row.kind](session, envelope, event, payload, t)
    text = mass_correction_text(
        event.what, event.sample, event.old_mass_ug, event.new_mass_ug, envelope.reason or ""
    )
    _insert(session, Note, seq=envelope.seq, corrects_seq=row.seq, text=text)
    for subject in session.exec(select(EventSubject).where(EventSubject.seq == row.seq)).all():
        _subject(session, envelope.seq, subject.subject_type, subject.subject_key)
