"""The sample return report's read model (NASA F-75 counterpart): each item of a loan term by
term, the borrower's splits, the shipments' conditions and the findings."""

from datetime import datetime
from functools import partial

from sqlmodel import Session, col, select

from sampleloans.dates import format_datetime, from_iso
from sampleloans.ledger.payload import stored_payload
from sampleloans.models import (
    Agreement,
    Consumption,
    Incident,
    LedgerEvent,
    Loan,
    LoanItem,
    Note,
    Shipment,
    Weighing,
    byte_order,
)
from sampleloans.readmodels.handover import is_backdated
from sampleloans.readmodels.items import item_masses
from sampleloans.readmodels.report import (
    FINDING_WORDS_LAYOUT,
    REPORT_LAYOUT,
    SPLIT_APART_LAYOUT,
    Analysis,
    Finding,
    ReportRequest,
    ReturnBody,
    ReturnLine,
    Reworded,
    SplitLine,
    mass_in,
    remeasured,
    with_grouped_masses,
    words_in,
)
from sampleloans.services.common import get_loan
from sampleloans.services.queries import events_of_loan
from sampleloans.services.reporting.parts import (
    agreement_info,
    description_of,
    item_samples,
    loan_parties,
    overdue_inventories,
    overdue_returns,
    recalls_of,
    weighing_words,
)
from sampleloans.units import format_mass
from sampleloans.vocab import Direction, ItemSource, ItemState


def build(session: Session, request: ReportRequest, now: datetime) -> tuple[ReturnBody, str]:
    """The return report's body (F-75) and scope label for one loan."""
    loan = get_loan(session, request.loan or "")
    agreement = session.get(Agreement, loan.agreement)
    assert agreement is not None
    lines, splits = _lines(session, loan)
    findings = _findings(session, loan.number)
    body = ReturnBody(
        loan=loan.number,
        status=loan.status,
        overdue=overdue_returns(session, [loan], now),
        inventory_overdue=overdue_inventories(session, [loan], now),
        parties=tuple(loan_parties(session, loan)),
        agreement=agreement_info(agreement),
        lines=tuple(lines),
        total=_return_total(lines),
        splits=tuple(splits),
        conditions=tuple(_conditions(session, loan.number)),
        findings=tuple(sorted(findings, key=lambda f: f.seq)),
        recalls=recalls_of(session, [loan.number]),
    )
    return body, f"loan {loan.number}"


def _lines(session: Session, loan: Loan) -> tuple[list[ReturnLine], list[SplitLine]]:
    """A line for every item of the loan (continuations too: the form must agree with
    `balance --loan`), and a split line for each sample split at the borrower's lab."""
    accepted, latest_receipt = _accepted_weighings(session, loan)
    lines, splits = [], []
    items = session.exec(
        select(LoanItem)
        .where(LoanItem.loan_number == loan.number)
        .order_by(byte_order(LoanItem.sample_code))
    ).all()
    samples = item_samples(session, loan.number, [item.sample_code for item in items])
    for item in items:
        weighing = accepted.get(item.sample_code)
        now_ug = weighing.expected_ug if weighing and weighing.seq == latest_receipt else 0
        sample = samples.get(item.sample_code)
        parent = ""
        if item.source == ItemSource.BORROWER_SPLIT:
            parent = sample.parent_code if sample and sample.parent_code else ""
            splits.append(_split_line(item, parent))
        masses = item_masses(item)
        lines.append(
            ReturnLine(
                code=item.sample_code,
                split_from=parent,
                description=description_of(sample),
                # layouts before 8 counted a borrower's split as issued (their digest keeps it)
                issued_ug=remeasured(masses.issued_ug, masses.incoming_ug, SPLIT_APART_LAYOUT),
                from_split_ug=masses.from_split_ug,
                transferred_ug=item.transferred_ug,
                consumed_ug=item.consumed_ug,
                analyses=_analyses(session, loan.number, item.sample_code),
                returned_now_ug=now_ug,
                returned_before_ug=item.returned_ug - now_ug,
                split_ug=item.split_ug,
                lost_ug=item.lost_ug,
                remaining_ug=item.held_ug,
                on_its_way_back=item.state == ItemState.RETURN_IN_TRANSIT,
            )
        )
    return lines, splits


