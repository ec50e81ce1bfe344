"""The chain-of-custody report's read model: every event of a loan, a sample's lineage or an
institution, with who held what, and the gaps, discrepancies and incidents a reviewer must see.
"""

import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from sampleloans.dates import from_iso
from sampleloans.ledger.payload import stored_payload
from sampleloans.models import (
    Agreement,
    EventSubject,
    LedgerEvent,
    Loan,
    LoanItem,
    Shipment,
    Weighing,
    byte_order,
)
from sampleloans.readmodels.handover import Handover, is_backdated, label, receiver_label
from sampleloans.readmodels.report import (
    BORROWER,
    CORRECTION_FLAG,
    LABELS_LAYOUT,
    PARTY_KIND_LAYOUT,
    WORDED_LAYOUT,
    AgreementInfo,
    CustodyBody,
    CustodyRow,
    Finding,
    ItemRow,
    Party,
    ReportRequest,
    Words,
    label_words,
    reworded,
    with_grouped_masses,
)
from sampleloans.services.borrower_mark import BorrowerMark
from sampleloans.services.common import get_institution, get_loan, get_sample
from sampleloans.services.handover import HANDOVER_KINDS, handover_of
from sampleloans.services.history import (
    EARLIER_WORDS,
    analysis_words,
    analysis_words_earlier,
    describe_earlier,
    describe_payload,
    lineage,
)
from sampleloans.services.reporting.parts import (
    agreement_info,
    description_of,
    institution_party,
    item_rows,
    lender,
    loan_parties,
    overdue_inventories,
    overdue_returns,
    parties_of_loans,
    recalls_of,
    weighing_words,
)
from sampleloans.text import counted
from sampleloans.vocab import Direction, InstitutionKind

EVENT_BATCH = 1000  # ledger rows fetched at a time while a custody report reads its events


@dataclass(frozen=True)
class _Scope:
    """What a custody report covers: the subjects whose events it reads, and their loans."""

    subject_type: str  # "loan", "sample" or "institution", as in EventSubject
    keys: list[str]  # the loan number, the lineage's sample codes or the institution
    loans: list[Loan]
    label: str  # printed under the title


def build(session: Session, request: ReportRequest, now: datetime) -> tuple[CustodyBody, str]:
    """The custody report's body and scope label: a loan, a sample's lineage or an institution."""
    scope = _scope_of(session, request)
    numbers = [loan.number for loan in scope.loans]
    items = _items(session, request, scope, numbers)
    # a lineage report sees only its own samples' events: track (and judge) only those
    tracked = set(scope.keys) if request.sample else None
    borrowers = BorrowerMark(session, scope.loans)
    events, findings = _custody_rows(
        session, scope.subject_type, scope.keys, numbers, tracked, borrowers
    )
    if request.audience == BORROWER:  # the lender's machines are not the borrower's business
        events = [replace(row, os_user="") for row in events]
    # judged at the moment the report shows: its --as-of, else its generation time
    at = from_iso(request.as_of) if request.as_of else now
    body = CustodyBody(
        overdue=overdue_returns(session, scope.loans, at),
        inventory_overdue=overdue_inventories(session, scope.loans, at),
        parties=tuple(_parties(session, request, scope)),
        agreements=tuple(_agreements(session, scope.loans)),
        items=tuple(items),
        events=tuple(events),
        findings=tuple(findings),
        recalls=recalls_of(session, numbers),
    )
    return body, scope.label


def _scope_of(session: Session, request: ReportRequest) -> _Scope:
    """The report's scope from its request: one loan, a sample's lineage or an institution."""
    if request.loan:
        loans = [get_loan(session, request.loan)]
        return _Scope("loan", [request.loan], loans, f"loan {request.loan}")
    if request.sample:
        return _lineage_scope(session, request.sample)
    short = get_institution(session, request.institution or "").short_name
    loans = list(
        session.exec(
            select(Loan).where(Loan.institution == short).order_by(byte_order(Loan.number))
        )
    )
    return _Scope("institution", [short], loans, f"institution {short}")


