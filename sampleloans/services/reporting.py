"""Read models of the PDF reports: frozen dataclasses built from the ledger's projections.

A report is fully determined by its request (kind and scope), the ledger up to a seq, and its
`generated_at` (used as "now" for days late and due dates). `content_digest` hashes the
canonical JSON of that read model (not the PDF bytes), so `verify-document` can rebuild the
same model from a replay of the ledger up to the printed head and compare digests.
"""

import hashlib
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from functools import cache, cached_property
from typing import Any

from sqlmodel import Session, col, select

from sampleloans.dates import days_between, format_datetime, from_iso, to_iso
from sampleloans.errors import InvalidInput, NotFound
from sampleloans.ledger import replay, store
from sampleloans.ledger.envelope import Context
from sampleloans.models import (
    Agreement,
    Consumption,
    EventSubject,
    Incident,
    Institution,
    LedgerEvent,
    Loan,
    LoanItem,
    Note,
    Person,
    Sample,
    Shipment,
    Weighing,
)
from sampleloans.services import access
from sampleloans.services.common import get_institution, get_loan, get_sample
from sampleloans.services.handover import (
    HANDOVER_KINDS,
    Handover,
    handover_of,
    is_backdated,
    label,
    receiver_label,
)
from sampleloans.services.history import (
    describe_payload,
    lineage,
)
from sampleloans.services.queries import ACTIVE_LOAN_STATUSES

KINDS = ("custody", "return", "overdue", "inventory")
EVENT_BATCH = 1000  # ledger rows fetched at a time while a custody report reads its events
TITLES = {
    "custody": "Chain-of-custody report",
    "return": "Sample return report (F-75)",
    "overdue": "Notice of overdue obligations",
    "inventory": "Inventory statement",
}
RESPOND_WITHIN_DAYS = 14  # an overdue notice asks for the return or an extension request by then
EVENT_LABELS = {
    # what a reader of a form sees for each event kind (never the ledger's dotted name)
    "ledger.created": "Ledger created",
    "institution.added": "Institution added",
    "person.added": "Person added",
    "person.role_changed": "Role changed",
    "person.deactivated": "Person deactivated",
    "person.reactivated": "Person reactivated",
    "mission.added": "Mission added",
    "sample.registered": "Registration",
    "sample.moved": "Storage move",
    "sample.split": "Split",
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
    "incident.reported": "Incident",
    "incident.resolved": "Incident resolved",
    "event.corrected": "Correction",
}
HANDOVER_LABELS = {
    # (kind, shipment direction) of the hand-over events
    ("loan.shipped", "outbound"): "Shipment",
    ("loan.shipped", "return"): "Return shipped",
    ("loan.received", "outbound"): "Receipt",
    ("loan.received", "return"): "Return accepted",
}


@dataclass(frozen=True)
class ReportRequest:
    """What a report covers: its kind and exactly one scope, optionally as of a moment."""

    kind: str
    loan: str | None = None
    sample: str | None = None
    institution: str | None = None
    as_of: str | None = None  # ISO text; custody only

    @property
    def scope(self) -> str:
        """`loan:NUMBER`, `sample:CODE` or `institution:SHORT`."""
        for name in ("loan", "sample", "institution"):
            value = getattr(self, name)
            if value:
                return f"{name}:{value}"
        return ""


@dataclass(frozen=True)
class Party:
    """One party named on a report."""

    role: str
    name: str
    detail: str


@dataclass(frozen=True)
class AgreementInfo:
    """An agreement and its terms, as labelled lines."""

    number: str
    status: str
    signed_at: datetime | None
    signed_by: str | None
    terms: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ItemRow:
    """One sample in a report's items table."""

    code: str
    description: str
    loan: str
    issued_ug: int
    held_ug: int
    custodian: str
    state: str


@dataclass(frozen=True, slots=True)
class CustodyRow:
    """One ledger event in the chain of custody."""

    seq: int
    occurred_at: datetime
    kind: str
    label: str  # what a reader sees for the kind: "Receipt", "Return accepted" (EVENT_LABELS)
    released_by: str
    received_by: str
    location: str
    container: str
    seal: str
    seal_intact: str
    mass_ug: int | None
    condition: str
    recorded_by: str
    os_user: str  # the operating-system account that recorded the event
    description: str
    flag: str  # "" | gap | discrepancy | incident | correction
    recorded_at: datetime | None = None
    backdated: bool = False  # recorded over an hour after it occurred: both times are shown
    courier: str = ""
    witness: str = ""
    handover: Handover | None = None  # the persons of a hand-over (issue, ship, receive, …)


@dataclass(frozen=True, slots=True)
class Finding:
    """A gap, discrepancy or incident a reviewer must see."""

    seq: int
    kind: str
    text: str


@dataclass(frozen=True)
class Overdue:
    """A loan whose return is past due at the report's moment."""

    loan: str
    due_at: datetime
    days_late: int


@dataclass(frozen=True)
class CustodyBody:
    """The custody report's content."""

    overdue: tuple[Overdue, ...]
    parties: tuple[Party, ...]
    agreements: tuple[AgreementInfo, ...]
    items: tuple[ItemRow, ...]
    events: tuple[CustodyRow, ...]
    findings: tuple[Finding, ...]


@dataclass(frozen=True)
class Analysis:
    """One analysis that consumed mass."""

    seq: int
    occurred_at: datetime
    technique: str
    destructive: bool
    mass_ug: int


