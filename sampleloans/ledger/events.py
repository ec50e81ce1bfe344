"""The event kinds and their payloads: small frozen dataclasses, validated before appending.

A payload holds only what the event itself says; derived values (due dates, balances) are
computed by `apply` from the event and the projections, the same way during a replay.
"""

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

EVENT_TYPES: dict[str, type["Event"]] = {}


class CodeMass(NamedTuple):
    """One sample and a mass in micrograms, as a payload lists them.

    A tuple, so the canonical JSON writes it as the pair `[code, mass_ug]` that the ledger has
    always stored: the chain's bytes do not depend on it being a typed record in code.
    """

    code: str
    mass_ug: int


def _register(cls: type["Event"]) -> type["Event"]:
    """Remember an event class under its kind so a replay can rebuild it from JSON."""
    EVENT_TYPES[cls.kind] = cls
    return cls


@dataclass(frozen=True)
class Event:
    """Base of every event payload."""

    kind: ClassVar[str] = ""
    pair_fields: ClassVar[tuple[str, ...]] = ()
    """The fields holding `list[CodeMass]`, rebuilt as records when read back from JSON."""

    def to_payload(self) -> dict[str, Any]:
        """The JSON-ready payload: field name → value (the encoder writes tuples as lists)."""
        # a shallow mapping: asdict's recursive deep copy was a measurable share of bulk import
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}


def event_from_payload(kind: str, payload: dict[str, Any]) -> Event:
    """Rebuild an event from its stored kind and payload; unknown kinds or fields raise."""
    try:
        cls = EVENT_TYPES[kind]
    except KeyError:
        raise ValueError(f"unknown event kind {kind!r}") from None
    if cls.pair_fields:
        payload = dict(payload)
        for name in cls.pair_fields:
            if name in payload:
                payload[name] = [CodeMass._make(pair) for pair in payload[name]]
    try:
        return cls(**payload)
    except TypeError:
        raise ValueError(_payload_mismatch(cls, payload)) from None


def _payload_mismatch(cls: type[Event], payload: dict[str, Any]) -> str:
    """Which fields a stored payload lacks or has beyond its kind's, in words."""
    fields = {field.name for field in dataclasses.fields(cls)}
    required = {
        field.name
        for field in dataclasses.fields(cls)
        if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
    }
    missing, unknown = sorted(required - set(payload)), sorted(set(payload) - fields)
    parts = [f"lacks {', '.join(missing)}"] if missing else []
    # "no KIND event has", not "a KIND event does not have": "a agreement.created event"
    parts += [f"has fields no {cls.kind} event has ({', '.join(unknown)})"] if unknown else []
    found = " and ".join(parts) or "does not fit its fields"
    return f"the {cls.kind} payload {found}"


@_register
@dataclass(frozen=True)
class LedgerCreated(Event):
    """The first event of every ledger."""

    kind: ClassVar[str] = "ledger.created"
    ledger_id: str
    software: str


@_register
@dataclass(frozen=True)
class MissionAdded(Event):
    """A sample-return mission."""

    kind: ClassVar[str] = "mission.added"
    code: str
    name: str
    returned_at: str | None
    returned_mass_ug: int | None


@_register
@dataclass(frozen=True)
class InstitutionAdded(Event):
    """A lender, curator or borrowing institution."""

    kind: ClassVar[str] = "institution.added"
    short_name: str
    name: str
    country: str
    city: str
    institution_kind: str


@_register
@dataclass(frozen=True)
class PersonAdded(Event):
    """A person who may act, with a role."""

    kind: ClassVar[str] = "person.added"
    email: str
    name: str
    institution: str
    role: str


@_register
@dataclass(frozen=True)
class PersonDeactivated(Event):
    """A person may no longer act; their record and history stay (the reason is the envelope's)."""

    kind: ClassVar[str] = "person.deactivated"
    email: str


@_register
@dataclass(frozen=True)
class PersonReactivated(Event):
    """A deactivated person may act again (the reason is the envelope's)."""

    kind: ClassVar[str] = "person.reactivated"
    email: str


@_register
@dataclass(frozen=True)
class PersonRoleChanged(Event):
    """A person's role changes from `previous_role` to `role` (the reason is the envelope's)."""

    kind: ClassVar[str] = "person.role_changed"
    email: str
    previous_role: str
    role: str


