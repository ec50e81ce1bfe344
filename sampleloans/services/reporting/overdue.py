"""The overdue notice's read model: an institution's late returns and inventories, whom the
notice addresses, the agreement clauses it rests on and the actions it asks for."""

from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from sampleloans.dates import days_between, format_datetime
from sampleloans.ledger import overdue as rule
from sampleloans.models import (
    Agreement,
    Institution,
    Loan,
    LoanItem,
    Person,
    byte_order,
)
from sampleloans.readmodels.report import (
    AGREEMENT_END_LAYOUT,
    EXTENSION_CLAUSE_LAYOUT,
    NO_EXTENSION_LEFT_LAYOUT,
    RESPOND_WITHIN_DAYS,
    WORDED_LAYOUT,
    OverdueBody,
    OverdueLine,
    Party,
    ReportRequest,
    Words,
    reworded,
)
from sampleloans.services.common import agreement_ended, extension_possible, get_institution
from sampleloans.services.queries import ACTIVE_LOAN_STATUSES, for_inventory, sent_back_at
from sampleloans.services.reporting.parts import extensions_allowed, institution_party, recalls_of
from sampleloans.text import counted
from sampleloans.units import format_period


def build(session: Session, request: ReportRequest, now: datetime) -> tuple[OverdueBody, str]:
    """The overdue notice's body and scope label for one institution, judged at `now`."""
    short = get_institution(session, request.institution or "").short_name
    lines, late_loans = _late_lines(session, short, now)
    respond_by = now + timedelta(days=RESPOND_WITHIN_DAYS)
    extension_left = _extension_left(session, lines, late_loans, now)
    body = OverdueBody(
        institution=institution_party(session, "Institution", short),
        addressees=tuple(_addressees(session, late_loans)),
        respond_by=respond_by,
        clauses=tuple(_clauses(session, late_loans, now)),
        lines=tuple(lines),
        actions=tuple(_actions(lines, respond_by.date().isoformat(), extension_left)),
        recalls=recalls_of(session, [loan.number for loan in late_loans]),
        respond=_respond(extension_left) if lines else "",
    )
    return body, f"institution {short}"


def _late_lines(
    session: Session, short: str, now: datetime
) -> tuple[list[OverdueLine], list[Loan]]:
    """The institution's returns and inventories past due at `now`, most days late first, and
    the loans they belong to, by number."""
    lines = []
    late_loans: list[Loan] = []
    out = session.exec(
        select(Loan)
        .where(Loan.institution == short, col(Loan.status).in_(ACTIVE_LOAN_STATUSES))
        .order_by(byte_order(Loan.number))
    ).all()
    sent = sent_back_at(session, out)
    for loan in out:
        held = sum(
            i.held_ug
            for i in session.exec(select(LoanItem).where(LoanItem.loan_number == loan.number))
        )
        pi = session.get(Person, loan.pi_email)
        pi_name = pi.name if pi is not None else loan.pi_email
        # the loan is out (query above); its return and its inventory are owed unless all was
        # sent back by their due time
        owed = rule.return_owed(loan.status, loan.due_at, sent.get(loan.number))
        inventory_sent = for_inventory(sent).get(loan.number)
        for what, due in (
            ("return", loan.due_at if owed else None),
            (
                "inventory",
                rule.inventory_due(loan.status, loan.next_inventory_due_at, inventory_sent),
            ),
        ):
            if due is not None and rule.past_due(due, now):
                days = days_between(due, now)
                lines.append(
                    OverdueLine(loan.number, pi_name, loan.agreement, what, due, days, held)
                )
                if loan not in late_loans:
                    late_loans.append(loan)
    lines.sort(key=lambda r: (-r.days_late, r.loan, r.what))
    return lines, late_loans


def _extension_left(
    session: Session, lines: list[OverdueLine], loans: list[Loan], now: datetime
) -> bool:
    """Whether a loan whose return is past due could still be extended now, by the rules of
    `loans extend` (`extension_possible`: extensions left, the agreement in force, a new due
    date after now and within its term): the notice offers no extension that would be refused."""
    late = {line.loan for line in lines if line.what == "return"}
    for loan in loans:
        agreement = session.get(Agreement, loan.agreement)
        if loan.number in late and (agreement is None or extension_possible(loan, agreement, now)):
            return True
    return False