def _lineage_scope(session: Session, code: str) -> _Scope:
    """A sample, its splits and theirs, with every loan any of them was lent in."""
    codes = lineage(session, code)
    lent_in = set(
        session.exec(select(LoanItem.loan_number).where(col(LoanItem.sample_code).in_(codes))).all()
    )
    loans = list(
        session.exec(
            select(Loan).where(col(Loan.number).in_(lent_in)).order_by(byte_order(Loan.number))
        )
    )
    count = counted(len(codes), "sample")
    return _Scope("sample", codes, loans, f"sample {code} and its lineage ({count})")


def _parties(session: Session, request: ReportRequest, scope: _Scope) -> list[Party]:
    """The parties printed first: the lender and borrower, and a lineage's custodian."""
    loans = scope.loans
    parties: list[Party] = []
    if request.institution:
        parties = [
            institution_party(session, "Lender", lender(session)),
            institution_party(session, _scope_role(session, scope.keys[0]), scope.keys[0]),
        ]
    elif len(loans) == 1:
        parties = loan_parties(session, loans[0])
    elif loans:
        parties = parties_of_loans(session, loans)
    if request.sample:
        first = get_sample(session, scope.keys[0])
        parties.insert(
            0, institution_party(session, "Custodian of the lineage root", first.custodian)
        )
    return parties


# What the institution of an institution's report is to the collection, by its kind.
SCOPE_ROLES = {
    InstitutionKind.LENDER: "Lending institution",
    InstitutionKind.CURATOR: "Curating institution",
    InstitutionKind.BORROWER: "Borrowing institution",
    InstitutionKind.RECIPIENT: "Recipient institution",
}


def _scope_role(session: Session, short: str) -> Words:
    """The label of the institution a report is about: from layout 21 by its kind (NAOC's own
    report called NAOC the "Borrowing institution", as 1–20 still print it)."""
    role = SCOPE_ROLES[InstitutionKind(get_institution(session, short).kind)]
    return reworded(role, "Borrowing institution", PARTY_KIND_LAYOUT)


def _agreements(session: Session, loans: list[Loan]) -> list[AgreementInfo]:
    """The agreements the scope's loans rest on, by number."""
    agreements: list[AgreementInfo] = []
    for number in sorted({loan.agreement for loan in loans}):
        agreement = session.get(Agreement, number)
        if agreement is not None:
            agreements.append(agreement_info(agreement))
    return agreements


def _items(
    session: Session, request: ReportRequest, scope: _Scope, numbers: list[str]
) -> list[ItemRow]:
    """The scope's loan items; a lineage report adds its samples never lent, from the vault."""
    item_query = select(LoanItem).where(col(LoanItem.loan_number).in_(numbers))
    if request.sample:
        item_query = item_query.where(col(LoanItem.sample_code).in_(scope.keys))
    items = item_rows(
        session,
        list(
            session.exec(
                item_query.order_by(
                    byte_order(LoanItem.sample_code), byte_order(LoanItem.loan_number)
                )
            )
        ),
    )
    if request.sample:
        on_loan = {i.code for i in items}
        items += [_vault_item(session, code) for code in scope.keys if code not in on_loan]
        items.sort(key=lambda i: (i.code, i.loan))
    return items


