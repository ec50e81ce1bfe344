"""`apply(store, envelope, event)`: the one code path that turns events into projections.

Every event reaches it through the unit of work (`ledger/unit.py`): `append` for a new event,
`replay` for a stored one (`verify`, "as of"). It sees the unit only through the `Projections`
port below, never a database session. It never looks at the clock: every time comes from the
envelope. It refuses (raises) on an event that cannot follow the current state, so a replay of
a tampered ledger names the event that no longer fits. It returns the records it touched.
"""

import json
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlmodel import SQLModel

from sampleloans.errors import Conflict, InvalidInput, NoSuchRecord, NotFound, RuleViolation
from sampleloans.ledger import events as ev
from sampleloans.ledger.checks import (
    NEVER_LENT,
    loan_status_of,
    require_loan_transition,
)
from sampleloans.ledger.envelope import Envelope, from_stored
from sampleloans.ledger.unit import Touched
from sampleloans.models import (
    Agreement,
    Consumption,
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
from sampleloans.vocab import (
    AgreementStatus,
    CorrectedMass,
    CustodyState,
    Direction,
    IncidentStatus,
    InstitutionKind,
    ItemSource,
    ItemState,
    LoanStatus,
    SubjectType,
    state_words,
)

M = TypeVar("M", bound=SQLModel)


class KeyReader(Protocol):
    """Anything that reads a row by primary key (the unit, or a read session)."""

    def get(self, entity: type[M], ident: Any) -> M | None:
        """The row of `entity` with key `ident`, or None."""
        ...


class Projections(KeyReader, Protocol):
    """The port `apply` writes through: rows by key, inserts, the event index, and the few
    lookups `apply` needs, each written once (`ledger/unit.py` implements it).

    A row from `get` is updated by setting its attributes; the unit writes it at its next flush.
    """

    consumptions_later: bool
    """A whole replay (`verify`) that leaves the consumption rows of plain events to one set-based
    fill after it (`replay.fill_consumptions`): `apply` writes only the others (a corrected
    consumption, or one whose values a JSON path would not read as Python does)."""

    def insert(self, model: type[SQLModel], **values: Any) -> None:
        """Add a new row (the model's defaults fill the fields not given)."""
        ...

    def index(self, seq: int, subject_type: str, key: str) -> None:
        """Index the event `seq` under one record (idempotent within the event)."""
        ...

    def flush(self) -> None:
        """Write what is buffered (lookups do it themselves)."""
        ...

    def loan_items(self, number: str) -> list[LoanItem]:
        """Every item of a loan, in sample-code order."""
        ...

    def has_open_incident(self, code: str) -> bool:
        """Whether a sample has an open incident."""
        ...

    def subjects_of(self, seq: int) -> list[tuple[str, str]]:
        """The (subject type, key) pairs an event is indexed under."""
        ...

    def kinds_after(self, code: str, after_seq: int) -> set[str]:
        """The kinds of the events about a sample after the event `after_seq`."""
        ...


Applier = Callable[[Projections, Envelope, Any, Touched], None]
APPLIERS: dict[str, Applier] = {}
E = TypeVar("E", bound=ev.Event)


def applies(event_type: type[E]) -> Callable[[Applier], Applier]:
    """Register the projection function of one event kind."""

    def register(function: Applier) -> Applier:
        """Record `function` as the applier of the event kind."""
        APPLIERS[event_type.kind] = function
        return function

    return register


def apply(store: Projections, envelope: Envelope, event: ev.Event) -> Touched:
    """Update the projections for one event; return what it touched."""
    touched = Touched()
    APPLIERS[event.kind](store, envelope, event, touched)
    return touched


# --- helpers ------------------------------------------------------------------------------------


def _in_order(previous: datetime, envelope: Envelope, what: str) -> None:
    """Refuse an event dated before the previous event of the same record (a rule: exit 1)."""
    if envelope.occurred_at < previous:
        from sampleloans.dates import bound_text, to_iso  # only on a refusal

        raise RuleViolation(
            f"time: {to_iso(envelope.occurred_at)} is before the previous event of {what} "
            f"({to_iso(previous)}); events of a record are kept in time order: give a time "
            f"{bound_text(previous)}"
        )


def _sample(store: Projections, envelope: Envelope, code: str, touched: Touched) -> Sample:
    """Load a sample, check time order, mark it as touched and index the event under it."""
    sample = store.get(Sample, code)
    if sample is None:
        raise NoSuchRecord("sample", code, "see 'sampleloans samples list'")
    _in_order(sample.last_event_at, envelope, f"sample {code}")
    sample.last_event_at = envelope.occurred_at
    touched.samples.add(code)
    store.index(envelope.seq, SubjectType.SAMPLE, code)
    return sample


def _loan(
    store: Projections,
    envelope: Envelope,
    number: str,
    touched: Touched,
    *,
    whole: bool = True,
    samples: Iterable[str] = (),
) -> Loan:
    """Load a loan, check time order, mark it as touched and index the event under it.

    An event about the whole loan (`whole`: approve, issue, the outbound shipment and its
    receipt, extend, recall, inventory, settle, close) must follow every earlier event of the
    loan. An event about some of its samples (consumption, a borrower's split, a return, an
    incident) is ordered per sample by `_sample`, and here only after the last whole-loan event:
    entering sample A's analysis of June 1 after sample B's split of June 15 is fine. Its
    refusal names the latest event it must follow, of the loan as a whole or of one of its
    `samples`, so the time it gives is one the samples' own checks then accept.
    """
    loan = store.get(Loan, number)
    if loan is None:
        raise NoSuchRecord("loan", number, "see 'sampleloans loans list'")
    if whole:
        _in_order(loan.last_event_at, envelope, f"loan {number}")
        loan.last_loan_wide_event_at = envelope.occurred_at
    else:
        bound, what = _part_bound(store, loan, samples)
        _in_order(bound, envelope, what)
    loan.last_event_at = max(loan.last_event_at, envelope.occurred_at)
    touched.loans.add(number)
    # the agreement's check (mass issued under it) runs only where issued mass changes
    # (`_issued_mass_changed`): a consumption does not make every agreement's loans re-summed
    for subject_type, key in (
        (SubjectType.LOAN, number),
        (SubjectType.INSTITUTION, loan.institution),
        (SubjectType.AGREEMENT, loan.agreement),
        (SubjectType.PERSON, loan.pi_email),
    ):
        store.index(envelope.seq, subject_type, key)
    return loan


def _part_bound(store: Projections, loan: Loan, samples: Iterable[str]) -> tuple[datetime, str]:
    """The latest event an event about some `samples` of a loan must follow, and what it is
    about: the loan as a whole, or one of those samples, if later."""
    bound, what = loan.last_loan_wide_event_at, f"loan {loan.number} as a whole"
    for code in sorted(samples):
        sample = store.get(Sample, code)
        if sample is not None and sample.last_event_at > bound:
            bound, what = sample.last_event_at, f"sample {code}"
    return bound, what


def _issued_mass_changed(touched: Touched, loan: Loan) -> None:
    """Mark the loan's agreement for its check: mass issued under it changed."""
    touched.agreements.add(loan.agreement)


def _follow_items(store: Projections, loan: Loan, otherwise: str | None = None) -> None:
    """Set a received loan's status from its items (see `checks.loan_status_of`), `otherwise`
    (default: as it is) when none is held, travelling or returned; the lookup sees this event's
    item changes (the unit writes before it reads)."""
    loan.status = loan_status_of(store.loan_items(loan.number), otherwise or loan.status)


def shipment_samples(store: KeyReader, shipment_seq: int) -> list[str]:
    """The sample codes a shipment carried, as its event recorded them."""
    row = store.get(LedgerEvent, shipment_seq)
    if row is None or row.kind != ev.LoanShipped.kind:
        raise NotFound(f"event {shipment_seq} is not a shipment")
    return sorted(json.loads(row.payload)["samples"])


def _item(store: Projections, number: str, code: str) -> LoanItem:
    """One item of a loan."""
    item = store.get(LoanItem, (number, code))
    if item is None:
        raise NotFound(f"sample {code} is not part of loan {number}")
    return item


def _agreement(store: Projections, number: str) -> Agreement:
    """Load an agreement or say which is missing."""
    agreement = store.get(Agreement, number)
    if agreement is None:
        raise NoSuchRecord("agreement", number, "see 'sampleloans agreements list'")
    return agreement


# --- reference records --------------------------------------------------------------------------


@applies(ev.LedgerCreated)
def _ledger_created(
    store: Projections, envelope: Envelope, event: ev.LedgerCreated, _t: Touched
) -> None:
    """Nothing to project: the ledger's identity lives in ledger_meta."""
    if envelope.seq != 1:
        raise Conflict("ledger.created must be the first event")


@applies(ev.MissionAdded)
def _mission(store: Projections, envelope: Envelope, event: ev.MissionAdded, _t: Touched) -> None:
    """Add a mission."""
    from sampleloans.dates import from_iso

    if store.get(Mission, event.code) is not None:
        raise Conflict(f"mission {event.code} already exists")
    returned_at = from_iso(event.returned_at) if event.returned_at else None
    store.insert(
        Mission,
        code=event.code,
        name=event.name,
        returned_at=returned_at,
        returned_mass_ug=event.returned_mass_ug,
    )


@applies(ev.InstitutionAdded)
def _institution(
    store: Projections, envelope: Envelope, event: ev.InstitutionAdded, _t: Touched
) -> None:
    """Add an institution."""
    if store.get(Institution, event.short_name) is not None:
        raise Conflict(f"institution {event.short_name} already exists")
    store.insert(
        Institution,
        short_name=event.short_name,
        name=event.name,
        country=event.country,
        city=event.city,
        kind=event.institution_kind,
    )
    store.index(envelope.seq, SubjectType.INSTITUTION, event.short_name)


@applies(ev.InstitutionRenamed)
def _institution_renamed(
    store: Projections, envelope: Envelope, event: ev.InstitutionRenamed, _t: Touched
) -> None:
    """The name changes; the event names the name it replaces, which must be the current one."""
    institution = store.get(Institution, event.short_name)
    if institution is None:
        raise NoSuchRecord("institution", event.short_name, "see 'sampleloans institutions list'")
    _renamed(institution, f"institution {event.short_name}", event.previous_name, event.name)
    store.index(envelope.seq, SubjectType.INSTITUTION, event.short_name)


@applies(ev.InstitutionPlaceChanged)
def _institution_place_changed(
    store: Projections, envelope: Envelope, event: ev.InstitutionPlaceChanged, _t: Touched
) -> None:
    """City and country change; the event names the place it replaces, which must be the
    current one (as a rename names the name)."""
    institution = store.get(Institution, event.short_name)
    if institution is None:
        raise NoSuchRecord("institution", event.short_name, "see 'sampleloans institutions list'")
    what = f"institution {event.short_name}"
    if (institution.city, institution.country) != (event.previous_city, event.previous_country):
        raise Conflict(
            f"{what} is in {institution.city!r}, {institution.country!r}, not "
            f"{event.previous_city!r}, {event.previous_country!r} as the change says"
        )
    institution.city, institution.country = event.city, event.country
    store.index(envelope.seq, SubjectType.INSTITUTION, event.short_name)


def _renamed(record: Institution | Person, what: str, previous: str, name: str) -> None:
    """Rename a record whose name is `previous` now (a rename names the name it replaces)."""
    if record.name != previous:
        raise Conflict(f"{what} is named {record.name!r}, not {previous!r} as the rename says")
    record.name = name


@applies(ev.PersonAdded)
def _person(store: Projections, envelope: Envelope, event: ev.PersonAdded, _t: Touched) -> None:
    """Add a person."""
    if store.get(Person, event.email) is not None:
        raise Conflict(f"person {event.email} already exists")
    store.insert(
        Person,
        email=event.email,
        name=event.name,
        institution=event.institution,
        role=event.role,
    )
    store.index(envelope.seq, SubjectType.PERSON, event.email)
    store.index(envelope.seq, SubjectType.INSTITUTION, event.institution)


def _known_person(store: Projections, envelope: Envelope, email: str) -> Person:
    """A registered person, with the event indexed under them and their institution."""
    person = store.get(Person, email)
    if person is None:
        raise NoSuchRecord("person", email, "see 'sampleloans people list'")
    store.index(envelope.seq, SubjectType.PERSON, person.email)
    store.index(envelope.seq, SubjectType.INSTITUTION, person.institution)
    return person


@applies(ev.PersonDeactivated)
def _person_deactivated(
    store: Projections, envelope: Envelope, event: ev.PersonDeactivated, _t: Touched
) -> None:
    """The person may no longer act; the row stays, marked inactive."""
    person = _known_person(store, envelope, event.email)
    if not person.active:
        raise Conflict(f"person {person.email} is already deactivated")
    person.active = False


@applies(ev.PersonReactivated)
def _person_reactivated(
    store: Projections, envelope: Envelope, event: ev.PersonReactivated, _t: Touched
) -> None:
    """A deactivated person may act again."""
    person = _known_person(store, envelope, event.email)
    if person.active:
        raise Conflict(f"person {person.email} is active; only a deactivated person is reactivated")
    person.active = True


@applies(ev.PersonRoleChanged)
def _person_role_changed(
    store: Projections, envelope: Envelope, event: ev.PersonRoleChanged, _t: Touched
) -> None:
    """The role changes; the event names the role it replaces, which must be the current one."""
    person = _known_person(store, envelope, event.email)
    if person.role != event.previous_role:
        raise Conflict(
            f"person {person.email} is a {person.role.replace('_', ' ')}, not a "
            f"{event.previous_role.replace('_', ' ')} as the role change says"
        )
    person.role = event.role


@applies(ev.PersonRenamed)
def _person_renamed(
    store: Projections, envelope: Envelope, event: ev.PersonRenamed, _t: Touched
) -> None:
    """The name changes; the event names the name it replaces, which must be the current one."""
    person = _known_person(store, envelope, event.email)
    _renamed(person, f"person {person.email}", event.previous_name, event.name)


# --- samples ------------------------------------------------------------------------------------


@applies(ev.SampleRegistered)
def _registered(
    store: Projections, envelope: Envelope, event: ev.SampleRegistered, t: Touched
) -> None:
    """A new sample in the vault."""
    if store.get(Sample, event.code) is not None:
        raise Conflict(f"sample {event.code} is already registered; codes are unique")
    store.insert(
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
    t.samples.add(event.code)
    store.index(envelope.seq, SubjectType.SAMPLE, event.code)
    store.index(envelope.seq, SubjectType.INSTITUTION, event.custodian)


def _child_of(parent: Sample, code: str, mass_ug: int, envelope: Envelope) -> dict[str, Any]:
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
def _split(store: Projections, envelope: Envelope, event: ev.SampleSplit, t: Touched) -> None:
    """Children leave the parent's vault mass; processing loss is recorded as lost."""
    parent = _sample(store, envelope, event.parent, t)
    if parent.custody_state != CustodyState.VAULT:
        raise Conflict(f"sample {parent.code} is not in the vault; it cannot be split")
    total_ug = sum(int(mass) for _code, mass in event.children) + event.loss_ug
    if total_ug > parent.vault_ug:
        raise Conflict(f"split of {parent.code} needs more mass than is in the vault")
    parent.vault_ug -= total_ug
    parent.split_ug += total_ug - event.loss_ug
    parent.lost_ug += event.loss_ug
    _vault_state(parent, "split")
    for code, mass in event.children:
        if store.get(Sample, code) is not None:
            raise Conflict(f"sample {code} is already registered; codes are unique")
        store.insert(Sample, **_child_of(parent, code, int(mass), envelope), vault_ug=int(mass))
        t.samples.add(code)
        store.index(envelope.seq, SubjectType.SAMPLE, code)


@applies(ev.SampleMoved)
def _moved(store: Projections, envelope: Envelope, event: ev.SampleMoved, t: Touched) -> None:
    """A new storage location."""
    sample = _sample(store, envelope, event.code, t)
    sample.storage_location = event.storage_location


@applies(ev.SampleTransferred)
def _transferred(
    store: Projections, envelope: Envelope, event: ev.SampleTransferred, t: Touched
) -> None:
    """Whole samples leave the vault for good: custody and ownership pass to the recipient."""
    recipient = store.get(Institution, event.recipient)
    if recipient is None or recipient.kind != InstitutionKind.RECIPIENT:
        raise Conflict(f"institution {event.recipient} is not a recipient of transfers")
    store.index(envelope.seq, SubjectType.INSTITUTION, event.recipient)
    for code, mass in event.items:
        sample = _sample(store, envelope, code, t)
        _require_transferable(sample, int(mass))
        sample.vault_ug = 0
        sample.transferred_ug += int(mass)
        sample.custody_state = CustodyState.TRANSFERRED
        sample.custodian = recipient.short_name


def _require_transferable(sample: Sample, mass_ug: int) -> None:
    """A transfer takes a whole, unfrozen, lendable sample from the vault (replay's wall)."""
    if sample.custody_state != CustodyState.VAULT or sample.vault_ug != mass_ug or mass_ug <= 0:
        raise Conflict(f"sample {sample.code} is not whole in the vault; it cannot be transferred")
    if sample.frozen:
        raise Conflict(f"sample {sample.code} is frozen by an open incident")
    if sample.purpose_class in NEVER_LENT:
        raise Conflict(f"sample {sample.code} is {sample.purpose_class} storage; never given away")


# --- agreements ---------------------------------------------------------------------------------


@applies(ev.AgreementCreated)
def _agreement_created(
    store: Projections, envelope: Envelope, event: ev.AgreementCreated, t: Touched
) -> None:
    """A pending agreement with its terms."""
    if store.get(Agreement, event.number) is not None:
        raise Conflict(f"agreement {event.number} already exists")
    store.insert(
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
    store.index(envelope.seq, SubjectType.AGREEMENT, event.number)
    store.index(envelope.seq, SubjectType.INSTITUTION, event.institution)


@applies(ev.AgreementSigned)
def _agreement_signed(
    store: Projections, envelope: Envelope, event: ev.AgreementSigned, t: Touched
) -> None:
    """Signed: in force from now for its term."""
    agreement = _agreement(store, event.number)
    if agreement.status != AgreementStatus.PENDING:
        raise Conflict(
            f"agreement {agreement.number} is {state_words(agreement.status)}; only pending "
            "ones can be signed"
        )
    agreement.status = AgreementStatus.SIGNED
    agreement.signed_at = envelope.occurred_at
    agreement.signed_by = event.signed_by
    agreement.expires_at = envelope.occurred_at + period_delta(agreement.term)
    store.index(envelope.seq, SubjectType.AGREEMENT, agreement.number)
    store.index(envelope.seq, SubjectType.INSTITUTION, agreement.institution)


@applies(ev.AgreementEnded)
def _agreement_ended(
    store: Projections, envelope: Envelope, event: ev.AgreementEnded, t: Touched
) -> None:
    """Expired or terminated: no more issues under it."""
    agreement = _agreement(store, event.number)
    if agreement.status not in (AgreementStatus.PENDING, AgreementStatus.SIGNED):
        raise Conflict(
            f"agreement {agreement.number} has already ended ({state_words(agreement.status)})"
        )
    if event.status not in (AgreementStatus.EXPIRED, AgreementStatus.TERMINATED):
        raise InvalidInput(f"status: {event.status!r} is not expired or terminated")
    agreement.status = event.status
    agreement.ended_at = envelope.occurred_at
    agreement.end_reason = envelope.reason
    store.index(envelope.seq, SubjectType.AGREEMENT, agreement.number)
    store.index(envelope.seq, SubjectType.INSTITUTION, agreement.institution)


# --- loans --------------------------------------------------------------------------------------


@applies(ev.LoanRequested)
def _requested(store: Projections, envelope: Envelope, event: ev.LoanRequested, t: Touched) -> None:
    """A requested loan with its items (no mass yet)."""
    if store.get(Loan, event.number) is not None:
        raise Conflict(f"loan {event.number} already exists; loan numbers are unique")
    agreement = _agreement(store, event.agreement)
    store.insert(
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
    _loan(store, envelope, event.number, t)
    for code in event.samples:
        _sample(store, envelope, code, t)
        store.insert(LoanItem, loan_number=event.number, sample_code=code)


@applies(ev.LoanApproved)
def _approved(store: Projections, envelope: Envelope, event: ev.LoanApproved, t: Touched) -> None:
    """Approved by the acting curator."""
    loan = _loan(store, envelope, event.number, t)
    require_loan_transition(loan, "approve")
    loan.status = LoanStatus.APPROVED
    loan.approved_at = envelope.occurred_at
    loan.approved_by = envelope.actor


@applies(ev.LoanIssued)
def _issued(store: Projections, envelope: Envelope, event: ev.LoanIssued, t: Touched) -> None:
    """Whole samples leave the vault; the due date and first inventory are set."""
    loan = _loan(store, envelope, event.number, t)
    require_loan_transition(loan, "issue")
    agreement = _agreement(store, loan.agreement)
    for code, mass in event.items:
        sample = _sample(store, envelope, code, t)
        item = _item(store, loan.number, code)
        if sample.custody_state != CustodyState.VAULT or sample.vault_ug != int(mass):
            raise Conflict(f"sample {code} is not whole in the vault; it cannot be issued")
        sample.vault_ug = 0
        sample.on_loan_ug = int(mass)
        sample.custody_state = CustodyState.ISSUED
        sample.loan_number = loan.number
        loan.curator = sample.custodian
        item.issued_ug = item.held_ug = int(mass)
        item.state = ItemState.ISSUED
    _issued_mass_changed(t, loan)
    loan.status = LoanStatus.ISSUED
    loan.issued_at = envelope.occurred_at
    loan.due_at = envelope.occurred_at + period_delta(loan.loan_period)
    loan.next_inventory_due_at = envelope.occurred_at + period_delta(agreement.inventory_interval)


@applies(ev.LoanShipped)
def _shipped(store: Projections, envelope: Envelope, event: ev.LoanShipped, t: Touched) -> None:
    """A sealed container leaves the sender; its samples are in transit.

    The outbound shipment carries the whole loan; a return carries the samples it names, so
    several returns of one loan may travel at once while the borrower keeps the rest.
    """
    outbound = event.direction == Direction.OUTBOUND
    loan = _loan(store, envelope, event.number, t, whole=outbound, samples=event.samples)
    require_loan_transition(loan, "ship" if outbound else "ship_return", at=envelope.occurred_at)
    expected_state = ItemState.ISSUED if outbound else ItemState.HELD
    for code in event.samples:
        sample = _sample(store, envelope, code, t)
        item = _item(store, loan.number, code)
        if item.state != expected_state:
            raise Conflict(
                f"sample {code} of loan {loan.number} is {state_words(item.state)}, "
                f"not {state_words(expected_state)}"
            )
        item.state = sample.custody_state = (
            ItemState.IN_TRANSIT if outbound else ItemState.RETURN_IN_TRANSIT
        )
    assert loan.curator is not None
    store.insert(
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
        loan.status = LoanStatus.IN_TRANSIT
    else:
        _follow_items(store, loan)


@applies(ev.LoanReceived)
def _received(store: Projections, envelope: Envelope, event: ev.LoanReceived, t: Touched) -> None:
    """The container arrives; the receiver becomes custodian. A return puts mass back."""
    shipment = store.get(Shipment, event.shipment_seq)
    if shipment is None or shipment.loan_number != event.number or shipment.received_at:
        raise Conflict(f"loan {event.number} has no open shipment {event.shipment_seq}")
    outbound = shipment.direction == Direction.OUTBOUND
    loan = _loan(store, envelope, event.number, t, whole=outbound)
    require_loan_transition(loan, "receive" if outbound else "accept_return")
    carried = shipment_samples(store, shipment.seq)
    if sorted(str(code) for code, _mass in event.weighed) != carried:
        raise Conflict(
            f"the receipt of shipment {shipment.seq} of loan {loan.number} must weigh exactly "
            f"the samples it carried ({', '.join(carried)})"
        )
    shipment.received_at = envelope.occurred_at
    shipment.received_by = envelope.actor
    shipment.seal_intact = event.seal_intact
    shipment.condition_on_receipt = event.condition
    expected_state = ItemState.IN_TRANSIT if outbound else ItemState.RETURN_IN_TRANSIT
    for code, weighed in event.weighed:
        sample = _sample(store, envelope, code, t)
        item = _item(store, loan.number, code)
        if item.state != expected_state:
            raise Conflict(
                f"sample {code} of loan {loan.number} is {state_words(item.state)}, "
                f"not {state_words(expected_state)}"
            )
        store.insert(
            Weighing,
            seq=envelope.seq,
            sample_code=code,
            loan_number=loan.number,
            expected_ug=item.held_ug,
            weighed_ug=int(weighed),
        )
        sample.condition = event.condition
        if item.held_ug == 0:  # lost whole on the way (the only way to 0 while travelling)
            item.state = sample.custody_state = ItemState.LOST
        elif outbound:
            item.state = sample.custody_state = ItemState.HELD
            sample.custodian = shipment.receiver
        else:
            _return_to_vault(sample, item, shipment.receiver)
    # the trip is over even when nothing of it arrived: a loan it emptied is received (out)
    # or returned (back), and can be settled
    _follow_items(store, loan, LoanStatus.RECEIVED if outbound else LoanStatus.RETURNED)


def _return_to_vault(sample: Sample, item: LoanItem, curator: str) -> None:
    """The returned mass goes back into the vault and the loan item is done."""
    sample.vault_ug += item.held_ug
    sample.on_loan_ug -= item.held_ug
    item.returned_ug += item.held_ug
    item.held_ug = 0
    item.state = ItemState.RETURNED
    sample.custody_state = CustodyState.VAULT
    sample.custodian = curator
    sample.loan_number = None


def _use_up(sample: Sample, item: LoanItem, mass_ug: int, column: str) -> None:
    """Move mass held by the borrower into a terminal column (consumed, split or lost)."""
    if mass_ug > item.held_ug:
        raise Conflict(f"sample {sample.code} holds less than that on loan {item.loan_number}")
    item.held_ug -= mass_ug
    setattr(item, f"{column}_ug", getattr(item, f"{column}_ug") + mass_ug)
    sample.on_loan_ug -= mass_ug
    if item.held_ug == 0 and item.state == ItemState.HELD:
        item.state = sample.custody_state = _LEFT_BORROWER[column]


@applies(ev.LoanConsumed)
def _consumed(store: Projections, envelope: Envelope, event: ev.LoanConsumed, t: Touched) -> None:
    """Mass used up by one analysis."""
    loan = _loan(store, envelope, event.number, t, whole=False, samples=[event.sample])
    require_loan_transition(loan, "consume", at=envelope.occurred_at)
    sample = _sample(store, envelope, event.sample, t)
    item = _item(store, loan.number, event.sample)
    _use_up(sample, item, event.mass_ug, "consumed")
    sample.consumed_ug += event.mass_ug
    if item.state != ItemState.HELD:
        _follow_items(store, loan)
    # else the loan's status is already what its items give: `received` (a consumption needs
    # it) while this item is held; reading every item of the loan at each consumption cost
    # `verify`'s replay about 5 % (tests/test_sweep_s30verify7_consumption_status.py)
    if store.consumptions_later and plain_consumption(event, envelope.occurred_at):
        return  # its row is the fill's, from the stored event (`replay.fill_consumptions`)
    store.insert(
        Consumption, **consumption_values(envelope.seq, envelope.occurred_at, event, loan.number)
    )


def consumption_values(
    seq: int, occurred_at: datetime, event: ev.LoanConsumed, loan_number: str
) -> dict[str, Any]:
    """The consumption row of a `loan.consumed` event, as recorded (`loan_number`: the number
    of the loan found by the event's)."""
    return {
        "seq": seq,
        "loan_number": loan_number,
        "sample_code": event.sample,
        "technique": event.technique,
        "destructive": event.destructive,
        "mass_ug": event.mass_ug,
        "occurred_at": occurred_at,
    }


_INT64 = 1 << 63


def plain_consumption(event: ev.LoanConsumed, occurred_at: datetime) -> bool:
    """Whether the consumption's row can be written by `replay.fill_consumptions` from its
    stored JSON: text, a boolean and a 64-bit integer, as Python read them, and an aware time
    (any other value is written by `apply` itself, failing where it always did)."""
    number, sample, technique = event.number, event.sample, event.technique
    # tested one by one, not by a generator over the three: this runs once per consumption
    if not (type(number) is str and type(sample) is str and type(technique) is str):
        return False
    ascii_only = number.isascii() and sample.isascii() and technique.isascii()
    if not ascii_only and not (_utf8(number) and _utf8(sample) and _utf8(technique)):
        return False
    mass_ug = event.mass_ug
    return (
        type(event.destructive) is bool
        and type(mass_ug) is int
        and -_INT64 <= mass_ug < _INT64
        and occurred_at.tzinfo is not None
    )


def _utf8(text: str) -> bool:
    """Whether a text can be stored (no lone surrogate)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@applies(ev.LoanSplit)
def _loan_split(store: Projections, envelope: Envelope, event: ev.LoanSplit, t: Touched) -> None:
    """The borrower's split becomes a sample of its own, held on the same loan."""
    loan = _loan(store, envelope, event.number, t, whole=False, samples=[event.parent])
    require_loan_transition(loan, "split", at=envelope.occurred_at)
    parent = _sample(store, envelope, event.parent, t)
    item = _item(store, loan.number, event.parent)
    if store.get(Sample, event.child) is not None:
        raise Conflict(f"sample {event.child} is already registered; codes are unique")
    _use_up(parent, item, event.mass_ug, "split")
    parent.split_ug += event.mass_ug
    child = _child_of(parent, event.child, event.mass_ug, envelope)
    child.update(
        on_loan_ug=event.mass_ug,
        custody_state=CustodyState.HELD,
        custodian=loan.institution,
        loan_number=loan.number,
    )
    store.insert(Sample, **child)
    t.samples.add(event.child)
    store.index(envelope.seq, SubjectType.SAMPLE, event.child)
    store.insert(
        LoanItem,
        loan_number=loan.number,
        sample_code=event.child,
        source=ItemSource.BORROWER_SPLIT,
        issued_ug=event.mass_ug,
        held_ug=event.mass_ug,
        state=ItemState.HELD,
    )
    _issued_mass_changed(t, loan)


@applies(ev.LoanExtended)
def _extended(store: Projections, envelope: Envelope, event: ev.LoanExtended, t: Touched) -> None:
    """The due date moves by the granted period."""
    loan = _loan(store, envelope, event.number, t)
    require_loan_transition(loan, "extend")
    assert loan.due_at is not None
    loan.due_at = loan.due_at + period_delta(event.period)
    loan.extensions_granted += 1
    store.insert(
        Extension,
        seq=envelope.seq,
        loan_number=loan.number,
        period=event.period,
        approver=event.approver,
        reason=envelope.reason or "",
        new_due_at=loan.due_at,
    )


@applies(ev.LoanRecalled)
def _recalled(store: Projections, envelope: Envelope, event: ev.LoanRecalled, t: Touched) -> None:
    """A recall brings the due date forward (never later than it was)."""
    from sampleloans.dates import from_iso

    loan = _loan(store, envelope, event.number, t)
    require_loan_transition(loan, "recall")
    assert loan.due_at is not None
    loan.due_at = min(loan.due_at, from_iso(event.due_at))
    loan.recalled_at = envelope.occurred_at


@applies(ev.InventoryAttested)
def _inventory(
    store: Projections, envelope: Envelope, event: ev.InventoryAttested, t: Touched
) -> None:
    """An attestation; the next one falls due an interval later."""
    loan = _loan(store, envelope, event.number, t)
    require_loan_transition(loan, "inventory")
    agreement = _agreement(store, loan.agreement)
    loan.last_inventory_at = envelope.occurred_at
    loan.next_inventory_due_at = envelope.occurred_at + period_delta(agreement.inventory_interval)
    store.insert(
        Inventory,
        seq=envelope.seq,
        loan_number=loan.number,
        attested_by=envelope.actor,
        attested_at=envelope.occurred_at,
        held_ug=sum(int(mass) for _code, mass in event.held),
        note=event.note,
    )


@applies(ev.LoanSettled)
def _settled(store: Projections, envelope: Envelope, event: ev.LoanSettled, t: Touched) -> None:
    """Every microgram accounted for; obligations recorded."""
    loan = _loan(store, envelope, event.number, t)
    require_loan_transition(loan, "settle")
    loan.status = LoanStatus.SETTLED
    loan.settled_at = envelope.occurred_at
    loan.obligations = event.obligations


@applies(ev.LoanClosed)
def _closed(store: Projections, envelope: Envelope, event: ev.LoanClosed, t: Touched) -> None:
    """Closed for good."""
    loan = _loan(store, envelope, event.number, t)
    require_loan_transition(loan, "close")
    loan.status = LoanStatus.CLOSED
    loan.closed_at = envelope.occurred_at


@applies(ev.LoanWithdrawn)
def _withdrawn(store: Projections, envelope: Envelope, event: ev.LoanWithdrawn, t: Touched) -> None:
    """Closed before it was issued: nothing left the vault, so no balance moves."""
    loan = _loan(store, envelope, event.number, t)
    require_loan_transition(loan, "withdraw")
    loan.status = LoanStatus.CLOSED
    loan.closed_at = envelope.occurred_at
    for item in store.loan_items(loan.number):
        item.state = ItemState.WITHDRAWN


# --- incidents and corrections ----------------------------------------------------------------


@applies(ev.IncidentReported)
def _incident(
    store: Projections, envelope: Envelope, event: ev.IncidentReported, t: Touched
) -> None:
    """Freeze the sample; write lost mass off where it is (on loan or in the vault)."""
    sample = _sample(store, envelope, event.sample, t)
    loan = None if event.loan is None else _loan(store, envelope, event.loan, t, whole=False)
    if event.mass_lost_ug:
        if loan is not None:
            item = _item(store, loan.number, event.sample)
            _use_up(sample, item, event.mass_lost_ug, "lost")
            _follow_items(store, loan)
        else:
            if event.mass_lost_ug > sample.vault_ug:
                raise Conflict(f"sample {sample.code} has less than that in the vault")
            sample.vault_ug -= event.mass_lost_ug
            _vault_state(sample, "lost")
        sample.lost_ug += event.mass_lost_ug
    sample.frozen = True
    store.insert(
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
def _resolved(
    store: Projections, envelope: Envelope, event: ev.IncidentResolved, t: Touched
) -> None:
    """Resolve; the sample thaws when no other incident on it is open."""
    incident = store.get(Incident, event.incident_seq)
    if incident is None:
        raise NoSuchRecord("incident", str(event.incident_seq), "see 'sampleloans incidents list'")
    if incident.status != IncidentStatus.OPEN:
        raise Conflict(f"incident {incident.seq} is already resolved")
    sample = _sample(store, envelope, incident.sample_code, t)
    if incident.loan_number:
        _loan(store, envelope, incident.loan_number, t, whole=False)
    incident.status = IncidentStatus.RESOLVED
    incident.resolved_at = envelope.occurred_at
    incident.resolution = event.resolution
    sample.frozen = store.has_open_incident(sample.code)


def _after_corrected(corrected_at: datetime, envelope: Envelope, corrected_seq: int) -> None:
    """Refuse a note dated before the event it corrects: a replay "as of" a moment between the
    two would meet the note without its event (a mass correction is ordered by its records)."""
    if envelope.occurred_at < corrected_at:
        from sampleloans.dates import bound_text, to_iso  # only on a refusal

        raise RuleViolation(
            f"time: {to_iso(envelope.occurred_at)} is before event {corrected_seq}, which the "
            f"correction corrects ({to_iso(corrected_at)}); a correction is dated at or after "
            f"the event it corrects: give a time {bound_text(corrected_at)}"
        )


@applies(ev.Correction)
def _corrected(store: Projections, envelope: Envelope, event: ev.Correction, t: Touched) -> None:
    """A note on an earlier event, filed under the same records as that event."""
    corrected = (
        None if envelope.corrects_seq is None else store.get(LedgerEvent, envelope.corrects_seq)
    )
    if corrected is None:
        raise NoSuchRecord("event", str(envelope.corrects_seq), "see 'sampleloans custody history'")
    if corrected.seq >= envelope.seq:
        raise InvalidInput("a correction can only reference an earlier event")
    _after_corrected(from_stored(corrected.occurred_at), envelope, corrected.seq)
    store.insert(Note, seq=envelope.seq, corrects_seq=corrected.seq, text=event.text)
    for subject_type, key in store.subjects_of(corrected.seq):
        store.index(envelope.seq, subject_type, key)


# --- mass corrections ---------------------------------------------------------------------------

MASS_WHAT: dict[str, CorrectedMass] = {
    ev.LoanConsumed.kind: CorrectedMass.CONSUMPTION,
    ev.LoanReceived.kind: CorrectedMass.WEIGHING,
    ev.SampleRegistered.kind: CorrectedMass.REGISTRATION,
    ev.SampleSplit.kind: CorrectedMass.SPLIT,
    ev.LoanSplit.kind: CorrectedMass.SPLIT,
    ev.IncidentReported.kind: CorrectedMass.LOSS,
}
"""The event kinds that record a mass a correction may supersede, and what that mass is."""

MAY_BE_ZERO = (CorrectedMass.WEIGHING, CorrectedMass.LOSS, CorrectedMass.CONSUMPTION)
"""The corrected masses that may be 0 µg (an empty weighing, an incident that lost nothing, a
consumption that never happened: entered twice, or on the wrong sample or loan, since nothing
recorded is deleted)."""

_LEFT_BORROWER: dict[str, ItemState] = {
    "consumed": ItemState.CONSUMED,
    "lost": ItemState.LOST,
    "split": ItemState.SPLIT,
}
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


def recorded_mass_ug(store: KeyReader, kind: str, seq: int, code: str) -> int:
    """The mass in force for one sample of a mass-bearing event: as recorded or last corrected.

    The projections hold it (a correction updates them), so no history has to be read.
    """
    if kind == ev.LoanConsumed.kind:
        consumption = store.get(Consumption, seq)
        assert consumption is not None
        return int(consumption.mass_ug)
    if kind == ev.LoanReceived.kind:
        weighing = store.get(Weighing, (seq, code))
        assert weighing is not None
        return int(weighing.weighed_ug)
    if kind == ev.IncidentReported.kind:
        incident = store.get(Incident, seq)
        assert incident is not None
        return int(incident.mass_lost_ug)
    sample = store.get(Sample, code)
    assert sample is not None
    return int(sample.initial_mass_ug)


def mass_correction_text(what: str, code: str, old_ug: int, new_ug: int, reason: str) -> str:
    """The note a mass correction files beside the event it corrects."""
    from sampleloans.units import format_mass

    return f"{what} of {code} corrected: {format_mass(old_ug)} → {format_mass(new_ug)}; {reason}"


def _corrected_seq(envelope: Envelope) -> int:
    """The seq of the event a correction names (`_corrected_row` has checked it is there)."""
    if envelope.corrects_seq is None:
        raise InvalidInput("corrects_seq: a mass correction names the event it corrects")
    return envelope.corrects_seq


def _corrected_row(store: Projections, envelope: Envelope) -> LedgerEvent:
    """The earlier event a correction names."""
    if envelope.corrects_seq is None:
        raise InvalidInput("corrects_seq: a mass correction names the event it corrects")
    row = store.get(LedgerEvent, envelope.corrects_seq)
    if row is None:
        raise NoSuchRecord("event", str(envelope.corrects_seq), "see 'sampleloans custody history'")
    if envelope.corrects_seq >= envelope.seq:
        raise InvalidInput("a correction can only reference an earlier event")
    return row


_TAKES_MASS = (ev.SampleSplit.kind, ev.LoanIssued.kind, ev.SampleTransferred.kind)
"""Events that take a sample's vault mass as it stands (a split, an issue, a permanent transfer,
which gives the whole of it away): its mass is fixed from then on."""

_TAKES_WHOLE_VAULT = (ev.LoanIssued.kind, ev.SampleTransferred.kind)
"""Of those, the events after which a sample has nothing left in the vault to give or take."""

_DONE_WITH_MASS = {
    ev.SampleTransferred.kind: "transferred for good",
    ev.LoanIssued.kind: "lent",
    ev.SampleSplit.kind: "split",
}
"""How a message says what a later event did with the vault mass, the most final first."""


def _fixed_since(store: Projections, code: str, after_seq: int, kinds: tuple[str, ...]) -> None:
    """Refuse to change a sample's own mass once something has taken it as it was."""
    later = store.kinds_after(code, after_seq) & set(kinds)
    if later:
        done = next(words for kind, words in _DONE_WITH_MASS.items() if kind in later)
        raise RuleViolation(
            f"mass: sample {code} was {done} after event {after_seq}, with the mass recorded "
            "then; its recorded mass can no longer change"
        )


def _with_borrower(loan: Loan, item: LoanItem) -> None:
    """A loan item's mass can move only while the borrower still has the sample."""
    if loan.status in (LoanStatus.SETTLED, LoanStatus.CLOSED):
        raise RuleViolation(
            f"mass: loan {loan.number} is {state_words(loan.status)}; its balance is final"
        )
    if item.state not in (ItemState.HELD, ItemState.RETURN_IN_TRANSIT, *_LEFT_BORROWER.values()):
        raise RuleViolation(
            f"mass: sample {item.sample_code} is {state_words(item.state)} on loan {loan.number}; "
            "its mass on the loan can be corrected only while the borrower has it"
        )


def _item_state(sample: Sample, item: LoanItem, column: str) -> None:
    """An item's custody state after its held mass changed: used up at 0, held again above."""
    if item.held_ug == 0 and item.state == ItemState.HELD:
        item.state = sample.custody_state = _LEFT_BORROWER[column]
    elif item.held_ug > 0 and item.state in _LEFT_BORROWER.values():
        item.state = sample.custody_state = ItemState.HELD


def _move_held(sample: Sample, item: LoanItem, delta_ug: int, column: str) -> None:
    """Move `delta_ug` of what the borrower holds into `column` (back to held when negative).

    Held mass only ever decreases after an item is issued, so what it holds now is the least
    it held at any point since: if that covers the change, every earlier moment does too.
    """
    from sampleloans.units import format_mass

    travelling = item.state == ItemState.RETURN_IN_TRANSIT
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
    store: Projections, envelope: Envelope, event: ev.MassCorrected, p: dict[str, Any], t: Touched
) -> None:
    """A consumption's mass moves between what was consumed and what the borrower holds."""
    loan = _loan(store, envelope, p["number"], t, whole=False, samples=[event.sample])
    sample = _sample(store, envelope, event.sample, t)
    item = _item(store, loan.number, event.sample)
    _with_borrower(loan, item)
    delta_ug = event.new_mass_ug - event.old_mass_ug
    _move_held(sample, item, delta_ug, "consumed")
    sample.consumed_ug += delta_ug
    consumption = store.get(Consumption, envelope.corrects_seq)
    if consumption is None and store.consumptions_later:  # the fill's: written here instead
        row = _corrected_row(store, envelope)
        recorded = ev.LoanConsumed(**p)
        values = consumption_values(row.seq, from_stored(row.occurred_at), recorded, loan.number)
        store.insert(Consumption, **{**values, "mass_ug": event.new_mass_ug})
    else:
        assert consumption is not None
        consumption.mass_ug = event.new_mass_ug
    _follow_items(store, loan)


def _correct_weighing(
    store: Projections, envelope: Envelope, event: ev.MassCorrected, p: dict[str, Any], t: Touched
) -> None:
    """A weighing at a receipt is a record beside the balance; a return's must be exact."""
    from sampleloans.units import format_mass

    shipment = store.get(Shipment, p["shipment_seq"])
    assert shipment is not None
    _loan(store, envelope, p["number"], t, whole=False, samples=[event.sample])
    _sample(store, envelope, event.sample, t)
    weighing = store.get(Weighing, (envelope.corrects_seq, event.sample))
    assert weighing is not None
    if shipment.direction == Direction.RETURN and event.new_mass_ug != weighing.expected_ug:
        raise RuleViolation(
            f"mass: a returned sample weighs exactly what was accountable; {event.sample} "
            f"came back with {format_mass(weighing.expected_ug)} accountable"
        )
    weighing.weighed_ug = event.new_mass_ug


def _correct_registration(
    store: Projections, envelope: Envelope, event: ev.MassCorrected, p: dict[str, Any], t: Touched
) -> None:
    """A registered mass changes the sample's initial and vault mass, before any split or loan."""
    sample = _sample(store, envelope, event.sample, t)
    _fixed_since(store, sample.code, _corrected_seq(envelope), _TAKES_MASS)
    _vault_change(sample, event.new_mass_ug - event.old_mass_ug, "lost")
    sample.initial_mass_ug += event.new_mass_ug - event.old_mass_ug


def _vault_change(sample: Sample, delta_ug: int, column: str) -> None:
    """Add to (or take from) a sample's vault mass, which never goes below 0; what is taken
    goes to `column` (lost, split)."""
    from sampleloans.units import format_mass

    if sample.vault_ug + delta_ug < 0:
        raise RuleViolation(
            f"mass: sample {sample.code} has {format_mass(sample.vault_ug)} in the vault now; "
            f"the correction would take {format_mass(-delta_ug)} from it"
        )
    sample.vault_ug += delta_ug
    _vault_state(sample, column)


_VAULT_EMPTIED: dict[str, CustodyState] = {"lost": CustodyState.LOST, "split": CustodyState.SPLIT}
"""A sample whose vault mass reaches 0 in the vault is in the state named after where it went."""


def _vault_state(sample: Sample, column: str) -> None:
    """A sample in the vault is there while it has mass there: emptied, it is lost or split
    (`column`, where the last of it went); mass put back (a correction) brings it back."""
    if sample.custody_state == CustodyState.VAULT and sample.vault_ug == 0:
        sample.custody_state = _VAULT_EMPTIED[column]
    elif (
        sample.vault_ug > 0
        and sample.loan_number is None
        and sample.custody_state in _VAULT_EMPTIED.values()
    ):
        sample.custody_state = CustodyState.VAULT


def _correct_vault_split(
    store: Projections, envelope: Envelope, event: ev.MassCorrected, p: dict[str, Any], t: Touched
) -> None:
    """A split child's mass moves between the child and its parent's vault mass.

    Neither may have been lent or given away since (either takes the vault mass as it was), nor
    the child split; the parent's vault mass only decreases otherwise, so its mass now bounds
    the change.
    """
    parent = _sample(store, envelope, p["parent"], t)
    child = _sample(store, envelope, event.sample, t)
    _fixed_since(store, child.code, _corrected_seq(envelope), _TAKES_MASS)
    _fixed_since(store, parent.code, _corrected_seq(envelope), _TAKES_WHOLE_VAULT)
    delta_ug = event.new_mass_ug - event.old_mass_ug
    _vault_change(parent, -delta_ug, "split")
    _vault_change(child, delta_ug, "lost")
    parent.split_ug += delta_ug
    child.initial_mass_ug += delta_ug


def _correct_loan_split(
    store: Projections, envelope: Envelope, event: ev.MassCorrected, p: dict[str, Any], t: Touched
) -> None:
    """A borrower's split child's mass moves between the child and what the parent holds."""
    from sampleloans.units import format_mass

    loan = _loan(store, envelope, p["number"], t, whole=False, samples=[p["parent"], event.sample])
    parent = _sample(store, envelope, p["parent"], t)
    child = _sample(store, envelope, event.sample, t)
    parent_item = _item(store, loan.number, parent.code)
    child_item = _item(store, loan.number, child.code)
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
    _issued_mass_changed(t, loan)
    child_item.held_ug += delta_ug
    child.initial_mass_ug += delta_ug
    child.on_loan_ug += delta_ug
    _item_state(child, child_item, "consumed")
    _follow_items(store, loan)


def _correct_loss(
    store: Projections, envelope: Envelope, event: ev.MassCorrected, p: dict[str, Any], t: Touched
) -> None:
    """A loss's mass moves between what was lost and where it was lost from (loan or vault)."""
    sample = _sample(store, envelope, event.sample, t)
    delta_ug = event.new_mass_ug - event.old_mass_ug
    if p["loan"] is not None:
        loan = _loan(store, envelope, p["loan"], t, whole=False)
        item = _item(store, loan.number, sample.code)
        _with_borrower(loan, item)
        _move_held(sample, item, delta_ug, "lost")
        _follow_items(store, loan)
    else:  # lost in the vault: fixed once the vault mass was lent or split as it stood
        _fixed_since(store, sample.code, _corrected_seq(envelope), _TAKES_MASS)
        _vault_change(sample, -delta_ug, "lost")
    sample.lost_ug += delta_ug
    incident = store.get(Incident, envelope.corrects_seq)
    assert incident is not None
    incident.mass_lost_ug = event.new_mass_ug


def _in_force_ug(store: Projections, row: LedgerEvent, payload: dict[str, Any], code: str) -> int:
    """`recorded_mass_ug`; a consumption the replay left to its fill and never corrected has
    no row yet: its mass is the recorded one."""
    if (
        row.kind == ev.LoanConsumed.kind
        and store.consumptions_later
        and store.get(Consumption, row.seq) is None
    ):
        return int(payload["mass_ug"])
    return recorded_mass_ug(store, row.kind, row.seq, code)


_MASS_CORRECTORS_BY_KIND: dict[str, Callable[..., None]] = {
    ev.LoanConsumed.kind: _correct_consumption,
    ev.LoanReceived.kind: _correct_weighing,
    ev.SampleRegistered.kind: _correct_registration,
    ev.SampleSplit.kind: _correct_vault_split,
    ev.LoanSplit.kind: _correct_loan_split,
    ev.IncidentReported.kind: _correct_loss,
}


@applies(ev.MassCorrected)
def _mass_corrected(
    store: Projections, envelope: Envelope, event: ev.MassCorrected, t: Touched
) -> None:
    """A corrected mass supersedes the recorded one; the projections move by the difference.

    The corrected event stays as it was; a note beside it says old → new and why.
    """
    row = _corrected_row(store, envelope)
    payload = json.loads(row.payload)
    if MASS_WHAT.get(row.kind) != event.what:
        raise InvalidInput(f"event {row.seq} records no {event.what} mass to correct")
    if event.sample not in mass_samples(row.kind, payload):
        raise InvalidInput(f"event {row.seq} records no mass of sample {event.sample}")
    in_force_ug = _in_force_ug(store, row, payload, event.sample)
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
    _MASS_CORRECTORS_BY_KIND[row.kind](store, envelope, event, payload, t)
    text = mass_correction_text(
        event.what, event.sample, event.old_mass_ug, event.new_mass_ug, envelope.reason or ""
    )
    store.insert(Note, seq=envelope.seq, corrects_seq=row.seq, text=text)
    for subject_type, key in store.subjects_of(row.seq):
        store.index(envelope.seq, subject_type, key)