@dataclass(frozen=True)
class ReturnLine:
    """One item of a loan on the return form, term by term (as a line of `balance --loan`)."""

    code: str
    split_from: str  # the parent of a borrower's split (a continuation item), else ""
    description: str
    issued_ug: int
    transferred_ug: int
    consumed_ug: int
    analyses: tuple[Analysis, ...]
    returned_now_ug: int
    returned_before_ug: int
    split_ug: int
    lost_ug: int
    remaining_ug: int


@dataclass(frozen=True)
class SplitLine:
    """A split the borrower made, with its fate."""

    code: str
    parent: str
    mass_ug: int
    consumed_ug: int
    returned_ug: int
    lost_ug: int
    remaining_ug: int
    fate: str


@dataclass(frozen=True)
class ReturnBody:
    """The return report's content (NASA F-75 counterpart)."""

    loan: str
    status: str
    overdue: tuple[Overdue, ...]
    parties: tuple[Party, ...]
    agreement: AgreementInfo
    lines: tuple[ReturnLine, ...]
    total: ReturnLine  # net of the borrower's splits within the loan, as `balance --loan`
    splits: tuple[SplitLine, ...]
    conditions: tuple[Finding, ...]
    findings: tuple[Finding, ...]


@dataclass(frozen=True)
class OverdueLine:
    """One overdue obligation."""

    loan: str
    pi: str  # the PI's name
    agreement: str
    what: str  # return | inventory
    due_at: datetime
    days_late: int
    held_ug: int


@dataclass(frozen=True)
class OverdueBody:
    """The overdue notice's content."""

    institution: Party
    addressees: tuple[Party, ...]  # each PI named in the notice: name, e-mail, institution
    respond_by: datetime  # RESPOND_WITHIN_DAYS after generation
    clauses: tuple[Party, ...]  # per agreement: number, and its loan-period and extension terms
    lines: tuple[OverdueLine, ...]
    actions: tuple[str, ...]


@dataclass(frozen=True)
class InventoryBody:
    """The inventory statement's content."""

    loan: str
    status: str
    overdue: tuple[Overdue, ...]
    parties: tuple[Party, ...]
    due_at: datetime | None
    last_inventory_at: datetime | None
    next_inventory_due_at: datetime | None
    items: tuple[ItemRow, ...]
    held_ug: int


@dataclass(frozen=True)
class Report:
    """A report's read model: request, title, the ledger head it reads, and its content."""

    request: ReportRequest
    title: str
    scope_label: str
    generated_at: datetime
    head_seq: int
    head_hash: str
    body: CustodyBody | ReturnBody | OverdueBody | InventoryBody

    @cached_property
    def digest(self) -> str:
        """sha256 of the canonical JSON of the content (the head is printed beside it)."""
        return content_digest(self)

    @property
    def head(self) -> str:
        """`SEQ:HASH`."""
        return f"{self.head_seq}:{self.head_hash}"


_ATOMS = (str, int, float, type(None), datetime)


def _plain(value: Any) -> Any:
    """`dataclasses.asdict` for the read models, without its deep copies (same JSON)."""
    if isinstance(value, _ATOMS):
        return value
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return {name: _plain(getattr(value, name)) for name in _field_names(type(value))}


@cache
def _field_names(cls: type) -> tuple[str, ...]:
    """The field names of a dataclass, in order."""
    return tuple(f.name for f in fields(cls))


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return to_iso(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


_JSON = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default
)


def _canonical_parts(value: Any) -> Iterator[str]:
    """Sorted-key compact JSON of a read model (dataclasses as objects), in pieces.

    The pieces joined are `json.dumps(_plain(value), sort_keys=True, separators=(",", ":"),
    ensure_ascii=False)`; a list is written item by item, so a report of 100,000 events never
    holds the JSON of all of them at once.
    """
    if isinstance(value, (tuple, list)):
        yield "["
        for index, item in enumerate(value):
            if index:
                yield ","
            yield _JSON.encode(_plain(item))
        yield "]"
    elif isinstance(value, dict) or not isinstance(value, _ATOMS):
        pairs = value if isinstance(value, dict) else _plain_fields(value)
        yield "{"
        for index, key in enumerate(sorted(pairs)):
            yield ("," if index else "") + _JSON.encode(key) + ":"
            yield from _canonical_parts(pairs[key])
        yield "}"
    else:
        yield _JSON.encode(value)


def _plain_fields(value: Any) -> dict[str, Any]:
    """A dataclass's fields by name, values as they are."""
    return {name: getattr(value, name) for name in _field_names(type(value))}


def _canonical_data(report: Report) -> dict[str, Any]:
    """What the content digest covers."""
    return {
        "request": report.request,
        "title": report.title,
        "scope": report.scope_label,
        "generated_at": report.generated_at,
        "body": report.body,
    }


def canonical_content(report: Report) -> str:
    """Sorted-key compact JSON of everything a report says except the ledger head."""
    return "".join(_canonical_parts(_canonical_data(report)))


def content_digest(report: Report) -> str:
    """The content digest printed on every page and stored in the PDF metadata."""
    digest = hashlib.sha256()
    for part in _canonical_parts(_canonical_data(report)):
        digest.update(part.encode("utf-8"))
    return digest.hexdigest()


# --- entry points ---------------------------------------------------------------------------