def _vault_item(session: Session, code: str) -> ItemRow:
    """The item row of a lineage sample on no loan: what the vault holds of it."""
    sample = get_sample(session, code)
    return ItemRow(
        code=code,
        description=description_of(sample),
        loan="—",
        issued_ug=0,
        held_ug=sample.vault_ug,
        custodian=sample.custodian,
        state=sample.custody_state,
    )


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
    tracked: set[str] | None,
    borrowers: BorrowerMark,
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
        .order_by(col(Weighing.seq), byte_order(Weighing.sample_code))
    ):
        if tracked is None or w.sample_code in tracked:
            weighings.setdefault(w.seq, []).append(w)
    known = _Known(session, shipments, weighings, Holders(tracked))
    rows: list[CustodyRow] = []
    findings: list[Finding] = []
    # Core `select`: sqlmodel's is typed for at most four columns
    events = session.execute(
        sa_select(
            col(LedgerEvent.seq),
            col(LedgerEvent.kind),
            col(LedgerEvent.payload),
            col(LedgerEvent.occurred_at),
            col(LedgerEvent.recorded_at),
            col(LedgerEvent.actor),
            col(LedgerEvent.os_user),
            col(LedgerEvent.corrects_seq),
            col(LedgerEvent.reason),
        )
        .where(col(LedgerEvent.seq).in_(in_scope))
        .order_by(col(LedgerEvent.seq))
        .execution_options(yield_per=EVENT_BATCH)
    )
    corrections: dict[int, list[int]] = {}  # corrected seq → its corrections, in seq order
    for event in events:
        row, found = _custody_row(known, event, borrowers)
        rows.append(row)
        findings.extend(found)
        if event.corrects_seq is not None:
            corrections.setdefault(event.corrects_seq, []).append(event.seq)
    return _marked_corrected(rows, corrections), findings


def _marked_corrected(
    rows: list[CustodyRow], corrections: dict[int, list[int]]
) -> list[CustodyRow]:
    """The rows, each corrected one with the seqs of its corrections (a correction always comes
    after the event it corrects, so they are known once every row is read)."""
    for k, row in enumerate(rows):
        if row.seq in corrections:
            rows[k] = replace(row, corrected_by=tuple(corrections[row.seq]))
    return rows


@dataclass(frozen=True)
class _Known:
    """What every event's row may look up: the scope's shipments and weighings by event, who
    holds each sample so far, and the session (a loan's curator)."""

    session: Session
    shipments: dict[int, Shipment]
    weighings: dict[int, list[Weighing]]
    holders: Holders


@dataclass
class _Cells:
    """What one event gives its custody row: the cells, a flag and the findings it raises."""

    seq: int
    fields: dict[str, Any]
    flag: str = ""
    found: list[Finding] = field(default_factory=list)

    def finding(self, flag: str, area: str, text: Words) -> None:
        """Flag the row and record a finding about this event."""
        self.flag = flag
        self.found.append(Finding(self.seq, area, text))


def _items_mass_ug(pairs: list[Any]) -> int:
    """The total mass of (code, mass_ug) pairs."""
    return sum(int(m) for _c, m in pairs)


def _registered(cells: _Cells, p: dict[str, Any], known: _Known) -> None:
    """A sample enters the vault: its custodian holds it."""
    known.holders.place([p["code"]], p["custodian"])
    cells.fields.update(
        received_by=p["custodian"],
        location=p["storage_location"],
        mass_ug=p["mass_ug"],
        condition=p["condition"],
    )


def _moved(cells: _Cells, p: dict[str, Any], known: _Known) -> None:
    """A sample moves within the vault."""
    cells.fields.update(location=p["storage_location"])


def _transferred(cells: _Cells, p: dict[str, Any], known: _Known) -> None:
    """A gift: custody passes to the recipient for good."""
    codes = [c for c, _m in p["items"]]
    cells.fields.update(
        released_by=known.holders.holder.get(codes[0], ""),
        received_by=p["recipient"],
        mass_ug=_items_mass_ug(p["items"]),
    )
    known.holders.place(codes, p["recipient"])


def _split(cells: _Cells, p: dict[str, Any], known: _Known) -> None:
    """A split in the vault: the children stay with the parent's holder."""
    known.holders.split(p["parent"], [c for c, _m in p["children"]])
    cells.fields.update(mass_ug=_items_mass_ug(p["children"]) + int(p["loss_ug"]))


