"""The closed vocabularies of the ledger, one `StrEnum` each: a leaf every layer may import.

A member's value is exactly the text stored in the database and written into event payloads,
so a member and its string compare and hash equal and the chain never changes. The database's
CHECK constraints are generated from these enums (`models.py`, `sql_in`): no second list.
Members are listed in the order their CHECK constraint names them.
"""

from enum import StrEnum


class LoanStatus(StrEnum):
    """A loan's status, in lifecycle order (see `ledger/checks.py` for the moves between them)."""

    REQUESTED = "requested"
    APPROVED = "approved"
    ISSUED = "issued"
    IN_TRANSIT = "in_transit"
    RECEIVED = "received"
    RETURN_IN_TRANSIT = "return_in_transit"
    RETURNED = "returned"
    SETTLED = "settled"
    CLOSED = "closed"


ACTIVE_LOAN_STATUSES: tuple[LoanStatus, ...] = (
    LoanStatus.ISSUED,
    LoanStatus.IN_TRANSIT,
    LoanStatus.RECEIVED,
    LoanStatus.RETURN_IN_TRANSIT,
)
"""A loan that is out: issued and not yet back (a return in transit is still out)."""

ENDED_LOAN_STATUSES: tuple[LoanStatus, ...] = (
    LoanStatus.RETURNED,
    LoanStatus.SETTLED,
    LoanStatus.CLOSED,
)
"""A loan that is over: all back (or none left to send back); its due date no longer binds."""


class CustodyState(StrEnum):
    """Where a sample is: in the vault, on its way or held by a borrower, or given away."""

    VAULT = "vault"
    ISSUED = "issued"
    IN_TRANSIT = "in_transit"
    HELD = "held"
    RETURN_IN_TRANSIT = "return_in_transit"
    TRANSFERRED = "transferred"
    # a sample lent whole whose held mass all went one way stays named after where it went
    CONSUMED = "consumed"
    LOST = "lost"
    SPLIT = "split"


class ItemState(StrEnum):
    """Where one sample of a loan is, as far as that loan is concerned."""

    REQUESTED = "requested"
    # requested, never issued: its loan was withdrawn (`loans withdraw`)
    WITHDRAWN = "withdrawn"
    ISSUED = "issued"
    IN_TRANSIT = "in_transit"
    HELD = "held"
    RETURN_IN_TRANSIT = "return_in_transit"
    RETURNED = "returned"
    # held mass all gone one way (see `ledger/apply.py`, `_LEFT_BORROWER`)
    CONSUMED = "consumed"
    LOST = "lost"
    SPLIT = "split"


class ItemSource(StrEnum):
    """How a sample joined a loan: issued by the curator, or split off by the borrower."""

    ISSUED = "issued"
    BORROWER_SPLIT = "borrower_split"


class Role(StrEnum):
    """What a registered person may do."""

    CURATOR = "curator"
    COMPLIANCE_OFFICER = "compliance_officer"
    RESEARCHER = "researcher"


class InstitutionKind(StrEnum):
    """What an institution is to the collection (a recipient receives gifts, never borrows)."""

    LENDER = "lender"
    CURATOR = "curator"
    BORROWER = "borrower"
    RECIPIENT = "recipient"


class AgreementStatus(StrEnum):
    """A loan agreement's status."""

    PENDING = "pending"
    SIGNED = "signed"
    EXPIRED = "expired"
    TERMINATED = "terminated"


class PurposeClass(StrEnum):
    """What a sample is kept for; permanent and backup material is never lent."""

    PERMANENT = "permanent"
    BACKUP = "backup"
    RESEARCH = "research"
    PUBLIC_WELFARE = "public_welfare"


class TransferType(StrEnum):
    """The kind of a loan request."""

    LOAN = "loan"
    GIFT = "gift"
    EXHIBITION = "exhibition"


class Origin(StrEnum):
    """How a sample was collected."""

    SCOOP = "scoop"
    DRILL = "drill"


class RecordSource(StrEnum):
    """Where a sample's record comes from: published (real) or invented for the demo."""

    REAL = "real"
    ILLUSTRATIVE = "illustrative"


class ShipmentMethod(StrEnum):
    """How a sealed container travels."""

    COURIER = "courier"
    HAND_CARRIED = "hand_carried"
    DIPLOMATIC_POUCH = "diplomatic_pouch"
    POST = "post"


class Direction(StrEnum):
    """A shipment's direction: to the borrower, or back to the curator."""

    OUTBOUND = "outbound"
    RETURN = "return"


class IncidentKind(StrEnum):
    """What happened to a sample."""

    LOSS = "loss"
    THEFT = "theft"
    DAMAGE = "damage"


class IncidentStatus(StrEnum):
    """Whether an incident still freezes its sample."""

    OPEN = "open"
    RESOLVED = "resolved"


class CorrectedMass(StrEnum):
    """Which recorded mass a `mass.corrected` event supersedes."""

    CONSUMPTION = "consumption"
    WEIGHING = "weighing"
    REGISTRATION = "registration"
    SPLIT = "split"
    LOSS = "loss"


class SubjectType(StrEnum):
    """The kinds of record an event is indexed under (`event_subject`)."""

    SAMPLE = "sample"
    LOAN = "loan"
    INSTITUTION = "institution"
    AGREEMENT = "agreement"
    PERSON = "person"