def make_request(
    kind: str,
    *,
    loan: str | None = None,
    sample: str | None = None,
    institution: str | None = None,
    as_of: datetime | None = None,
) -> ReportRequest:
    """Validate which scopes a kind accepts."""
    if kind not in KINDS:
        raise InvalidInput(f"report kind {kind!r} is not one of {', '.join(KINDS)}")
    given = [
        name
        for name, value in (("loan", loan), ("sample", sample), ("institution", institution))
        if value
    ]
    allowed = {"custody": ("loan", "sample", "institution"), "overdue": ("institution",)}.get(
        kind, ("loan",)
    )
    if len(given) != 1 or given[0] not in allowed:
        options = " or ".join(f"--{a}" for a in allowed)
        raise InvalidInput(f"report {kind}: give exactly one of {options}")
    if as_of is not None and kind != "custody":
        raise InvalidInput(f"--as-of: only the custody report takes it, not {kind}")
    return ReportRequest(
        kind=kind,
        loan=loan,
        sample=sample,
        institution=institution,
        as_of=to_iso(as_of) if as_of is not None else None,
    )


def check_access(session: Session, ctx: Context, request: ReportRequest) -> None:
    """Curators and compliance officers read every report; researchers their own institution."""
    person = access.reader(session, ctx)
    if request.loan:
        access.readable_loan(session, person, request.loan)
    elif request.sample:
        # a lineage spans other institutions' loans (siblings, earlier borrowers): staff only
        access.require_staff(person, "print a sample lineage's custody report")
        get_sample(session, request.sample)
    else:
        access.readable_institution(session, person, request.institution or "")


def build_report(
    session: Session, ctx: Context, request: ReportRequest, *, generated_at: datetime
) -> Report:
    """The report's read model at the ledger's head (or as of `request.as_of`)."""
    check_access(session, ctx, request)
    if generated_at > ctx.now:
        raise InvalidInput("--generated-at: is in the future; a report is dated when it is made")
    if request.as_of is not None:
        as_of = from_iso(request.as_of)
        if as_of > ctx.now:
            raise InvalidInput("--as-of: is in the future; give a moment up to now")
        cut = replay.as_of(session, as_of)
        return rebuild_at(session, ctx, request, cut.up_to_seq or 0, generated_at)
    return _build(session, request, generated_at)


def rebuild_at(
    session: Session, ctx: Context, request: ReportRequest, seq: int, generated_at: datetime
) -> Report:
    """The same report built from a replay of the ledger up to `seq` (in memory); a report as
    of a moment takes the ledger as it stood then (`ledger/replay.py`), whose head is `seq`."""
    check_access(session, ctx, request)
    moment = from_iso(request.as_of) if request.as_of is not None else None
    with replay.ledger_at(session, replay.Cut(up_to_seq=seq, occurred_by=moment)) as past:
        return _build(past, request, generated_at)


def hash_at(session: Session, seq: int) -> str | None:
    """The hash of event `seq`, or None when the ledger has no such event."""
    row = session.get(LedgerEvent, seq)
    return None if row is None else row.hash


def _build(session: Session, request: ReportRequest, generated_at: datetime) -> Report:
    head_seq, head_hash = store.head(session)
    builders = {
        "custody": _custody,
        "return": _return,
        "overdue": _overdue,
        "inventory": _inventory,
    }
    try:
        body, label = builders[request.kind](session, request, generated_at)
    except NotFound as exc:
        raise NotFound(f"{exc} (in the ledger up to event {head_seq})") from None
    if request.as_of:
        label += f", as of {format_datetime(from_iso(request.as_of))}"
    return Report(
        request=request,
        title=TITLES[request.kind],
        scope_label=label,
        generated_at=generated_at,
        head_seq=head_seq,
        head_hash=head_hash,
        body=body,
    )


# --- shared pieces ----------------------------------------------------------------------------


def _institution_party(session: Session, role: str, short: str | None) -> Party:
    inst = session.get(Institution, short) if short else None
    if inst is None:
        return Party(role, short or "—", "")
    return Party(role, inst.name, f"{inst.short_name}, {inst.city}, {inst.country}")


def _overdue_returns(loans: list[Loan], at: datetime) -> tuple[Overdue, ...]:
    """The loans among `loans` still out whose return was due before `at`."""
    return tuple(
        Overdue(loan.number, loan.due_at, days_between(loan.due_at, at))
        for loan in sorted(loans, key=lambda loan: loan.number)
        if loan.status in ACTIVE_LOAN_STATUSES and loan.due_at is not None and loan.due_at < at
    )


def _person_party(session: Session, role: str, email: str) -> Party:
    person = session.get(Person, email)
    if person is None:
        return Party(role, email, "")
    return Party(role, person.name, f"{person.email}, {person.institution}")


def _lender(session: Session) -> str | None:
    return session.exec(
        select(Institution.short_name)
        .where(Institution.kind == "lender")
        .order_by(Institution.short_name)
    ).first()


def _loan_parties(session: Session, loan: Loan) -> list[Party]:
    return [
        _institution_party(session, "Lender", _lender(session)),
        _institution_party(session, "Curator", loan.curator),
        _institution_party(session, "Borrowing institution", loan.institution),
        _person_party(session, "Principal investigator", loan.pi_email),
    ]


def _parties_of_loans(session: Session, loans: list[Loan]) -> list[Party]:
    """The parties of several loans (a lineage lent more than once): each borrower by loan,
    never the first loan's borrower standing for all of them."""
    curators = sorted({loan.curator for loan in loans if loan.curator})
    parties = [_institution_party(session, "Lender", _lender(session))]
    parties += [_institution_party(session, "Curator", short) for short in curators]
    for loan in loans:
        parties.append(
            _institution_party(session, f"Borrowing institution, {loan.number}", loan.institution)
        )
        parties.append(
            _person_party(session, f"Principal investigator, {loan.number}", loan.pi_email)
        )
    return parties