def _accepted_weighings(session: Session, loan: Loan) -> tuple[dict[str, Weighing], int | None]:
    """Per sample, its weighing at the last return receipt that weighed it; and the seq of the
    latest return receipt (what was weighed there is 'returned now')."""
    return_seqs = sorted(
        s.seq
        for s in session.exec(
            select(Shipment).where(
                Shipment.loan_number == loan.number, Shipment.direction == Direction.RETURN
            )
        )
        if s.received_at is not None
    )
    receipts = _receipt_seqs(session, loan.number, return_seqs)  # read once, not per weighing
    accepted = {
        w.sample_code: w
        for w in session.exec(
            select(Weighing).where(Weighing.loan_number == loan.number).order_by(col(Weighing.seq))
        )
        if w.seq in receipts
    }
    return accepted, max(receipts, default=None)


def _split_line(item: LoanItem, parent: str) -> SplitLine:
    """A sample split from `parent` at the borrower's lab: its mass and what became of it."""
    return SplitLine(
        code=item.sample_code,
        parent=parent,
        mass_ug=item.issued_ug,
        consumed_ug=item.consumed_ug,
        returned_ug=item.returned_ug,
        lost_ug=item.lost_ug,
        remaining_ug=item.held_ug,
        fate=with_grouped_masses(lambda: _fate(item)),
    )


def _analyses(session: Session, loan_number: str, sample_code: str) -> tuple[Analysis, ...]:
    """The analyses that consumed part of one sample on the loan, in recording order; a
    back-dated one with when it was recorded, a corrected one with its corrections."""
    rows = list(
        session.exec(
            select(Consumption, LedgerEvent.recorded_at)
            .join(LedgerEvent, col(LedgerEvent.seq) == col(Consumption.seq))
            .where(Consumption.loan_number == loan_number, Consumption.sample_code == sample_code)
            .order_by(col(Consumption.seq))
        )
    )
    corrections = _corrections_of(session, [c.seq for c, _ in rows])
    return tuple(
        _analysis(c, from_iso(recorded), corrections.get(c.seq, ())) for c, recorded in rows
    )


def _corrections_of(session: Session, seqs: list[int]) -> dict[int, tuple[int, ...]]:
    """Corrected seq → the seqs of the events that corrected it, in seq order (the return report
    is always of the ledger's head: every correction recorded counts)."""
    if not seqs:
        return {}
    found: dict[int, list[int]] = {}
    notes = select(Note).where(col(Note.corrects_seq).in_(seqs)).order_by(col(Note.seq))
    for note in session.exec(notes):
        found.setdefault(note.corrects_seq, []).append(note.seq)
    return {seq: tuple(by) for seq, by in found.items()}


def _analysis(c: Consumption, recorded_at: datetime, corrected_by: tuple[int, ...]) -> Analysis:
    """One analysis; its recording time kept only when it was back-dated (`is_backdated`)."""
    backdated = is_backdated(c.occurred_at, recorded_at)
    return Analysis(
        c.seq,
        c.occurred_at,
        c.technique,
        c.destructive,
        c.mass_ug,
        recorded_at=recorded_at if backdated else None,
        corrected_by=corrected_by,
    )


def _conditions(session: Session, loan_number: str) -> list[Finding]:
    """Each shipment of the loan: its container, seal, and how it arrived (or not yet)."""
    return [
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
            select(Shipment).where(Shipment.loan_number == loan_number).order_by(col(Shipment.seq))
        )
    ]


