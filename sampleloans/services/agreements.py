"""Loan agreements: drafted with terms, signed, and ended by expiry or termination."""

from datetime import datetime

from sqlmodel import Session

from sampleloans.errors import Conflict, InvalidInput, RecordConflict, RuleViolation
from sampleloans.ledger import events as ev
from sampleloans.ledger.envelope import Context
from sampleloans.ledger.reads import get_row
from sampleloans.models import Agreement, Institution
from sampleloans.services.common import (
    LENDABLE_PURPOSES,
    append,
    get_agreement,
    get_institution,
    refuse_case_twin,
    require_choice,
    require_code,
    require_distinct,
    require_name,
    require_role,
    require_text,
)
from sampleloans.services.lock_reads import read_twin_with_the_lock, read_with_the_lock, validated
from sampleloans.services.results import AgreementWritten, agreement_written
from sampleloans.units import check_mass_ug, format_period, parse_period, period_longer
from sampleloans.vocab import AgreementStatus, InstitutionKind, state_words

RENEWAL_TERMS: dict[str, tuple[int, str]] = {"research": (1, "P6M"), "public_welfare": (1, "P1M")}
"""Default renewal per purpose: one extension of up to 6 months for research loans, of up to 1
month for public-welfare loans (CNSA rules, secondary copy [likely]: data/README.md, "Renewal").
Only defaults: `agreements add --max-extensions/--max-extension-period` set each agreement's
own."""


def renewal_defaults(purposes: list[str]) -> tuple[int, str]:
    """The default (extensions, longest extension) for the purposes an agreement allows: the
    research term when research is allowed, else the public-welfare one."""
    return RENEWAL_TERMS["research" if "research" in purposes else "public_welfare"]


MAX_EXTENSIONS_ALLOWED = 20
"""The most extensions an agreement may allow."""


def check_max_extensions(count: int, field: str = "max extensions") -> int:
    """An agreement's number of extensions allowed, 0 to 20 (InvalidInput naming `field`)."""
    if not 0 <= count <= MAX_EXTENSIONS_ALLOWED:
        raise InvalidInput(
            f"{field}: {count} is out of range; give 0 to {MAX_EXTENSIONS_ALLOWED} extensions"
        )
    return count


def create_agreement(
    session: Session,
    ctx: Context,
    *,
    number: str,
    institution: str,
    term: str,
    max_total_mass_ug: int,
    allowed_purposes: list[str],
    max_loan_period: str,
    destructive_use_allowed: bool = False,
    onward_transfer_allowed: bool = False,
    max_extensions: int | None = None,
    max_extension_period: str | None = None,
    inventory_interval: str = "P1Y",
    occurred_at: datetime | None = None,
) -> AgreementWritten:
    """Draft an agreement with its terms; it is pending until signed (curators only).

    Periods are read by `units.parse_period`, as the command reads its text (an imported line
    gives them as values). Renewal terms left out
    follow `RENEWAL_TERMS` for the purposes allowed.
    """
    key = validated(lambda: require_code(number, "agreement number"))
    read_with_the_lock(session, Agreement, key)  # "already exists?" comes with the lock
    read_twin_with_the_lock(session, Agreement.number, key)  # and "a case twin?"
    read_with_the_lock(session, Institution, institution)
    require_role(session, ctx, "curator", action="create agreements")
    number = require_code(number, "agreement number")
    if get_row(session, Agreement, number) is not None:
        raise RecordConflict(
            f"agreement {number} already exists; see 'agreements show {number}'", key=number
        )
    refuse_case_twin(session, Agreement.number, number, "agreement")
    partner = get_institution(session, institution)
    if partner.kind != InstitutionKind.BORROWER:
        raise InvalidInput(
            f"institution: {institution} is a {partner.kind}; agreements are with borrowers"
        )
    # the typed --max-mass's bounds, for an imported one too: above 10 kg (Chang'e-5 brought
    # back 1.731 kg) is a slip of the unit, whichever way it came
    check_mass_ug(max_total_mass_ug, "max mass")
    term, max_loan_period, inventory_interval = (
        parse_period(term, "term"),
        parse_period(max_loan_period, "max loan period"),
        parse_period(inventory_interval, "inventory interval"),
    )
    _within_the_term(max_loan_period, term, "max loan period")
    if max_extension_period is not None:
        max_extension_period = parse_period(max_extension_period, "max extension period")
        _within_the_term(max_extension_period, term, "max extension period")
    chosen = [require_choice(p, "purpose", LENDABLE_PURPOSES) for p in allowed_purposes]
    require_distinct([c.replace("_", "-") for c in chosen], "purpose", "purpose")  # as typed
    purposes = sorted(chosen)
    if not purposes:
        raise InvalidInput("purpose: allow at least one of research, public_welfare")
    default_extensions, default_period = renewal_defaults(purposes)
    max_extensions = default_extensions if max_extensions is None else max_extensions
    max_extension_period = max_extension_period or default_period
    check_max_extensions(max_extensions)
    event = ev.AgreementCreated(
        number=number,
        institution=institution,
        term=term,
        max_total_mass_ug=max_total_mass_ug,
        allowed_purposes=purposes,
        destructive_use_allowed=destructive_use_allowed,
        onward_transfer_allowed=onward_transfer_allowed,
        max_loan_period=max_loan_period,
        max_extensions=max_extensions,
        max_extension_period=max_extension_period,
        inventory_interval=inventory_interval,
    )
    envelope = append(session, ctx, event, occurred_at=occurred_at)
    return agreement_written(session, envelope, number)


