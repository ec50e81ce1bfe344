"""Pieces every report builder shares: parties, agreement terms, item rows, overdue loans."""

from dataclasses import dataclass
from datetime import datetime
from functools import partial

from sqlmodel import Session, col, select

from sampleloans.dates import days_between, format_datetime, from_iso
from sampleloans.ledger import overdue as rule
from sampleloans.ledger.payload import stored_payload
from sampleloans.models import (
    Agreement,
    EventSubject,
    Institution,
    LedgerEvent,
    Loan,
    LoanItem,
    Person,
    Sample,
    Weighing,
    byte_order,
)
from sampleloans.readmodels.items import item_masses
from sampleloans.readmodels.report import (
    FROZEN_ON_LOAN_LAYOUT,
    SPLIT_APART_LAYOUT,
    WORDED_LAYOUT,
    AgreementInfo,
    ItemRow,
    Overdue,
    Party,
    Recall,
    Words,
    rejudged,
    remeasured,
    reworded,
    with_grouped_masses,
)
from sampleloans.services.logins import hidden_item_samples
from sampleloans.services.queries import for_inventory, frozen_on_loan, sent_back_at
from sampleloans.text import counted
from sampleloans.units import format_mass, format_period
from sampleloans.vocab import InstitutionKind


def institution_party(session: Session, role: Words, short: str | None) -> Party:
    """An institution named on a report: its full name, then short name, city and country."""
    inst = session.get(Institution, short) if short else None
    if inst is None:
        return Party(role, short or "—", "")
    return Party(role, inst.name, f"{inst.short_name}, {inst.city}, {inst.country}")


def overdue_returns(session: Session, loans: list[Loan], at: datetime) -> tuple[Overdue, ...]:
    """The loans among `loans` still owing their return (out, not all sent back in time:
    `ledger.overdue.return_owed`) whose return was due before `at`."""
    sent = sent_back_at(session, loans)
    return tuple(
        Overdue(loan.number, loan.due_at, days_between(loan.due_at, at))
        for loan in sorted(loans, key=lambda loan: loan.number)
        if loan.due_at is not None
        and rule.return_overdue(loan.status, loan.due_at, at, sent.get(loan.number))
    )


def overdue_inventories(session: Session, loans: list[Loan], at: datetime) -> tuple[Overdue, ...]:
    """The loans among `loans` still owing their inventory attestation (out, not all sent back
    by its due time: `ledger.overdue.inventory_due`) whose attestation was due before `at`."""
    sent = for_inventory(sent_back_at(session, loans))
    return tuple(
        Overdue(
            loan.number, loan.next_inventory_due_at, days_between(loan.next_inventory_due_at, at)
        )
        for loan in sorted(loans, key=lambda loan: loan.number)
        if loan.next_inventory_due_at is not None
        and rule.inventory_overdue(
            loan.status, loan.next_inventory_due_at, at, sent.get(loan.number)
        )
    )


def printed_inventory_due(session: Session, loan: Loan) -> datetime | None:
    """The next inventory date a report or a statement prints for a loan: none once everything
    left was sent back by it (`ledger.overdue.inventory_due`); else the stored date, which the
    renderer hides for a loan no longer out (`owed_inventory_due`), as older layouts did."""
    sent = for_inventory(sent_back_at(session, [loan])).get(loan.number)
    if rule.sent_back_in_time(loan.status, loan.next_inventory_due_at, sent):
        return None
    return loan.next_inventory_due_at


def person_party(session: Session, role: str, email: str) -> Party:
    """A person named on a report: name, then e-mail and institution."""
    person = session.get(Person, email)
    if person is None:
        return Party(role, email, "")
    return Party(role, person.name, f"{person.email}, {person.institution}")


def lender(session: Session) -> str | None:
    """The short name of the lending institution (the first, if several are recorded)."""
    return session.exec(
        select(Institution.short_name)
        .where(Institution.kind == InstitutionKind.LENDER)
        .order_by(byte_order(Institution.short_name))
    ).first()