def _agreement_info(agreement: Agreement) -> AgreementInfo:
    from sampleloans.units import format_mass, format_period

    terms = (
        ("Term", format_period(agreement.term)),
        ("Expires", format_datetime(agreement.expires_at) if agreement.expires_at else "—"),
        ("Maximum total mass", format_mass(agreement.max_total_mass_ug)),
        ("Purposes allowed", agreement.allowed_purposes.replace(",", ", ")),
        ("Destructive use", "allowed" if agreement.destructive_use_allowed else "not allowed"),
        ("Onward transfer", "allowed" if agreement.onward_transfer_allowed else "not allowed"),
        ("Maximum loan period", format_period(agreement.max_loan_period)),
        (
            "Extensions",
            f"up to {agreement.max_extensions} of {format_period(agreement.max_extension_period)}",
        ),
        ("Inventory interval", format_period(agreement.inventory_interval)),
    )
    return AgreementInfo(
        number=agreement.number,
        status=agreement.status,
        signed_at=agreement.signed_at,
        signed_by=agreement.signed_by,
        terms=terms,
    )


def _description(sample: Sample | None) -> str:
    if sample is None:
        return ""
    return f"{sample.material_type} {sample.physical_form}, {sample.mission} {sample.origin}"


def _item_custodian(session: Session, item: LoanItem, sample: Sample | None) -> str:
    """Who holds a loan item for this loan: the sample's custodian while it is on this loan;
    once back, the loan's curator (the sample may be on another institution's loan by now)."""
    if sample is not None and sample.loan_number == item.loan_number:
        return sample.custodian
    loan = session.get(Loan, item.loan_number)
    return (loan.curator or "") if loan is not None else ""


def _item_rows(session: Session, items: list[LoanItem]) -> list[ItemRow]:
    rows = []
    for item in items:
        sample = session.get(Sample, item.sample_code)
        rows.append(
            ItemRow(
                code=item.sample_code,
                description=_description(sample),
                loan=item.loan_number,
                issued_ug=item.issued_ug,
                held_ug=item.held_ug,
                custodian=_item_custodian(session, item, sample),
                state=item.state,
            )
        )
    return rows


# --- custody --------------------------------------------------------------------------------


def _custody(session: Session, request: ReportRequest, now: datetime) -> tuple[CustodyBody, str]:
    loans: list[Loan]
    if request.loan:
        loans = [get_loan(session, request.loan)]
        subject_type, keys = "loan", [request.loan]
        label = f"loan {request.loan}"
    elif request.sample:
        codes = lineage(session, request.sample)
        subject_type, keys = "sample", codes
        numbers = set(
            session.exec(
                select(LoanItem.loan_number).where(col(LoanItem.sample_code).in_(codes))
            ).all()
        )
        loans = list(
            session.exec(select(Loan).where(col(Loan.number).in_(numbers)).order_by(Loan.number))
        )
        count = f"{len(codes)} sample" + ("" if len(codes) == 1 else "s")
        label = f"sample {request.sample} and its lineage ({count})"
    else:
        short = get_institution(session, request.institution or "").short_name
        subject_type, keys = "institution", [short]
        loans = list(
            session.exec(select(Loan).where(Loan.institution == short).order_by(Loan.number))
        )
        label = f"institution {short}"
    parties: list[Party] = []
    agreements: list[AgreementInfo] = []
    if request.institution:
        parties = [
            _institution_party(session, "Lender", _lender(session)),
            _institution_party(session, "Borrowing institution", keys[0]),
        ]
    elif len(loans) == 1:
        parties = _loan_parties(session, loans[0])
    elif loans:
        parties = _parties_of_loans(session, loans)
    if request.sample:
        first = get_sample(session, keys[0])
        parties.insert(
            0, _institution_party(session, "Custodian of the lineage root", first.custodian)
        )
    for number in sorted({loan.agreement for loan in loans}):
        agreement = session.get(Agreement, number)
        if agreement is not None:
            agreements.append(_agreement_info(agreement))
    numbers = [loan.number for loan in loans]
    item_query = select(LoanItem).where(col(LoanItem.loan_number).in_(numbers))
    if request.sample:
        item_query = item_query.where(col(LoanItem.sample_code).in_(keys))
    items = _item_rows(
        session, list(session.exec(item_query.order_by(LoanItem.sample_code, LoanItem.loan_number)))
    )
    if request.sample:
        on_loan = {i.code for i in items}
        for code in keys:
            if code not in on_loan:
                sample = get_sample(session, code)
                items.append(
                    ItemRow(
                        code=code,
                        description=_description(sample),
                        loan="—",
                        issued_ug=0,
                        held_ug=sample.vault_ug,
                        custodian=sample.custodian,
                        state=sample.custody_state,
                    )
                )
        items.sort(key=lambda i: (i.code, i.loan))
    # a lineage report sees only its own samples' events: track (and judge) only those
    tracked = set(keys) if request.sample else None
    events, findings = _custody_rows(session, subject_type, keys, numbers, tracked)
    # judged at the moment the report shows: its --as-of, else its generation time
    at = from_iso(request.as_of) if request.as_of else now
    body = CustodyBody(
        overdue=_overdue_returns(loans, at),
        parties=tuple(parties),
        agreements=tuple(agreements),
        items=tuple(items),
        events=tuple(events),
        findings=tuple(findings),
    )
    return body, label