def _within_the_term(period: str, term: str, field: str) -> None:
    """A loan (or an extension) longer than the agreement's whole term could never be
    granted under it: refused when the agreement is drafted, not at each loan."""
    if period_longer(period, term):
        raise InvalidInput(
            f"{field}: {format_period(period)} is longer than the agreement's term "
            f"({format_period(term)}); give at most {format_period(term)}"
        )


def sign_agreement(
    session: Session,
    ctx: Context,
    *,
    number: str,
    signed_by: str,
    occurred_at: datetime | None = None,
) -> AgreementWritten:
    """Record the signature; the agreement is in force from then for its term."""
    require_role(session, ctx, "curator", action="record signatures")
    agreement = get_agreement(session, number)
    if agreement.status != AgreementStatus.PENDING:
        raise Conflict(
            f"agreement {number} is {state_words(agreement.status)}; only pending ones can be "
            "signed"
        )
    when = occurred_at or ctx.now
    if when < agreement.created_at:  # time order is a rule (exit 1)
        raise RuleViolation(_before(number, "be signed", when, "drafted", agreement.created_at))
    event = ev.AgreementSigned(number=number, signed_by=require_name(signed_by, "signed by"))
    envelope = append(session, ctx, event, occurred_at=occurred_at)
    return agreement_written(session, envelope, number)


def end_agreement(
    session: Session,
    ctx: Context,
    *,
    number: str,
    status: str,
    reason: str,
    occurred_at: datetime | None = None,
) -> AgreementWritten:
    """Mark an agreement expired or terminated, with a reason; loans under it stay tracked."""
    require_role(session, ctx, "curator", action="end agreements")
    agreement = get_agreement(session, number)
    status = require_choice(status, "status", ("expired", "terminated"))
    if agreement.status not in (AgreementStatus.PENDING, AgreementStatus.SIGNED):
        raise Conflict(f"agreement {number} has already ended ({state_words(agreement.status)})")
    when = occurred_at or ctx.now
    if agreement.signed_at is not None and when < agreement.signed_at:
        raise RuleViolation(_before(number, "end", when, "signed", agreement.signed_at))
    if when < agreement.created_at:
        raise RuleViolation(_before(number, "end", when, "drafted", agreement.created_at))
    _after_last_issue(session, agreement, when)
    envelope = append(
        session,
        ctx,
        ev.AgreementEnded(number=number, status=status),
        occurred_at=occurred_at,
        reason=require_text(reason, "reason"),
    )
    return agreement_written(session, envelope, number)


def _before(number: str, act: str, when: datetime, done: str, done_at: datetime) -> str:
    """Why agreement `number` cannot `act` at `when`: it was `done` only at `done_at`."""
    from sampleloans.dates import bound_text, to_iso

    return (
        f"time: agreement {number} cannot {act} before it was {done}: {to_iso(when)} is before "
        f"{to_iso(done_at)}; give a time {bound_text(done_at)}"
    )


def _after_last_issue(session: Session, agreement: Agreement, when: datetime) -> None:
    """An agreement cannot end before a loan was requested, approved, issued or extended
    under it: each of those needed it not yet ended (an issue and an extension, in force), so
    an end dated earlier would leave them granted under an agreement that had ended."""
    from sampleloans.dates import bound_text, to_iso

    last = _last_act_under(session, agreement.number)
    if last is not None and when < last[2]:
        number, act, at = last
        raise RuleViolation(
            f"time: agreement {agreement.number} cannot end on {to_iso(when)}, before loan "
            f"{number} was {act} under it ({to_iso(at)}); it had not ended then: give a time "
            f"{bound_text(at)}"
        )


def _last_act_under(session: Session, agreement: str) -> tuple[str, str, datetime] | None:
    """The latest (loan, act, time) among the requests, approvals, issues and extensions of
    loans under `agreement` (the latest time; on a tie, the later act, then loan number)."""
    from sqlmodel import col, select

    from sampleloans.dates import from_iso
    from sampleloans.models import Extension, LedgerEvent, Loan

    acts: list[tuple[datetime, int, str, str]] = []
    loans = select(Loan.number, Loan.requested_at, Loan.approved_at, Loan.issued_at).where(
        Loan.agreement == agreement
    )
    for number, requested_at, approved_at, issued_at in session.exec(loans):
        for order, (act, at) in enumerate(
            (("requested", requested_at), ("approved", approved_at), ("issued", issued_at))
        ):
            if at is not None:
                acts.append((at, order, number, act))
    extended = (
        select(Extension.loan_number, LedgerEvent.occurred_at)
        .join(LedgerEvent, col(LedgerEvent.seq) == col(Extension.seq))
        .join(Loan, col(Loan.number) == col(Extension.loan_number))
        .where(Loan.agreement == agreement)
    )
    # an event keeps its time as the ISO text it was hashed with
    acts += [(from_iso(at), 3, number, "extended") for number, at in session.exec(extended)]
    if not acts:
        return None
    at, _order, number, act = max(acts)
    return number, act, at