def _issued(cells: _Cells, p: dict[str, Any], known: _Known) -> None:
    """A loan is issued: its curator holds the samples until they are shipped."""
    loan = known.session.get(Loan, p["number"])
    curator = loan.curator if loan and loan.curator else ""
    known.holders.place([c for c, _m in p["items"]], curator)
    cells.fields.update(location=curator, mass_ug=_items_mass_ug(p["items"]))


def _shipped(cells: _Cells, p: dict[str, Any], known: _Known) -> None:
    """A shipment leaves: a gap when the sender was not the samples' last holder."""
    shipment = known.shipments.get(cells.seq)
    cells.fields.update(container=p["container"], seal=p["seal_number"])
    if shipment is None:
        return
    cells.fields.update(location=shipment.sender)
    for code, expected in known.holders.ship(
        cells.seq, p["samples"], shipment.sender, shipment.receiver
    ):
        cells.finding(
            "gap",
            "gap",
            f"{shipment.sender} shipped {code} (loan {p['number']}) but its last recorded "
            f"holder was {expected}",
        )


def _received(cells: _Cells, p: dict[str, Any], known: _Known) -> None:
    """A shipment arrives: a broken seal or a weighing off the expected mass is a finding."""
    shipment = known.shipments.get(int(p["shipment_seq"]))
    cells.fields.update(
        seal_intact="yes" if p["seal_intact"] else "NO",
        condition=p["condition"],
        mass_ug=_items_mass_ug(p["weighed"]),
    )
    if shipment is not None:
        cells.fields.update(
            location=shipment.receiver, container=shipment.container, seal=shipment.seal_number
        )
        known.holders.receive(shipment.seq, [c for c, _m in p["weighed"]], shipment.receiver)
    if not p["seal_intact"]:
        cells.finding("discrepancy", "seal", f"seal broken on receipt of loan {p['number']}")
    for w in known.weighings.get(cells.seq, []):
        if w.expected_ug != w.weighed_ug:
            cells.finding("discrepancy", "weighing", weighing_words(w))


def _consumed(cells: _Cells, p: dict[str, Any], known: _Known) -> None:
    """Mass used by an analysis at the borrower's lab."""
    condition = reworded(analysis_words(p), analysis_words_earlier(p), WORDED_LAYOUT)
    cells.fields.update(mass_ug=p["mass_ug"], condition=condition)


def _split_on_loan(cells: _Cells, p: dict[str, Any], known: _Known) -> None:
    """A split at the borrower's lab (for mounts): the child stays with the parent's holder."""
    known.holders.split(p["parent"], [p["child"]])
    cells.fields.update(mass_ug=p["mass_ug"])


def _inventory(cells: _Cells, p: dict[str, Any], known: _Known) -> None:
    """The annual inventory attestation: the mass held."""
    cells.fields.update(mass_ug=_items_mass_ug(p["held"]))


def _incident(cells: _Cells, p: dict[str, Any], known: _Known) -> None:
    """A loss or damage: always a finding."""
    cells.fields.update(mass_ug=p.get("mass_lost_ug") or None)
    cells.finding(
        "incident", "incident", f"{p['incident_kind']} on {p['sample']}: {p['description']}"
    )


def _event_corrected(cells: _Cells, p: dict[str, Any], known: _Known) -> None:
    """A correction of an earlier event's record."""
    cells.flag = CORRECTION_FLAG


def _mass_corrected(cells: _Cells, p: dict[str, Any], known: _Known) -> None:
    """A correction of a recorded mass."""
    cells.flag = CORRECTION_FLAG
    cells.fields.update(mass_ug=p["new_mass_ug"])