def _findings(session: Session, loan_number: str) -> list[Finding]:
    """Weighing differences and incidents of the loan, and the corrections recorded of them."""
    findings = _weighing_findings(session, loan_number)
    # only this loan's incidents: the same sample may have had others in the vault or on
    # another loan, which did not happen on this form's watch
    for incident in session.exec(
        select(Incident).where(Incident.loan_number == loan_number).order_by(col(Incident.seq))
    ):
        resolution = ": " + incident.resolution if incident.resolution else ""
        findings.append(
            Finding(
                incident.seq,
                "incident",
                f"{incident.kind} on {incident.sample_code}: {incident.description} "
                f"({incident.status}{resolution})",
            )
        )
    # the notes correcting these events, and the notes correcting those, and so on (read by
    # what they correct, not a scan of every note of the ledger)
    wanted = {f.seq for f in findings}
    while wanted:
        notes = session.exec(
            select(Note).where(col(Note.corrects_seq).in_(sorted(wanted))).order_by(col(Note.seq))
        ).all()
        findings.extend(
            Finding(note.seq, "correction", f"of event {note.corrects_seq}: {note.text}")
            for note in notes
        )
        wanted = {note.seq for note in notes}
    return findings


def _return_total(lines: list[ReturnLine]) -> ReturnLine:
    """The Total line: each term the sum of the lines (as `balance --loan`), issued what the
    curator issued.

    A borrower's split moves mass from its parent's `split` term into a continuation line's
    `from split`. Before layout 8 the continuation counted it as issued, and the Total took it
    off both issued and split (its digest keeps that split).
    """
    moved_ug = sum(line.from_split_ug for line in lines)

    def total(name: str) -> int:
        """The sum of one term over every line, as layout 8 reads it."""
        return sum(mass_in(getattr(line, name), SPLIT_APART_LAYOUT) for line in lines)

    split_ug = total("split_ug")
    return ReturnLine(
        code="Total",
        split_from="",
        description="",
        issued_ug=total("issued_ug"),
        transferred_ug=total("transferred_ug"),
        consumed_ug=total("consumed_ug"),
        analyses=(),
        returned_now_ug=total("returned_now_ug"),
        returned_before_ug=total("returned_before_ug"),
        split_ug=remeasured(split_ug, split_ug - moved_ug, SPLIT_APART_LAYOUT),
        lost_ug=total("lost_ug"),
        remaining_ug=total("remaining_ug"),
        from_split_ug=moved_ug,
    )


def _receipt_seqs(session: Session, number: str, return_shipments: list[int]) -> set[int]:
    """Seqs of the events that accepted a return shipment of a loan."""
    found = set()
    for event in events_of_loan(session, number, "loan.received"):
        if stored_payload(event.seq, event.kind, event.payload)["shipment_seq"] in return_shipments:
            found.add(event.seq)
    return found


def _weighed_before_12(w: Weighing) -> str:
    """A weighing as the return report worded it before layout 12: without the difference
    (its files' digests cover these words; `weighing_words` is every report's from 12 on)."""
    expected, weighed = format_mass(w.expected_ug), format_mass(w.weighed_ug)
    return f"{w.sample_code}: expected {expected}, weighed {weighed}"


def _weighing_finding(w: Weighing) -> Finding:
    """A weighing off the expected mass as the return report finds it, in each layout's words."""
    earlier = with_grouped_masses(partial(_weighed_before_12, w))
    words = weighing_words(w)
    latest = words_in(words, REPORT_LAYOUT)
    # the difference is never zero (only a weighing off the mass expected is a finding)
    return Finding(w.seq, "weighing", Reworded(latest, earlier, FINDING_WORDS_LAYOUT))


def _fate(item: LoanItem) -> str:
    parts = [
        f"{name} {format_mass(getattr(item, name + '_ug'))}"
        for name in ("consumed", "returned", "transferred", "lost", "held")
        if getattr(item, name + "_ug")
    ]
    return ", ".join(parts) or "nothing left"


def _weighing_findings(session: Session, number: str) -> list[Finding]:
    return [
        _weighing_finding(w)
        for w in session.exec(
            select(Weighing).where(Weighing.loan_number == number).order_by(col(Weighing.seq))
        )
        if w.expected_ug != w.weighed_ug
    ]