STATE_WORDS: dict[str, str] = {
    # loans, loan items and samples (one word per value: a value means the same in each)
    LoanStatus.REQUESTED: "requested",
    LoanStatus.APPROVED: "approved",
    ItemState.WITHDRAWN: "withdrawn",
    LoanStatus.ISSUED: "issued",
    LoanStatus.IN_TRANSIT: "on its way to the borrower",
    LoanStatus.RECEIVED: "received by the borrower",
    ItemState.HELD: "held by the borrower",
    LoanStatus.RETURN_IN_TRANSIT: "on its way back to the lender",
    LoanStatus.RETURNED: "returned",
    LoanStatus.SETTLED: "settled",
    LoanStatus.CLOSED: "closed",
    CustodyState.VAULT: "in the vault",
    CustodyState.TRANSFERRED: "transferred for good",
    CustodyState.CONSUMED: "used up",
    CustodyState.LOST: "lost",
    CustodyState.SPLIT: "split whole into child samples",
    # agreements and incidents
    AgreementStatus.PENDING: "pending (not yet signed)",
    AgreementStatus.SIGNED: "signed",
    AgreementStatus.EXPIRED: "expired",
    AgreementStatus.TERMINATED: "terminated",
    IncidentStatus.OPEN: "open",
    IncidentStatus.RESOLVED: "resolved",
}
"""Each status and state in words that fit "loan L is …" / "sample S is …": every message
that names one says it through `state_words`, never the stored value ('return_in_transit')."""

STATE_VOCABULARIES: tuple[type[StrEnum], ...] = (
    LoanStatus,
    ItemState,
    CustodyState,
    AgreementStatus,
    IncidentStatus,
)
"""The vocabularies whose values `STATE_WORDS` words (a test keeps it complete)."""


def state_words(state: str) -> str:
    """A status or state in words for a sentence: 'return_in_transit' → 'on its way back to the
    lender'; a value no vocabulary knows (an edited ledger) is shown with spaces."""
    return STATE_WORDS.get(state, state.replace("_", " "))


def values(vocabulary: type[StrEnum]) -> tuple[str, ...]:
    """The stored texts of a vocabulary, in its declared order."""
    return tuple(member.value for member in vocabulary)


LOAN_STATUSES = values(LoanStatus)
"""A loan's statuses in lifecycle order. From `received` on, the status follows its items: it
stays `received` while the borrower holds anything, is `return_in_transit` only when everything
left is on its way back, and `returned` once nothing is held or travelling
(`ledger/checks.loan_status_of`)."""


def in_words(vocabulary: type[StrEnum]) -> str:
    """The words of a vocabulary as a user types them, for help: `curator, compliance-officer
    or researcher`."""
    *first, last = (value.replace("_", "-") for value in values(vocabulary))
    return f"{', '.join(first)} or {last}" if first else last


def sql_in(column: str, vocabulary: type[StrEnum]) -> str:
    """The SQL of a CHECK that `column` holds one of the vocabulary's values."""
    quoted = ", ".join("'" + value.replace("'", "''") + "'" for value in values(vocabulary))
    return f"{column} IN ({quoted})"


RESEARCHER_EVENT_KINDS = (
    "loan.received",
    "loan.consumed",
    "loan.split",
    "loan.inventory",
    "incident.reported",
)
"""The events a researcher records, on their own institution's loans only (the receipt of the
lender's shipment, not of a return): `verify`'s role check (`services/recorders.py`) and, on a
secured PostgreSQL ledger, their INSERT policy on `ledger_event` (`pgsecurity.py`) read this
one list. Event kinds, not a stored column's vocabulary: the `Event` classes name them."""


# The one table of event labels: what a person reads for each event kind in every table of the
# command line (`custody history`) and in every PDF (the custody and return reports, the
# statement). JSON and CSV keep the dotted kinds themselves.
EVENT_LABELS: dict[str, str] = {
    "ledger.created": "Ledger created",
    "institution.added": "Institution added",
    "institution.renamed": "Institution renamed",
    "institution.place_changed": "Institution place changed",
    "person.added": "Person added",
    "person.role_changed": "Role changed",
    "person.deactivated": "Person deactivated",
    "person.reactivated": "Person reactivated",
    "person.renamed": "Person renamed",
    "mission.added": "Mission added",
    "sample.registered": "Registration",
    "sample.moved": "Storage move",
    "sample.split": "Split",
    "sample.transferred": "Transferred",
    "agreement.created": "Agreement drafted",
    "agreement.signed": "Agreement signed",
    "agreement.ended": "Agreement ended",
    "loan.requested": "Loan requested",
    "loan.approved": "Loan approved",
    "loan.issued": "Issue from vault",
    "loan.consumed": "Analysis",
    "loan.split": "Split by borrower",
    "loan.inventory": "Inventory attested",
    "loan.extended": "Extension",
    "loan.recalled": "Recall",
    "loan.settled": "Settlement",
    "loan.closed": "Loan closed",
    "loan.withdrawn": "Loan withdrawn",
    "incident.reported": "Incident",
    "incident.resolved": "Incident resolved",
    "event.corrected": "Correction",
    "mass.corrected": "Mass corrected",
}
"""The label of every kind but the hand-overs of a shipment, whose label says its direction."""

HANDOVER_LABELS: dict[tuple[str, Direction], str] = {
    ("loan.shipped", Direction.OUTBOUND): "Shipment",
    ("loan.shipped", Direction.RETURN): "Return shipped",
    ("loan.received", Direction.OUTBOUND): "Receipt",
    ("loan.received", Direction.RETURN): "Return accepted",
}
"""The label of a shipment's two events, by the shipment's direction."""


def event_label(kind: str, direction: str = Direction.OUTBOUND) -> str:
    """What a person reads for an event kind ('loan.received' of a return → 'Return
    accepted'); `direction` matters only for a shipment's events. A kind no table knows yet
    (added later) in its own words, never its dotted name."""
    label = HANDOVER_LABELS.get((kind, Direction(direction))) or EVENT_LABELS.get(kind)
    if label is None:
        label = kind.rpartition(".")[2].replace("_", " ").capitalize()
    return label