class Holders:
    """Who holds each sample, replayed from a report's events: per sample, never per loan.

    A loan's samples part ways (a partial return, a borrower's split), so only the samples a
    shipment names change hands with it. `tracked` limits the replay to the samples whose every
    event the report reads (a lineage report does not read its siblings' return trips); None
    tracks every sample named.
    """

    def __init__(self, tracked: set[str] | None = None) -> None:
        self.tracked = tracked
        self.holder: dict[str, str] = {}
        self.shipment_samples: dict[int, list[str]] = {}

    def _mine(self, codes: list[str]) -> list[str]:
        """The codes this replay follows."""
        return [c for c in codes if self.tracked is None or c in self.tracked]

    def place(self, codes: list[str], holder: str) -> None:
        """The samples are now held by `holder` (registered, issued or received)."""
        for code in self._mine(codes):
            self.holder[code] = holder

    def split(self, parent: str, children: list[str]) -> None:
        """Split children start where their parent is."""
        where = self.holder.get(parent)
        if where is not None:
            self.place(children, where)

    def ship(self, seq: int, codes: list[str], sender: str, receiver: str) -> list[tuple[str, str]]:
        """Record a shipment; return (sample, last holder) for each sample the sender did not
        hold."""
        self.shipment_samples[seq] = list(codes)
        gaps = []
        for code in self._mine(codes):
            expected = self.holder.get(code)
            if expected is not None and expected != sender:
                gaps.append((code, expected))
            self.holder[code] = f"in transit to {receiver}"
        return gaps

    def receive(self, shipment_seq: int, weighed: list[str], receiver: str) -> None:
        """The receiver now holds every sample of the shipment."""
        self.place(self.shipment_samples.get(shipment_seq, weighed), receiver)


def _custody_rows(
    session: Session,
    subject_type: str,
    keys: list[str],
    loan_numbers: list[str],
    tracked: set[str] | None = None,
) -> tuple[list[CustodyRow], list[Finding]]:
    """Every event of the scope in seq order: one streamed query, no per-event look-up."""
    in_scope = select(EventSubject.seq).where(
        EventSubject.subject_type == subject_type, col(EventSubject.subject_key).in_(keys)
    )
    shipments = {
        s.seq: s
        for s in session.exec(select(Shipment).where(col(Shipment.loan_number).in_(loan_numbers)))
    }
    weighings: dict[int, list[Weighing]] = {}
    for w in session.exec(
        select(Weighing)
        .where(col(Weighing.loan_number).in_(loan_numbers))
        .order_by(Weighing.seq, Weighing.sample_code)
    ):
        if tracked is None or w.sample_code in tracked:
            weighings.setdefault(w.seq, []).append(w)
    holders = Holders(tracked)
    rows: list[CustodyRow] = []
    findings: list[Finding] = []
    events = session.exec(
        select(
            LedgerEvent.seq,
            LedgerEvent.kind,
            LedgerEvent.payload,
            LedgerEvent.occurred_at,
            LedgerEvent.recorded_at,
            LedgerEvent.actor,
            LedgerEvent.os_user,
            LedgerEvent.corrects_seq,
            LedgerEvent.reason,
        )
        .where(col(LedgerEvent.seq).in_(in_scope))
        .order_by(LedgerEvent.seq)
        .execution_options(yield_per=EVENT_BATCH)
    )
    for event in events:
        row, found = _custody_row(session, event, shipments, weighings, holders)
        rows.append(row)
        findings.extend(found)
    return rows, findings