_CELLS_OF_KIND: dict[str, Callable[[_Cells, dict[str, Any], _Known], None]] = {
    "sample.registered": _registered,
    "sample.moved": _moved,
    "sample.transferred": _transferred,
    "sample.split": _split,
    "loan.issued": _issued,
    "loan.shipped": _shipped,
    "loan.received": _received,
    "loan.consumed": _consumed,
    "loan.split": _split_on_loan,
    "loan.inventory": _inventory,
    "incident.reported": _incident,
    "event.corrected": _event_corrected,
    "mass.corrected": _mass_corrected,
}
"""What each kind of event puts in its custody row (other kinds: the common cells alone)."""


def _custody_row(
    known: _Known,
    event: Any,  # seq, kind, payload, occurred_at, recorded_at, actor, os_user, corrects_seq, …
    borrowers: BorrowerMark,
) -> tuple[CustodyRow, list[Finding]]:
    """One event's row of the custody table, and the findings it raises."""
    p: dict[str, Any] = stored_payload(event.seq, event.kind, event.payload)
    cells = _Cells(
        event.seq,
        {
            "released_by": "",
            "received_by": "",
            "location": "",
            "container": "",
            "seal": "",
            "seal_intact": "",
            "mass_ug": None,
            "condition": "",
        },
    )
    kind = sys.intern(event.kind)  # a few kinds and actors recur on thousands of rows
    fill = _CELLS_OF_KIND.get(kind)
    if fill is not None:
        fill(cells, p, known)
    session = known.session
    handover = handover_of(session, event) if kind in HANDOVER_KINDS else None
    if handover is not None:
        cells.fields.update(_handover_fields(handover))
    occurred_at, recorded_at = from_iso(event.occurred_at), from_iso(event.recorded_at)
    description = _description(session, kind, event, p, handover)
    row = CustodyRow(
        seq=event.seq,
        occurred_at=occurred_at,
        kind=kind,
        label=event_label(kind, p, known.shipments, event.seq),
        recorded_by=sys.intern(event.actor),
        os_user=sys.intern(event.os_user),
        description=description,
        flag=cells.flag,
        recorded_at=recorded_at,
        backdated=is_backdated(occurred_at, recorded_at),
        handover=handover,
        by_borrower=borrowers.recorded(kind, p, event.actor),
        **cells.fields,
    )
    return row, cells.found


def _description(
    session: Session, kind: str, event: Any, p: dict[str, Any], handover: Handover | None
) -> Words:
    """What the ledger records of an event, with its persons and reason; in the words of the
    layouts before 7 too where those differed (`EARLIER_WORDS`), and with masses of 1,000 g or
    more ungrouped in the layouts before 11 (`with_grouped_masses`)."""
    return with_grouped_masses(lambda: _worded(session, kind, event, p, handover))


def _worded(
    session: Session, kind: str, event: Any, p: dict[str, Any], handover: Handover | None
) -> Words:
    """`_description` with masses as `format_mass` writes them now."""
    text = describe_payload(session, kind, event.seq, event.corrects_seq, p)
    full = _with_reason(_with_persons(text, handover), kind, event.reason)
    if kind not in EARLIER_WORDS:
        return full
    earlier = describe_earlier(session, kind, event.seq, event.corrects_seq, p)
    return reworded(
        full, _with_reason(_with_persons(earlier, handover), kind, event.reason), WORDED_LAYOUT
    )


def event_label(
    kind: str,
    payload: dict[str, Any],
    shipments: dict[int, Shipment],
    seq: int,
    since: int = LABELS_LAYOUT,
) -> Words:
    """What a reader sees for an event, from the one table of labels (`vocab.event_label`):
    a hand-over by its direction ("Receipt", "Return accepted"); in the words of the layouts
    before `since` (a statement's layout numbers its own) where they named it otherwise."""
    direction: str = Direction.OUTBOUND
    if kind in ("loan.shipped", "loan.received"):
        shipment = shipments.get(seq if kind == "loan.shipped" else int(payload["shipment_seq"]))
        direction = shipment.direction if shipment is not None else Direction.OUTBOUND
    return label_words(kind, direction, since)


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