def loan_parties(session: Session, loan: Loan) -> list[Party]:
    """The parties of one loan: lender, curator, borrowing institution and PI."""
    return [
        institution_party(session, "Lender", lender(session)),
        institution_party(session, "Curator", loan.curator),
        institution_party(session, "Borrowing institution", loan.institution),
        person_party(session, "Principal investigator", loan.pi_email),
    ]


def parties_of_loans(session: Session, loans: list[Loan]) -> list[Party]:
    """The parties of several loans (a lineage lent more than once): each borrower by loan,
    never the first loan's borrower standing for all of them."""
    curators = sorted({loan.curator for loan in loans if loan.curator})
    parties = [institution_party(session, "Lender", lender(session))]
    parties += [institution_party(session, "Curator", short) for short in curators]
    for loan in loans:
        parties.append(
            institution_party(session, f"Borrowing institution, {loan.number}", loan.institution)
        )
        parties.append(
            person_party(session, f"Principal investigator, {loan.number}", loan.pi_email)
        )
    return parties


def extensions_allowed(max_extensions: int, period: str) -> str:
    """An agreement's extensions in words, the count agreeing with its noun: 'up to 1
    extension of at most 6 months', 'up to 2 extensions of at most 6 months each', 'none'."""
    if max_extensions == 0:
        return "none"
    each = "" if max_extensions == 1 else " each"
    return f"up to {counted(max_extensions, 'extension')} of at most {format_period(period)}{each}"