def _custody_row(
    session: Session,
    event: Any,  # seq, kind, payload, occurred_at, recorded_at, actor, os_user, corrects_seq, …
    shipments: dict[int, Shipment],
    weighings: dict[int, list[Weighing]],
    holders: Holders,
) -> tuple[CustodyRow, list[Finding]]:
    p: dict[str, Any] = json.loads(event.payload)
    fields: dict[str, Any] = {
        "released_by": "",
        "received_by": "",
        "location": "",
        "container": "",
        "seal": "",
        "seal_intact": "",
        "mass_ug": None,
        "condition": "",
    }
    found: list[Finding] = []
    flag = ""
    kind = sys.intern(event.kind)  # a few kinds and actors recur on thousands of rows
    if kind == "sample.registered":
        holders.place([p["code"]], p["custodian"])
        fields.update(
            received_by=p["custodian"],
            location=p["storage_location"],
            mass_ug=p["mass_ug"],
            condition=p["condition"],
        )
    elif kind == "sample.moved":
        fields.update(location=p["storage_location"])
    elif kind == "sample.transferred":  # a gift: custody passes to the recipient for good
        codes = [c for c, _m in p["items"]]
        fields.update(
            released_by=holders.holder.get(codes[0], ""),
            received_by=p["recipient"],
            mass_ug=sum(int(m) for _c, m in p["items"]),
        )
        holders.place(codes, p["recipient"])
    elif kind == "sample.split":
        holders.split(p["parent"], [c for c, _m in p["children"]])
        fields.update(mass_ug=sum(int(m) for _c, m in p["children"]) + int(p["loss_ug"]))
    elif kind == "loan.issued":
        loan = session.get(Loan, p["number"])
        curator = loan.curator if loan and loan.curator else ""
        holders.place([c for c, _m in p["items"]], curator)
        fields.update(location=curator, mass_ug=sum(int(m) for _c, m in p["items"]))
    elif kind == "loan.shipped":
        shipment = shipments.get(event.seq)
        fields.update(container=p["container"], seal=p["seal_number"])
        if shipment is not None:
            fields.update(location=shipment.sender)
            for code, expected in holders.ship(
                event.seq, p["samples"], shipment.sender, shipment.receiver
            ):
                flag = "gap"
                found.append(
                    Finding(
                        event.seq,
                        "gap",
                        f"{shipment.sender} shipped {code} (loan {p['number']}) but its last "
                        f"recorded holder was {expected}",
                    )
                )
    elif kind == "loan.received":
        shipment = shipments.get(int(p["shipment_seq"]))
        weighed = weighings.get(event.seq, [])
        fields.update(
            seal_intact="yes" if p["seal_intact"] else "NO",
            condition=p["condition"],
            mass_ug=sum(int(m) for _c, m in p["weighed"]),
        )
        if shipment is not None:
            fields.update(
                location=shipment.receiver,
                container=shipment.container,
                seal=shipment.seal_number,
            )
            holders.receive(shipment.seq, [c for c, _m in p["weighed"]], shipment.receiver)
        if not p["seal_intact"]:
            flag = "discrepancy"
            found.append(
                Finding(event.seq, "seal", f"seal broken on receipt of loan {p['number']}")
            )
        for w in weighed:
            if w.expected_ug != w.weighed_ug:
                from sampleloans.units import format_mass

                flag = "discrepancy"
                diff = w.weighed_ug - w.expected_ug
                sign = "+" if diff > 0 else "−"
                found.append(
                    Finding(
                        event.seq,
                        "weighing",
                        f"{w.sample_code}: expected {format_mass(w.expected_ug)}, weighed "
                        f"{format_mass(w.weighed_ug)} ({sign}{format_mass(abs(diff))})",
                    )
                )
    elif kind in ("loan.consumed", "loan.split"):
        if kind == "loan.split":
            holders.split(p["parent"], [p["child"]])
        fields.update(mass_ug=p["mass_ug"])
        if kind == "loan.consumed":
            fields.update(condition=p["technique"] + (", destructive" if p["destructive"] else ""))
    elif kind == "loan.inventory":
        fields.update(mass_ug=sum(int(m) for _c, m in p["held"]))
    elif kind == "incident.reported":
        flag = "incident"
        fields.update(mass_ug=p.get("mass_lost_ug") or None)
        found.append(
            Finding(
                event.seq, "incident", f"{p['incident_kind']} on {p['sample']}: {p['description']}"
            )
        )
    elif kind == "event.corrected":
        flag = "correction"
    elif kind == "mass.corrected":
        flag = "correction"
        fields.update(mass_ug=p["new_mass_ug"])
    handover = handover_of(session, event) if kind in HANDOVER_KINDS else None
    if handover is not None:
        fields.update(_handover_fields(handover))
    occurred_at, recorded_at = from_iso(event.occurred_at), from_iso(event.recorded_at)
    description = describe_payload(session, kind, event.seq, event.corrects_seq, p)
    row = CustodyRow(
        seq=event.seq,
        occurred_at=occurred_at,
        kind=kind,
        label=event_label(kind, p, shipments, event.seq),
        recorded_by=sys.intern(event.actor),
        os_user=sys.intern(event.os_user),
        description=_with_reason(_with_persons(description, handover), kind, event.reason),
        flag=flag,
        recorded_at=recorded_at,
        backdated=is_backdated(occurred_at, recorded_at),
        handover=handover,
        **fields,
    )
    return row, found


def event_label(
    kind: str, payload: dict[str, Any], shipments: dict[int, Shipment], seq: int
) -> str:
    """What a reader sees for an event: a hand-over by its direction ("Receipt", "Return
    accepted"), any other kind by EVENT_LABELS, an unknown kind as plain words."""
    if kind in ("loan.shipped", "loan.received"):
        shipment = shipments.get(seq if kind == "loan.shipped" else int(payload["shipment_seq"]))
        direction = shipment.direction if shipment is not None else "outbound"
        return HANDOVER_LABELS[(kind, direction)]
    label = EVENT_LABELS.get(kind)
    if label is None:  # a kind added later: its words, never its dotted name
        label = kind.rpartition(".")[2].replace("_", " ").capitalize()
    return label


def _handover_fields(handover: Handover) -> dict[str, str]:
    """The recorded persons of a hand-over as the custody table's cells."""
    return {
        "released_by": label(handover.released_by),
        "received_by": receiver_label(handover.step, handover.received_by),
        "courier": handover.courier.label if handover.courier else "",
        "witness": handover.witness.label if handover.witness else "",
    }


def _with_persons(description: str, handover: Handover | None) -> str:
    """An event's description with who released, who received, the courier and the witness."""
    if handover is None:
        return description
    cells = _handover_fields(handover)
    text = f"{description}; released by {cells['released_by']} → received by {cells['received_by']}"
    for name in ("courier", "witness"):
        if cells[name]:
            text += f"; {name} {cells[name]}"
    return text


def _with_reason(description: str, kind: str, reason: str | None) -> str:
    """An event's description and the reason recorded with it (a correction's is its text)."""
    if not reason or kind == "event.corrected":
        return description
    return f"{description}; reason: {reason}"


# --- return (F-75) ------------------------------------------------------------------------------