def _respond(extension_left: bool) -> Words:
    """What the "Respond by" line asks: the return, or an extension where one is left."""
    ask = "return the samples, or request an extension under the agreement terms below"
    if extension_left:
        return ask
    return reworded(
        "return the samples: the agreement terms below allow no further extension",
        ask,
        NO_EXTENSION_LEFT_LAYOUT,
    )


def _actions(lines: list[OverdueLine], by: str, extension_left: bool = True) -> list[Words]:
    """What the institution must do by the date `by` (ISO): return, attest, or nothing; the
    return without an extension to ask for when no loan past due could still be extended."""
    actions: list[Words] = []
    if any(line.what == "return" for line in lines):
        asked = _return_action(by)
        if not extension_left:
            asked = reworded(
                f"By {by}, return the samples of every loan past due to the curator in a sealed "
                "container: none can be extended any further under the agreement terms quoted "
                "in this notice; do not use the samples further until then.",
                asked,
                NO_EXTENSION_LEFT_LAYOUT,
            )
        actions.append(asked)
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
    return actions


def _return_action(by: str) -> Words:
    """Return by the date `by`, or ask for an extension under the agreement's clause (layouts
    before 18 said the clause was "below", though the notice prints the terms above)."""

    def ask(clause: str) -> str:
        return (
            f"By {by}, return the samples of every loan past due to the curator in a sealed "
            f"container, or request an extension in writing under the {clause}; do not use the "
            "samples further until then."
        )

    now = ask("extension clause of the agreement terms quoted in this notice")
    return reworded(now, ask("agreement's extension clause below"), EXTENSION_CLAUSE_LAYOUT)


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


def _clauses(session: Session, loans: list[Loan], now: datetime) -> list[Party]:
    """The agreement terms the notice rests on: per agreement, its loan period and extensions,
    and, once it is no longer in force at `now`, when it ended (why none is extended)."""

    clauses = []
    for number in sorted({loan.agreement for loan in loans}):
        agreement = session.get(Agreement, number)
        if agreement is None:
            continue
        mine = [loan for loan in loans if loan.agreement == number]
        signed = f"signed {format_datetime(agreement.signed_at)}; " if agreement.signed_at else ""
        used = reworded(
            signed + _used(mine, counted(agreement.max_extensions, "extension")),
            signed + _used(mine, str(agreement.max_extensions)),
            WORDED_LAYOUT,
        )
        ended = agreement_ended(agreement, now)
        if ended:  # layouts before 20 quoted "0 of 1 used" with no word of the end
            worded = _used(mine, counted(agreement.max_extensions, "extension"))
            used = reworded(f"{signed}{ended}; {worded}", used, AGREEMENT_END_LAYOUT)
        clauses.append(Party(f"Agreement {number}", _clause(agreement), used))
    return clauses


def _used(loans: list[Loan], allowed: str) -> str:
    """How many extensions each loan has used of those `allowed` ('2 extensions')."""
    return ", ".join(
        f"{loan.number} has used {loan.extensions_granted} of {allowed}" for loan in loans
    )


def _clause(agreement: Agreement) -> Words:
    """An agreement's loan period and extensions, as the notice quotes them."""
    period = f"loans last at most {format_period(agreement.max_loan_period)}"
    earlier = (
        f"{period}; up to {agreement.max_extensions} extension(s) of at most "
        f"{format_period(agreement.max_extension_period)} each, requested in writing before the "
        "return is due"
    )
    if agreement.max_extensions == 0:
        return reworded(f"{period}; no extension", earlier, WORDED_LAYOUT)
    allowed = extensions_allowed(agreement.max_extensions, agreement.max_extension_period)
    return reworded(
        f"{period}; {allowed}, requested in writing before the return is due",
        earlier,
        WORDED_LAYOUT,
    )