@_register
@dataclass(frozen=True)
class InstitutionRenamed(Event):
    """An institution's registered name is put right (a typo); its short name stays its key
    (the reason is the envelope's)."""

    kind: ClassVar[str] = "institution.renamed"
    short_name: str
    previous_name: str
    name: str


@_register
@dataclass(frozen=True)
class InstitutionPlaceChanged(Event):
    """An institution's registered city and country are put right (a typo); the event names
    the place it replaces (the reason is the envelope's)."""

    kind: ClassVar[str] = "institution.place_changed"
    short_name: str
    previous_city: str
    previous_country: str
    city: str
    country: str


@_register
@dataclass(frozen=True)
class PersonRenamed(Event):
    """A person's registered name is put right (a typo); the e-mail stays their key (the reason
    is the envelope's)."""

    kind: ClassVar[str] = "person.renamed"
    email: str
    previous_name: str
    name: str


@_register
@dataclass(frozen=True)
class SampleRegistered(Event):
    """A sample enters the collection in the curator's vault."""

    kind: ClassVar[str] = "sample.registered"
    code: str
    mission: str
    origin: str
    depth_top_mm: int | None
    depth_bottom_mm: int | None
    material_type: str
    physical_form: str
    purpose_class: str
    storage_location: str
    condition: str
    record: str
    mass_ug: int
    custodian: str


@_register
@dataclass(frozen=True)
class SampleSplit(Event):
    """The curator splits children off a sample in the vault, with optional processing loss."""

    kind: ClassVar[str] = "sample.split"
    pair_fields: ClassVar[tuple[str, ...]] = ("children",)
    parent: str
    children: list[CodeMass]
    loss_ug: int


@_register
@dataclass(frozen=True)
class SampleMoved(Event):
    """A sample's storage location changes within the vault."""

    kind: ClassVar[str] = "sample.moved"
    code: str
    storage_location: str


@_register
@dataclass(frozen=True)
class SampleTransferred(Event):
    """Whole samples leave the collection for good: a gift to a recipient institution.

    Not a loan: nothing is due back. Ownership and custody pass to `recipient`; `reference`
    names the document (decree, hand-over protocol) the transfer rests on.
    """

    kind: ClassVar[str] = "sample.transferred"
    pair_fields: ClassVar[tuple[str, ...]] = ("items",)
    recipient: str
    items: list[CodeMass]  # each sample's whole vault mass
    reference: str


@_register
@dataclass(frozen=True)
class AgreementCreated(Event):
    """A loan agreement is drafted with its terms (status pending)."""

    kind: ClassVar[str] = "agreement.created"
    number: str
    institution: str
    term: str
    max_total_mass_ug: int
    allowed_purposes: list[str]
    destructive_use_allowed: bool
    onward_transfer_allowed: bool
    max_loan_period: str
    max_extensions: int
    max_extension_period: str
    inventory_interval: str


@_register
@dataclass(frozen=True)
class AgreementSigned(Event):
    """The agreement is signed and comes into force for its term."""

    kind: ClassVar[str] = "agreement.signed"
    number: str
    signed_by: str


@_register
@dataclass(frozen=True)
class AgreementEnded(Event):
    """The agreement expired or was terminated; no new issues under it."""

    kind: ClassVar[str] = "agreement.ended"
    number: str
    status: str  # expired | terminated


@_register
@dataclass(frozen=True)
class LoanRequested(Event):
    """A PI's request for samples under an agreement."""

    kind: ClassVar[str] = "loan.requested"
    number: str
    agreement: str
    pi: str
    purpose_class: str
    transfer_type: str
    loan_period: str
    samples: list[str]


@_register
@dataclass(frozen=True)
class LoanApproved(Event):
    """The request is approved by a curator."""

    kind: ClassVar[str] = "loan.approved"
    number: str


@_register
@dataclass(frozen=True)
class LoanIssued(Event):
    """The samples leave the vault, whole, with the masses the ledger holds."""

    kind: ClassVar[str] = "loan.issued"
    pair_fields: ClassVar[tuple[str, ...]] = ("items",)
    number: str
    items: list[CodeMass]
    # who handed over to whom (absent in events written before: see services/handover.py)
    released_by: str | None = None
    received_by: str | None = None
    courier: str | None = None
    witness: str | None = None