def _return(session: Session, request: ReportRequest, now: datetime) -> tuple[ReturnBody, str]:
    loan = get_loan(session, request.loan or "")
    agreement = session.get(Agreement, loan.agreement)
    assert agreement is not None
    items = list(
        session.exec(
            select(LoanItem)
            .where(LoanItem.loan_number == loan.number)
            .order_by(LoanItem.sample_code)
        )
    )
    return_seqs = sorted(
        s.seq
        for s in session.exec(
            select(Shipment).where(
                Shipment.loan_number == loan.number, Shipment.direction == "return"
            )
        )
        if s.received_at is not None
    )
    accepted = {
        w.sample_code: w
        for w in session.exec(
            select(Weighing).where(Weighing.loan_number == loan.number).order_by(Weighing.seq)
        )
        if w.seq in _receipt_seqs(session, loan.number, return_seqs)
    }
    latest_receipt = max(_receipt_seqs(session, loan.number, return_seqs), default=None)
    lines, splits = [], []
    for item in items:
        analyses = tuple(
            Analysis(c.seq, c.occurred_at, c.technique, c.destructive, c.mass_ug)
            for c in session.exec(
                select(Consumption)
                .where(
                    Consumption.loan_number == loan.number,
                    Consumption.sample_code == item.sample_code,
                )
                .order_by(Consumption.seq)
            )
        )
        weighing = accepted.get(item.sample_code)
        now_ug = weighing.expected_ug if weighing and weighing.seq == latest_receipt else 0
        sample = session.get(Sample, item.sample_code)
        parent = ""
        if item.source == "borrower_split":
            parent = sample.parent_code if sample and sample.parent_code else ""
            splits.append(
                SplitLine(
                    code=item.sample_code,
                    parent=parent,
                    mass_ug=item.issued_ug,
                    consumed_ug=item.consumed_ug,
                    returned_ug=item.returned_ug,
                    lost_ug=item.lost_ug,
                    remaining_ug=item.held_ug,
                    fate=_fate(item),
                )
            )
        # every item is a line, continuations too: the form must agree with `balance --loan`
        lines.append(
            ReturnLine(
                code=item.sample_code,
                split_from=parent,
                description=_description(sample),
                issued_ug=item.issued_ug,
                transferred_ug=item.transferred_ug,
                consumed_ug=item.consumed_ug,
                analyses=analyses,
                returned_now_ug=now_ug,
                returned_before_ug=item.returned_ug - now_ug,
                split_ug=item.split_ug,
                lost_ug=item.lost_ug,
                remaining_ug=item.held_ug,
            )
        )
    conditions = [
        Finding(
            s.seq,
            s.direction,
            f"{s.direction} {s.container} seal {s.seal_number}: "
            + (
                f"received {format_datetime(s.received_at)}, seal "
                f"{'intact' if s.seal_intact else 'BROKEN'}, condition {s.condition_on_receipt}"
                if s.received_at
                else "not yet received"
            ),
        )
        for s in session.exec(
            select(Shipment).where(Shipment.loan_number == loan.number).order_by(Shipment.seq)
        )
    ]
    findings = _weighing_findings(session, loan.number)
    # only this loan's incidents: the same sample may have had others in the vault or on
    # another loan, which did not happen on this form's watch
    for incident in session.exec(
        select(Incident).where(Incident.loan_number == loan.number).order_by(Incident.seq)
    ):
        findings.append(
            Finding(
                incident.seq,
                "incident",
                f"{incident.kind} on {incident.sample_code}: {incident.description} "
                f"({incident.status}{': ' + incident.resolution if incident.resolution else ''})",
            )
        )
    for note in session.exec(select(Note).order_by(Note.seq)):
        if note.corrects_seq in {f.seq for f in findings}:
            findings.append(
                Finding(note.seq, "correction", f"of event {note.corrects_seq}: {note.text}")
            )
    body = ReturnBody(
        loan=loan.number,
        status=loan.status,
        overdue=_overdue_returns([loan], now),
        parties=tuple(_loan_parties(session, loan)),
        agreement=_agreement_info(agreement),
        lines=tuple(lines),
        total=_return_total(lines),
        splits=tuple(splits),
        conditions=tuple(conditions),
        findings=tuple(sorted(findings, key=lambda f: f.seq)),
    )
    return body, f"loan {loan.number}"


def _return_total(lines: list[ReturnLine]) -> ReturnLine:
    """The Total line, net of the borrower's splits within the loan (as `balance --loan`).

    A borrower's split moves mass from its parent's `split` term into a continuation line's
    `issued`; counting both would show more issued than the curator ever issued.
    """
    moved_ug = sum(line.issued_ug for line in lines if line.split_from)

    def total(name: str) -> int:
        return sum(getattr(line, name) for line in lines)

    return ReturnLine(
        code="Total",
        split_from="",
        description="",
        issued_ug=total("issued_ug") - moved_ug,
        transferred_ug=total("transferred_ug"),
        consumed_ug=total("consumed_ug"),
        analyses=(),
        returned_now_ug=total("returned_now_ug"),
        returned_before_ug=total("returned_before_ug"),
        split_ug=total("split_ug") - moved_ug,
        lost_ug=total("lost_ug"),
        remaining_ug=total("remaining_ug"),
    )


def _receipt_seqs(session: Session, number: str, return_shipments: list[int]) -> set[int]:
    """Seqs of the events that accepted a return shipment of a loan."""
    found = set()
    for event in session.exec(
        select(LedgerEvent)
        .join(EventSubject, col(EventSubject.seq) == col(LedgerEvent.seq))
        .where(
            LedgerEvent.kind == "loan.received",
            EventSubject.subject_type == "loan",
            EventSubject.subject_key == number,
        )
    ):
        if int(json.loads(event.payload)["shipment_seq"]) in return_shipments:
            found.add(event.seq)
    return found


