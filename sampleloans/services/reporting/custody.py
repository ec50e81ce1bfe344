"""The chain-of-custody report's read model: every event of a loan, a sample's lineage or an
institution, with who held what, and the gaps, discrepancies and incidents a reviewer must see.
"""

import json
import sys
from datetime import datetime
from typing import Any

from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from sampleloans.dates import from_iso
from sampleloans.models import (
    Agreement,
    EventSubject,
    LedgerEvent,
    Loan,
    LoanItem,
    Shipment,
    Weighing,
)
from sampleloans.readmodels.handover import Handover, is_backdated, label, receiver_label
from sampleloans.readmodels.report import (
    EVENT_LABELS,
    HANDOVER_LABELS,
    AgreementInfo,
    CustodyBody,
    CustodyRow,
    Finding,
    ItemRow,
    Party,
    ReportRequest,
)
from sampleloans.services.borrower_mark import BorrowerMark
from sampleloans.services.common import get_institution, get_loan, get_sample
from sampleloans.services.handover import HANDOVER_KINDS, handover_of
from sampleloans.services.history import describe_payload, lineage
from sampleloans.services.reporting.parts import (
    agreement_info,
    description_of,
    institution_party,
    item_rows,
    lender,
    loan_parties,
    overdue_returns,
    parties_of_loans,
)
from sampleloans.units import format_mass

EVENT_BATCH = 1000  # ledger rows fetched at a time while a custody report reads its events


def build(session: Session, request: ReportRequest, now: datetime) -> tuple[CustodyBody, str]:
    """The custody report's body and scope label: a loan, a sample's lineage or an institution."""
    loans: list[Loan]
    if request.loan:
        loans = [get_loan(session, request.loan)]
        subject_type, keys = "loan", [request.loan]
        label = f"loan {request.loan}"
    elif request.sample:
        codes = lineage(session, request.sample)
        subject_type, keys = "sample", codes
        lent_in = set(
            session.exec(
                select(LoanItem.loan_number).where(col(LoanItem.sample_code).in_(codes))
            ).all()
        )
        loans = list(
            session.exec(select(Loan).where(col(Loan.number).in_(lent_in)).order_by(Loan.number))
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
            institution_party(session, "Lender", lender(session)),
            institution_party(session, "Borrowing institution", keys[0]),
        ]
    elif len(loans) == 1:
        parties = loan_parties(session, loans[0])
    elif loans:
        parties = parties_of_loans(session, loans)
    if request.sample:
        first = get_sample(session, keys[0])
        parties.insert(
            0, institution_party(session, "Custodian of the lineage root", first.custodian)
        )
    for number in sorted({loan.agreement for loan in loans}):
        agreement = session.get(Agreement, number)
        if agreement is not None:
            agreements.append(agreement_info(agreement))
    numbers = [loan.number for loan in loans]
    item_query = select(LoanItem).where(col(LoanItem.loan_number).in_(numbers))
    if request.sample:
        item_query = item_query.where(col(LoanItem.sample_code).in_(keys))
    items = item_rows(
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
                        description=description_of(sample),
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
    borrowers = BorrowerMark(session, loans)
    events, findings = _custody_rows(session, subject_type, keys, numbers, tracked, borrowers)
    # judged at the moment the report shows: its --as-of, else its generation time
    at = from_iso(request.as_of) if request.as_of else now
    body = CustodyBody(
        overdue=overdue_returns(loans, at),
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
        .order_by(col(Weighing.seq), Weighing.sample_code)
    ):
        if tracked is None or w.sample_code in tracked:
            weighings.setdefault(w.seq, []).append(w)
    holders = Holders(tracked)
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
    for event in events:
        row, found = _custody_row(session, event, shipments, weighings, holders, borrowers)
        rows.append(row)
        findings.extend(found)
    return rows, findings


def _custody_row(
    session: Session,
    event: Any,  # seq, kind, payload, occurred_at, recorded_at, actor, os_user, corrects_seq, …
    shipments: dict[int, Shipment],
    weighings: dict[int, list[Weighing]],
    holders: Holders,
    borrowers: BorrowerMark,
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
        by_borrower=borrowers.recorded(kind, p, event.actor),
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