def agreement_info(agreement: Agreement) -> AgreementInfo:
    """An agreement's terms as the labelled lines a report prints."""
    terms = (
        ("Term", format_period(agreement.term)),
        ("Expires", format_datetime(agreement.expires_at) if agreement.expires_at else "—"),
        (
            "Maximum total mass",
            with_grouped_masses(lambda: format_mass(agreement.max_total_mass_ug)),
        ),
        ("Purposes allowed", agreement.allowed_purposes.replace(",", ", ")),
        ("Destructive use", "allowed" if agreement.destructive_use_allowed else "not allowed"),
        ("Onward transfer", "allowed" if agreement.onward_transfer_allowed else "not allowed"),
        ("Maximum loan period", format_period(agreement.max_loan_period)),
        (
            "Extensions",
            reworded(
                extensions_allowed(agreement.max_extensions, agreement.max_extension_period),
                f"up to {agreement.max_extensions} of "
                f"{format_period(agreement.max_extension_period)}",
                WORDED_LAYOUT,
            ),
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


@dataclass(frozen=True)
class ItemSample:
    """What a report reads of a loan item's sample that row-level security hides from the
    researcher of the loan (the sample went back to the vault, perhaps on to another loan):
    its unchanging facts only (`hidden_item_samples`), never where it is now."""

    code: str
    mission: str
    origin: str
    material_type: str
    physical_form: str
    parent_code: str | None
    # not on this loan any more (else the researcher would read its row): the item's custodian
    # is the loan's curator, as staff's report says (`item_custodian`)
    loan_number: None = None
    custodian: str = ""
    frozen: bool = False  # an open incident of this loan would keep it here, not in the vault


SampleOfItem = Sample | ItemSample
"""A loan item's sample as a report reads it: its row, or its unchanging facts."""


def item_samples(session: Session, loan_number: str, codes: list[str]) -> dict[str, SampleOfItem]:
    """The samples of a loan's items `codes`, by code: each its row, or, for a researcher whose
    login row-level security no longer shows a sample of their loan (returned), its unchanging
    facts, so their report says of it what staff's says."""
    found: dict[str, SampleOfItem] = {}
    for code in codes:
        sample = session.get(Sample, code)
        if sample is not None:
            found[code] = sample
    if len(found) < len(codes):
        for row in hidden_item_samples(session, loan_number):
            hidden, mission, origin, material, form, parent = row
            if hidden is not None and hidden in codes and hidden not in found:
                found[hidden] = ItemSample(
                    hidden, str(mission), str(origin), str(material), str(form), parent
                )
    return found


def description_of(sample: SampleOfItem | None) -> str:
    """A sample as a reader knows it: material, form, mission and origin."""
    if sample is None:
        return ""
    return f"{sample.material_type} {sample.physical_form}, {sample.mission} {sample.origin}"


def item_custodian(session: Session, item: LoanItem, sample: SampleOfItem | None) -> str:
    """Who holds a loan item for this loan: the sample's custodian while it is on this loan;
    once back, the loan's curator (the sample may be on another institution's loan by now)."""
    if sample is not None and sample.loan_number == item.loan_number:
        return sample.custodian
    loan = session.get(Loan, item.loan_number)
    return (loan.curator or "") if loan is not None else ""


def item_rows(session: Session, items: list[LoanItem]) -> list[ItemRow]:
    """The items table's rows: each loan item with its sample and who holds it."""
    rows = []
    samples: dict[str, SampleOfItem] = {}
    frozen: set[tuple[str, str]] = set()  # (loan, sample) frozen while on that loan
    for loan_number in sorted({item.loan_number for item in items}):
        codes = [item.sample_code for item in items if item.loan_number == loan_number]
        samples.update(item_samples(session, loan_number, codes))
        frozen.update((loan_number, code) for code in frozen_on_loan(session, loan_number, codes))
    for item in items:
        sample = samples.get(item.sample_code)
        masses = item_masses(item)
        rows.append(
            ItemRow(
                code=item.sample_code,
                description=description_of(sample),
                loan=item.loan_number,
                # layouts before 8 counted a borrower's split as issued (their digest keeps it)
                issued_ug=remeasured(masses.issued_ug, masses.incoming_ug, SPLIT_APART_LAYOUT),
                held_ug=masses.held_ug,
                custodian=item_custodian(session, item, sample),
                state=item.state,
                from_split_ug=masses.from_split_ug,
                # layouts 8-16 said "(frozen)" of a sample frozen anywhere (their digest keeps it)
                frozen=rejudged(
                    (item.loan_number, item.sample_code) in frozen,
                    bool(sample and sample.frozen),
                    FROZEN_ON_LOAN_LAYOUT,
                ),
            )
        )
    return rows


RECALL_KIND = "loan.recalled"


def recalls_of(
    session: Session, numbers: list[str], up_to_seq: int | None = None
) -> tuple[Recall, ...]:
    """Every recall of the loans `numbers` in the ledger `session` reads (as of a report's
    moment, when it is a replay), up to event `up_to_seq` (a statement's checkpoint), in ledger
    order: when, the due date it set, and why."""
    if not numbers:
        return ()
    of_loans = select(EventSubject.seq).where(
        EventSubject.subject_type == "loan", col(EventSubject.subject_key).in_(numbers)
    )
    if up_to_seq is not None:
        of_loans = of_loans.where(EventSubject.seq <= up_to_seq)
    events = session.exec(
        select(LedgerEvent)
        .where(LedgerEvent.kind == RECALL_KIND, col(LedgerEvent.seq).in_(of_loans))
        .order_by(col(LedgerEvent.seq))
    )
    recalls = []
    for event in events:
        payload = stored_payload(event.seq, event.kind, event.payload)
        recalls.append(
            Recall(
                seq=event.seq,
                loan=payload["number"],
                recalled_at=from_iso(event.occurred_at),
                due_at=from_iso(payload["due_at"]),
                reason=event.reason or "",
            )
        )
    return tuple(recalls)


def weighing_words(w: Weighing) -> Words:
    """A weighing that differs from the mass expected, in words, with the difference ("CODE:
    expected 20.000 mg, weighed 19.500 mg (−500 µg)"): every report words it so; masses of
    1,000 g or more grouped from report layout 11 on (`with_grouped_masses`)."""
    return with_grouped_masses(partial(_weighing_text, w))


def _weighing_text(w: Weighing) -> str:
    """`weighing_words` in the masses' current grouping."""
    diff_ug = w.weighed_ug - w.expected_ug
    sign = "+" if diff_ug > 0 else "−"
    return (
        f"{w.sample_code}: expected {format_mass(w.expected_ug)}, weighed "
        f"{format_mass(w.weighed_ug)} ({sign}{format_mass(abs(diff_ug))})"
    )