@_register
@dataclass(frozen=True)
class LoanShipped(Event):
    """A sealed container is released: outbound to the borrower or returning to the curator."""

    kind: ClassVar[str] = "loan.shipped"
    number: str
    direction: str  # outbound | return
    container: str
    seal_number: str
    method: str
    samples: list[str]
    # who handed over to whom (absent in events written before: see services/handover.py)
    released_by: str | None = None
    received_by: str | None = None
    courier: str | None = None
    witness: str | None = None


@_register
@dataclass(frozen=True)
class LoanReceived(Event):
    """The container arrives: seal checked, condition noted, each sample weighed."""

    kind: ClassVar[str] = "loan.received"
    pair_fields: ClassVar[tuple[str, ...]] = ("weighed",)
    number: str
    shipment_seq: int
    seal_intact: bool
    condition: str
    weighed: list[CodeMass]  # each sample's weighed mass
    # who handed over to whom (absent in events written before: see services/handover.py)
    released_by: str | None = None
    received_by: str | None = None
    courier: str | None = None
    witness: str | None = None


@_register
@dataclass(frozen=True)
class LoanConsumed(Event):
    """Mass used up by one analysis."""

    kind: ClassVar[str] = "loan.consumed"
    number: str
    sample: str
    technique: str
    destructive: bool
    mass_ug: int


@_register
@dataclass(frozen=True)
class LoanSplit(Event):
    """The borrower splits a child off a loaned sample; the child joins the loan."""

    kind: ClassVar[str] = "loan.split"
    number: str
    parent: str
    child: str
    mass_ug: int


@_register
@dataclass(frozen=True)
class LoanExtended(Event):
    """The due date moves by a period, approved by a named person."""

    kind: ClassVar[str] = "loan.extended"
    number: str
    period: str
    approver: str


@_register
@dataclass(frozen=True)
class LoanRecalled(Event):
    """The lender recalls the loan; it is due by the given time."""

    kind: ClassVar[str] = "loan.recalled"
    number: str
    due_at: str


@_register
@dataclass(frozen=True)
class InventoryAttested(Event):
    """The PI attests what they hold; the next inventory falls due one interval later."""

    kind: ClassVar[str] = "loan.inventory"
    pair_fields: ClassVar[tuple[str, ...]] = ("held",)
    number: str
    held: list[CodeMass]  # what the PI holds of each sample
    note: str | None = None


@_register
@dataclass(frozen=True)
class LoanSettled(Event):
    """Every microgram is accounted for and the obligations are recorded."""

    kind: ClassVar[str] = "loan.settled"
    number: str
    obligations: str


@_register
@dataclass(frozen=True)
class LoanClosed(Event):
    """The settled loan is closed; nothing more can happen to it."""

    kind: ClassVar[str] = "loan.closed"
    number: str


@_register
@dataclass(frozen=True)
class LoanWithdrawn(Event):
    """A loan never issued is withdrawn (by its PI) or declined (by the lender): closed, its
    samples never left the vault; the reason is the envelope's."""

    kind: ClassVar[str] = "loan.withdrawn"
    number: str


@_register
@dataclass(frozen=True)
class IncidentReported(Event):
    """A loss, theft or damage; freezes the sample; lost mass is written off at once."""

    kind: ClassVar[str] = "incident.reported"
    sample: str
    loan: str | None
    incident_kind: str
    description: str
    mass_lost_ug: int = 0


@_register
@dataclass(frozen=True)
class IncidentResolved(Event):
    """An incident is resolved; the sample is no longer frozen by it."""

    kind: ClassVar[str] = "incident.resolved"
    incident_seq: int
    resolution: str


@_register
@dataclass(frozen=True)
class Correction(Event):
    """A note that corrects or annotates an earlier event (which stays as it was)."""

    kind: ClassVar[str] = "event.corrected"
    text: str


@_register
@dataclass(frozen=True)
class MassCorrected(Event):
    """A mass recorded by an earlier event (the envelope's `corrects_seq`) was wrong.

    `new_mass_ug` supersedes `old_mass_ug` for one sample of that event: the consumption, the
    weighing at a receipt, the registration, a split child's mass or an incident's lost mass
    (`what`). The earlier event
    stays as it was; the reason is the envelope's.
    """

    kind: ClassVar[str] = "mass.corrected"
    what: str  # consumption | weighing | registration | split | loss
    sample: str
    old_mass_ug: int
    new_mass_ug: int