def _fate(item: LoanItem) -> str:
    parts = [
        f"{name} {_mass(getattr(item, name + '_ug'))}"
        for name in ("consumed", "returned", "transferred", "lost", "held")
        if getattr(item, name + "_ug")
    ]
    return ", ".join(parts) or "nothing left"


def _mass(ug: int) -> str:
    from sampleloans.units import format_mass

    return format_mass(ug)


def _weighing_findings(session: Session, number: str) -> list[Finding]:
    return [
        Finding(
            w.seq,
            "weighing",
            f"{w.sample_code}: expected {_mass(w.expected_ug)}, weighed {_mass(w.weighed_ug)}",
        )
        for w in session.exec(
            select(Weighing).where(Weighing.loan_number == number).order_by(Weighing.seq)
        )
        if w.expected_ug != w.weighed_ug
    ]


# --- overdue and inventory ----------------------------------------------------------------------


def _overdue(session: Session, request: ReportRequest, now: datetime) -> tuple[OverdueBody, str]:
    short = get_institution(session, request.institution or "").short_name
    lines = []
    late_loans: list[Loan] = []
    for loan in session.exec(
        select(Loan)
        .where(Loan.institution == short, col(Loan.status).in_(ACTIVE_LOAN_STATUSES))
        .order_by(Loan.number)
    ):
        held = sum(
            i.held_ug
            for i in session.exec(select(LoanItem).where(LoanItem.loan_number == loan.number))
        )
        pi = session.get(Person, loan.pi_email)
        pi_name = pi.name if pi is not None else loan.pi_email
        for what, due in (("return", loan.due_at), ("inventory", loan.next_inventory_due_at)):
            if due is not None and due < now:
                days = days_between(due, now)
                lines.append(
                    OverdueLine(loan.number, pi_name, loan.agreement, what, due, days, held)
                )
                if loan not in late_loans:
                    late_loans.append(loan)
    lines.sort(key=lambda r: (-r.days_late, r.loan, r.what))
    respond_by = now + timedelta(days=RESPOND_WITHIN_DAYS)
    by = respond_by.date().isoformat()
    actions = []
    if any(line.what == "return" for line in lines):
        actions.append(
            f"By {by}, return the samples of every loan past due to the curator in a sealed "
            "container, or request an extension in writing under the agreement's extension "
            "clause below; do not use the samples further until then."
        )
    if any(line.what == "inventory" for line in lines):
        actions.append(
            f"By {by}, attest the inventory of every loan listed (what the PI holds, sample by "
            "sample)."
        )
    if lines:
        actions.append(
            "Until these obligations are met, no new material will be issued to the institution, "
            "and samples may be recalled."
        )
    else:
        actions.append("No obligation is overdue at the date of this notice; no action is needed.")
    body = OverdueBody(
        institution=_institution_party(session, "Institution", short),
        addressees=tuple(_addressees(session, late_loans)),
        respond_by=respond_by,
        clauses=tuple(_clauses(session, late_loans)),
        lines=tuple(lines),
        actions=tuple(actions),
    )
    return body, f"institution {short}"


def _addressees(session: Session, loans: list[Loan]) -> list[Party]:
    """Each PI of the late loans, once: name, then e-mail, institution, its city and country."""
    parties: list[Party] = []
    for email in sorted({loan.pi_email for loan in loans}):
        person = session.get(Person, email)
        if person is None:
            parties.append(Party("Principal investigator", email, ""))
            continue
        inst = session.get(Institution, person.institution)
        where = f"{inst.name}, {inst.city}, {inst.country}" if inst else person.institution
        parties.append(Party("Principal investigator", person.name, f"{email}; {where}"))
    return parties


def _clauses(session: Session, loans: list[Loan]) -> list[Party]:
    """The agreement terms the notice rests on: per agreement, its loan period and extensions."""
    from sampleloans.units import format_period

    clauses = []
    for number in sorted({loan.agreement for loan in loans}):
        agreement = session.get(Agreement, number)
        if agreement is None:
            continue
        used = ", ".join(
            f"{loan.number} has used {loan.extensions_granted} of {agreement.max_extensions}"
            for loan in loans
            if loan.agreement == number
        )
        clauses.append(
            Party(
                f"Agreement {number}",
                f"loans last at most {format_period(agreement.max_loan_period)}; up to "
                f"{agreement.max_extensions} extension(s) of at most "
                f"{format_period(agreement.max_extension_period)} each, requested in writing "
                "before the return is due",
                f"signed {format_datetime(agreement.signed_at)}; {used}"
                if agreement.signed_at
                else used,
            )
        )
    return clauses


def _inventory(
    session: Session, request: ReportRequest, now: datetime
) -> tuple[InventoryBody, str]:
    loan = get_loan(session, request.loan or "")
    items = list(
        session.exec(
            select(LoanItem)
            .where(LoanItem.loan_number == loan.number)
            .order_by(LoanItem.sample_code)
        )
    )
    rows = _item_rows(session, items)
    body = InventoryBody(
        loan=loan.number,
        status=loan.status,
        overdue=_overdue_returns([loan], now),
        parties=tuple(_loan_parties(session, loan)),
        due_at=loan.due_at,
        last_inventory_at=loan.last_inventory_at,
        next_inventory_due_at=loan.next_inventory_due_at,
        items=tuple(rows),
        held_ug=sum(i.held_ug for i in items),
    )
    return body, f"loan {loan.number}"
