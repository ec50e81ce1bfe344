"""The life of a loan: request, approve, issue, ship, receive, consume, split, return, close.

Each function checks the rules of docs/domain.md ("Agreements and loans") first and refuses
with a specific message; only then does it append one event. Times come in as `occurred_at`
(default: `ctx.now`).
"""

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar, cast

from sqlalchemy import Table, bindparam
from sqlalchemy import select as select_rows
from sqlmodel import Session, col, select

from sampleloans.dates import (
    bound_text,
    format_datetime,
    format_moment,
    from_this_second_on,
    to_iso,
)
from sampleloans.errors import (
    Conflict,
    InvalidInput,
    PermissionDenied,
    RecordConflict,
    RuleViolation,
)
from sampleloans.ledger import events as ev
from sampleloans.ledger import overdue as rule
from sampleloans.ledger.apply import shipment_samples
from sampleloans.ledger.checks import NEVER_LENT, require_loan_transition, state_refusal
from sampleloans.ledger.envelope import Context, Envelope
from sampleloans.ledger.reads import get_row, open_batch
from sampleloans.models import (
    Agreement,
    Incident,
    Inventory,
    Loan,
    LoanItem,
    Person,
    Sample,
    Shipment,
    byte_lower,
    byte_order,
)
from sampleloans.services import access
from sampleloans.services.common import (
    LENDABLE_PURPOSES,
    OPEN_REQUESTS,
    TRANSFER_TYPES,
    acting_person,
    append,
    at_option,
    extension_days,
    frozen_words,
    get_agreement,
    get_loan,
    get_person,
    get_sample,
    in_force,
    open_request_of,
    refuse_case_twin,
    require_active,
    require_choice,
    require_code,
    require_distinct,
    require_role,
    require_text,
    resolve_incident_hint,
    twin_hint,
    where_sample_is,
)
from sampleloans.services.handover import (
    PARTY_FIELDS,
    check_sides,
    parties_of,
    require_active_defaults,
    require_party,
    step_of,
)
from sampleloans.services.loan_neighbours import STEP_NEIGHBOURS, declare_neighbours
from sampleloans.services.lock_reads import (
    answered_with_the_lock,
    declare_loan_check_scope,
    query_with_the_lock,
    read_twin_with_the_lock,
    read_with_the_lock,
    validated,
)
from sampleloans.services.queries import issued_under, last_event_of_loan, sent_back_at
from sampleloans.services.results import LoanWritten, SamplesWritten, loan_written, samples_written
from sampleloans.services.samples import child_code, taken_child_code
from sampleloans.text import counted
from sampleloans.units import (
    check_mass_ug,
    format_mass,
    format_period,
    parse_period,
    period_delta,
    period_longer,
    typed_mass,
)
from sampleloans.vocab import (
    ACTIVE_LOAN_STATUSES,
    AgreementStatus,
    CustodyState,
    Direction,
    IncidentStatus,
    ItemSource,
    ItemState,
    LoanStatus,
    Role,
    ShipmentMethod,
    state_words,
    values,
)

if TYPE_CHECKING:
    from sampleloans.ledger.unit import Unit

HandoverEvent = TypeVar("HandoverEvent", ev.LoanIssued, ev.LoanShipped, ev.LoanReceived)
SHIPPING_METHODS = values(ShipmentMethod)
SAMPLE = ("sample", "sample")
"""`require_distinct`'s field and noun for a list of sample codes (`--sample` at the CLI)."""


def _curator(session: Session, ctx: Context, action: str, person: Person | None = None) -> None:
    """Only curators change loans (`person`: the acting person, when already read)."""
    require_role(session, ctx, "curator", action=action, person=person)


def _lab_loan(
    session: Session,
    ctx: Context,
    number: str,
    action: str,
    doing: str,
    samples: tuple[str, ...] = (),
    *,
    at: datetime | None = None,
) -> Loan:
    """The loan, for what happens in the borrower's lab (issue 14 point 6): a curator, or a
    researcher of the loan's own institution (another institution's loan reads as a missing
    one: the refusal discloses nothing); its status must allow `action`. `samples`: the items
    the command will look at (`_held_item`), read with the loan; `at`: when the write says it
    happened (`require_loan_transition`)."""
    _read_with_the_lock(session, number, samples, STEP_NEIGHBOURS.get(action, ()))
    person = acting_person(session, ctx)
    if person.role == Role.COMPLIANCE_OFFICER:  # "only curators" would leave the lab out
        raise PermissionDenied(
            f"{person.email} is a compliance officer; only curators and the borrowing "
            f"institution's researchers may {doing}"
        )
    if person.role != Role.RESEARCHER:
        return _loan_for_curator(session, ctx, number, action, doing, person, at=at)
    loan = access.readable_loan(session, person, number)
    require_loan_transition(loan, action, researcher=True, at=at)
    return loan


def _read_with_the_lock(
    session: Session,
    number: str,
    samples: tuple[str, ...] = (),
    neighbours: tuple[str, ...] = (),
) -> None:
    """Declare the loan, and each named sample with its item on the loan, as rows the command
    looks up by key: on PostgreSQL they come with the writers' lock, not one wait each while it
    is held (`read_with_the_lock`), and they stay in the session for the write's `apply`.
    `neighbours`: the loan's other records the command reads (`loan_neighbours`), declared too.
    Not in an import's batch: its unit answers them (`_batch_answers`), nothing is declared."""
    if open_batch(session) is not None:
        return
    read_with_the_lock(session, Loan, number)
    for code in samples:
        read_with_the_lock(session, LoanItem, (number, code))
        read_with_the_lock(session, Sample, code)
    declare_neighbours(session, number, neighbours)
    # and what the checks will read about them (the mass issued: only an issue changes it)
    declare_loan_check_scope(
        session, number, mass_issued="issued under the agreement" in neighbours
    )


def _curated_loan(
    session: Session,
    ctx: Context,
    number: str,
    action: str,
    doing: str,
    *,
    at: datetime | None = None,
) -> Loan:
    """The loan, once the actor is a curator (allowed `doing`) and its status allows `action`
    (`at`: when the write says it happened, `require_loan_transition`)."""
    _read_with_the_lock(session, number, (), STEP_NEIGHBOURS.get(action, ()))
    return _loan_for_curator(session, ctx, number, action, doing, at=at)


def _loan_for_curator(
    session: Session,
    ctx: Context,
    number: str,
    action: str,
    doing: str,
    person: Person | None = None,
    *,
    at: datetime | None = None,
) -> Loan:
    """`_curated_loan` once its reads are declared (`person`: the acting person, when read)."""
    _curator(session, ctx, doing, person)
    loan = get_loan(session, number)
    require_loan_transition(loan, action, at=at)
    return loan


def items_of(session: Session, number: str) -> list[LoanItem]:
    """A loan's items in sample-code order."""
    batch = open_batch(session)
    if batch is not None:  # the unit's rows: no flush of the batch before a query
        return batch.loan_items(number)
    answered = answered_with_the_lock(session, ("items", number))
    if answered is not None:
        return list(answered)
    query = (
        select(LoanItem)
        .where(LoanItem.loan_number == number)
        .order_by(byte_order(LoanItem.sample_code))
    )
    return list(session.exec(query).all())


MANY_KEYS = 20
"""Sample codes of a loan request read with the writers' lock at most (one pipelined read each)."""


def request_loan(
    session: Session,
    ctx: Context,
    *,
    number: str,
    agreement: str,
    pi: str,
    samples: list[str],
    purpose_class: str = "research",
    transfer_type: str = "loan",
    loan_period: str | None = None,
    occurred_at: datetime | None = None,
) -> Envelope:
    """Record a PI's request for whole samples under an agreement (curators only)."""
    if open_batch(session) is None:  # an import's batch reads through its unit
        key = validated(lambda: require_code(number, "loan number"))
        read_with_the_lock(session, Loan, key)
        read_twin_with_the_lock(session, Loan.number, key)  # and "a case twin?"
        read_with_the_lock(session, Agreement, agreement)
        read_with_the_lock(session, Person, pi.lower())
        for code in samples[:MANY_KEYS]:  # a long list is read by the command as usual
            code = validated(partial(require_code, code))
            read_with_the_lock(session, Sample, code)
            query_with_the_lock(
                session, ("open requests", code), None, OPEN_REQUESTS, {"code": code}
            )
    _curator(session, ctx, "record loan requests")
    number = require_code(number, "loan number")
    if get_row(session, Loan, number) is not None:
        raise RecordConflict(f"loan {number} already exists; loan numbers are unique", key=number)
    batch = open_batch(session)
    if batch is None or _case_twin_in_batch(batch, number):  # which then reads it to refuse
        refuse_case_twin(session, Loan.number, number, "loan")
    deal = get_agreement(session, agreement)
    when = occurred_at or ctx.now
    if when < deal.created_at:  # time order is a rule (exit 1): the agreement did not exist
        raise RuleViolation(
            f"time: loan {number} cannot be requested on {to_iso(when)} under agreement "
            f"{deal.number}, before it was drafted ({to_iso(deal.created_at)}); give a time "
            f"{bound_text(deal.created_at)}"
        )
    _not_ended(deal, number, when)
    person = require_active(get_person(session, pi), "pi")
    if person.institution != deal.institution:
        raise InvalidInput(
            f"pi: {person.email} belongs to {person.institution}, not {deal.institution} "
            f"(agreement {deal.number})"
        )
    purpose = require_choice(purpose_class, "purpose", LENDABLE_PURPOSES)
    if purpose not in deal.allowed_purposes.split(","):
        allowed = deal.allowed_purposes.replace("_", "-").replace(",", ", ")
        raise RuleViolation(  # purposes spelled as typed (public-welfare), not as stored
            f"purpose: agreement {deal.number} allows {allowed} use, not "
            f"{purpose.replace('_', '-')}"
        )
    period = parse_period(loan_period, "period") if loan_period else deal.max_loan_period
    if period_longer(period, deal.max_loan_period):
        raise RuleViolation(
            f"period: {format_period(period)} is longer than agreement {deal.number} allows "
            f"({format_period(deal.max_loan_period)})"
        )
    _requested_due_within_the_term(number, period, deal, when)
    codes = sorted(require_distinct([require_code(code, "sample") for code in samples], *SAMPLE))
    if not codes:
        raise InvalidInput("samples: name at least one sample code")
    for code in codes:
        _lendable(session, get_sample(session, code), occurred_at)
        _not_on_another_request(session, code)
    event = ev.LoanRequested(
        number=number,
        agreement=deal.number,
        pi=person.email,
        purpose_class=purpose,
        transfer_type=require_choice(transfer_type, "transfer type", TRANSFER_TYPES),
        loan_period=period,
        samples=codes,
    )
    return append(session, ctx, event, occurred_at=occurred_at)


def _batch_reads() -> dict[str, Any]:
    """The queries an import's loan step answers from its unit (`Unit.rows_where`), built
    once (building a statement cost more than running it), each of the key columns and the
    columns the step reads (converting the others cost more than the query)."""
    loan_t: Table = Loan.__table__  # type: ignore[attr-defined]  # SQLModel sets it
    item_t: Table = LoanItem.__table__  # type: ignore[attr-defined]  # SQLModel sets it
    shipment_t: Table = Shipment.__table__  # type: ignore[attr-defined]  # SQLModel sets it
    loan = loan_t.c
    return {
        "loans out": select_rows(
            loan.number, loan.institution, loan.status, loan.due_at, loan.next_inventory_due_at
        ).where(
            loan.institution == bindparam("institution"), loan.status.in_(ACTIVE_LOAN_STATUSES)
        ),
        "issued under": select_rows(
            item_t.c.loan_number, item_t.c.sample_code, item_t.c.source, item_t.c.issued_ug
        ).where(
            item_t.c.loan_number.in_(
                select_rows(loan.number).where(loan.agreement == bindparam("agreement"))
            ),
            item_t.c.source == ItemSource.ISSUED,
        ),
        "in transit": select_rows(
            *(shipment_t.c[name] for name in ("seq", "loan_number", "direction")),
            *(shipment_t.c[name] for name in ("received_at", "seal_number")),
        ).where(
            shipment_t.c.loan_number == bindparam("number"),
            shipment_t.c.direction == bindparam("direction"),
            shipment_t.c.received_at.is_(None),
        ),
        "returns sent": select_rows(
            *(shipment_t.c[name] for name in ("seq", "loan_number", "direction", "shipped_at")),
        ).where(
            shipment_t.c.loan_number == bindparam("number"),
            shipment_t.c.direction == Direction.RETURN.value,
        ),
        "case twins": select_rows(loan.number).where(
            byte_lower(loan.number) == bindparam("lower"), loan.number != bindparam("number")
        ),
    }


_BATCH_READS = _batch_reads()


def _lower_number_of_key(key: tuple[Any, ...]) -> Any:
    """A loan's primary key (its number) in lower case: the group of its case twins."""
    return str(key[0]).lower()


def _case_twin_in_batch(batch: "Unit", number: str) -> bool:
    """Whether a loan number differing from `number` only in case is recorded or in an
    import's batch, read from the unit (`refuse_case_twin`'s query would write the batch)."""
    lower = number.lower()
    twins = batch.rows_where(
        Loan,
        _BATCH_READS["case twins"],
        {"lower": lower, "number": number},
        lambda loan: loan.number.lower() == lower and loan.number != number,
        ("lower number", _lower_number_of_key, lower),  # the condition names the key's case
    )
    return bool(twins)


def _loan_result(
    session: Session, envelope: Envelope, number: str, codes: list[str]
) -> LoanWritten:
    """`loan_written`; in an import's batch from the unit's rows (the session would write the
    batch before it loads a row the unit holds)."""
    batch = open_batch(session)
    if batch is None:
        return loan_written(session, envelope, number, codes)
    loan = batch.get(Loan, number)
    items = tuple(batch.get(LoanItem, (number, code)) for code in sorted(codes))
    assert loan is not None and None not in items, f"loan {number} was just written"
    return LoanWritten(envelope, loan, cast(tuple[LoanItem, ...], items))


def _not_on_another_request(session: Session, code: str) -> None:
    """Refuse a sample already on an open request: issuing one would strand the other, which
    was only refused at its issue (and an import's batch refuses it the same way)."""
    other = open_request_of(session, code)
    if other is not None:
        raise Conflict(
            f"sample {code} is already on loan request {other.number} "
            f"({state_words(other.status)}, not issued); one sample is on one open request at "
            f"a time: leave it out, or withdraw {other.number} first ('loans withdraw "
            f"{other.number} --reason …')"
        )


def _lendable(session: Session, sample: Sample, at: datetime | None = None) -> None:
    """Refuse storage-class material, frozen samples (naming the resolution, dated `at` when the
    request or issue is) and samples already out."""
    if sample.purpose_class in NEVER_LENT:
        raise RuleViolation(
            f"sample {sample.code} is {sample.purpose_class} storage material, which is never lent"
        )
    if sample.frozen:
        raise Conflict(frozen_words(session, sample.code, at=at))
    if sample.custody_state != CustodyState.VAULT:
        raise Conflict(f"sample {sample.code} is {where_sample_is(sample)}; it is not available")
    if sample.vault_ug <= 0:
        raise Conflict(f"sample {sample.code} has no mass left in the vault")


def approve_loan(
    session: Session, ctx: Context, *, number: str, occurred_at: datetime | None = None
) -> Envelope:
    """Approve a requested loan, under an agreement it could still be issued under."""
    loan = _curated_loan(session, ctx, number, "approve", "approve loans", at=occurred_at)
    when = occurred_at or ctx.now
    deal = get_agreement(session, loan.agreement)
    _not_ended(deal, number, when, "approved")
    subject = f"loan {number} approved on {format_datetime(when)} and issued at once"
    _lent_within_the_term(subject, loan.loan_period, deal, when, again=True)
    return append(session, ctx, ev.LoanApproved(number=number), occurred_at=occurred_at)


def borrower_blockers(
    session: Session, institution: str, now: datetime, out: list[Loan] | None = None
) -> list[str]:
    """Overdue loans and overdue inventories of an institution, as sentences (`out`: its loans
    out, in number order, when already read)."""
    batch = open_batch(session)
    if out is None and batch is not None:  # the unit's rows: no flush of the batch
        out = batch.rows_where(
            Loan,
            _BATCH_READS["loans out"],
            {"institution": institution},
            lambda loan: loan.institution == institution and loan.status in ACTIVE_LOAN_STATUSES,
            ("institution", "institution", institution),  # the condition names the institution
        )
        out.sort(key=lambda loan: loan.number)
    if out is None:
        query = select(Loan).where(
            Loan.institution == institution,
            col(Loan.status).in_(ACTIVE_LOAN_STATUSES),
        )
        out = list(session.exec(query.order_by(byte_order(Loan.number))).all())
    sent = _sent_back(session, batch, out)
    blockers = []
    for loan in out:
        sent_at = sent.get(loan.number)
        if loan.due_at is not None and rule.return_overdue(loan.status, loan.due_at, now, sent_at):
            blockers.append(f"loan {loan.number} was due {format_datetime(loan.due_at)}")
        inventory_due_at = loan.next_inventory_due_at
        if inventory_due_at is not None and rule.inventory_overdue(
            loan.status, inventory_due_at, now, sent_at
        ):
            due = format_datetime(inventory_due_at)
            blockers.append(f"the inventory of loan {loan.number} was due {due}")
    return blockers


def _sent_back(session: Session, batch: "Unit | None", out: list[Loan]) -> dict[str, datetime]:
    """When the last return shipment left, for each loan of `out` whose every part left is on
    its way back (`queries.sent_back_at`); in an import's batch, read from its unit."""
    if batch is None:
        return sent_back_at(session, out)
    found: dict[str, datetime] = {}
    for loan in out:
        if loan.status != LoanStatus.RETURN_IN_TRANSIT:
            continue
        number = loan.number

        def a_return_of(shipment: Shipment, number: str = number) -> bool:
            """The condition of the "returns sent" query, on a row the unit holds."""
            return shipment.loan_number == number and shipment.direction == Direction.RETURN

        shipments = batch.rows_where(
            Shipment,
            _BATCH_READS["returns sent"],
            {"number": number},
            a_return_of,
            ("loan", "loan_number", number),  # the condition names the shipment's loan
        )
        if shipments:
            found[number] = max(shipment.shipped_at for shipment in shipments)
    return found


def issue_loan(
    session: Session,
    ctx: Context,
    *,
    number: str,
    occurred_at: datetime | None = None,
    released_by: str | None = None,
    received_by: str | None = None,
    courier: str | None = None,
    witness: str | None = None,
) -> LoanWritten:
    """Issue an approved loan: the samples leave the vault, whole, under an agreement in force."""
    loan = _curated_loan(session, ctx, number, "issue", "issue loans", at=occurred_at)
    when = occurred_at or ctx.now
    deal = get_agreement(session, loan.agreement)
    _agreement_in_force(deal, loan, when)
    _issued_due_within_the_term(loan, deal, when)
    out = answered_with_the_lock(session, ("loans out at the institution", number))
    blockers = borrower_blockers(session, loan.institution, when, out)
    if blockers:
        raise RuleViolation(
            f"{loan.institution} cannot be issued new material while "
            f"{'; '.join(blockers)}; record the return, an extension or the inventory first"
        )
    items = items_of(session, number)
    samples = [get_sample(session, item.sample_code) for item in items]
    for sample in samples:
        _lendable(session, sample, occurred_at)
    new_ug = sum(sample.vault_ug for sample in samples)
    already_ug = _issued_under(session, number, deal.number)
    if already_ug + new_ug > deal.max_total_mass_ug:
        raise RuleViolation(
            f"agreement {deal.number} allows {format_mass(deal.max_total_mass_ug)} in total; "
            f"{format_mass(already_ug)} already issued + {format_mass(new_ug)} now would exceed it"
            # the loan's samples are fixed once requested: say what can still go, and how
            f"; at most {format_mass(max(deal.max_total_mass_ug - already_ug, 0))} more can be "
            f"issued under it: withdraw loan {number} ('loans withdraw') and request one of "
            "less ('samples split' lends part of a sample)"
        )
    event = ev.LoanIssued(number=number, items=[ev.CodeMass(s.code, s.vault_ug) for s in samples])
    parties = HandoverInput(released_by, received_by, courier, witness)
    envelope = append(
        session, ctx, with_parties(session, ctx, event, parties), occurred_at=occurred_at
    )
    batch = open_batch(session)
    if batch is not None:  # the items just issued: `issued_ug` = the mass each left with
        batch.agreement_issued_ug[deal.number] = already_ug + new_ug
    return _loan_result(session, envelope, number, [s.code for s in samples])


def _issued_under(session: Session, number: str, agreement: str) -> int:
    """Micrograms issued so far under loan `number`'s agreement (read with the lock, or now)."""
    batch = open_batch(session)
    if batch is not None:  # the unit's running total, read once per agreement: no flush
        totals = batch.agreement_issued_ug
        if agreement not in totals:
            totals[agreement] = _issued_in_batch(batch, agreement)
        return totals[agreement]
    answered = answered_with_the_lock(session, ("issued under the agreement", number))
    if answered:
        (found, issued_ug), *_rest = answered
        if found == agreement:
            return int(issued_ug)
    return issued_under(session, agreement)


def _issued_in_batch(batch: "Unit", agreement: str) -> int:
    """`issued_under` as an import's unit will write it: the items issued on the agreement's
    loans (an item's agreement is its loan's, which never changes)."""
    items = batch.rows_where(
        LoanItem,
        _BATCH_READS["issued under"],
        {"agreement": agreement},
        lambda item: (
            item.source == ItemSource.ISSUED and _agreement_of(batch, item.loan_number) == agreement
        ),
    )
    return sum(item.issued_ug for item in items)


def _agreement_of(batch: "Unit", number: str) -> str | None:
    """The agreement of a loan the unit reads."""
    loan = batch.get(Loan, number)
    return None if loan is None else loan.agreement


@dataclass(frozen=True)
class HandoverInput:
    """The persons of a hand-over as the command gives them (None: the default)."""

    released_by: str | None = None
    received_by: str | None = None
    courier: str | None = None
    witness: str | None = None


def with_parties(
    session: Session, ctx: Context, event: HandoverEvent, given: HandoverInput
) -> HandoverEvent:
    """The hand-over event with its persons: those given (checked) and the defaults for the rest,
    so the payload records who released and who received, apart from who records it."""
    # Any: the four party fields of every hand-over event are `str | None`, which mypy cannot
    # tell from the other fields `replace` would accept by keyword
    recorder = session.get(Person, ctx.actor)  # loaded by the role check: no query
    checked: dict[str, Any] = {
        name: require_party(session, getattr(given, name), name.replace("_", " "), recorder)
        for name in PARTY_FIELDS
    }
    draft = dataclasses.replace(
        event,
        released_by=checked["released_by"],
        received_by=checked["received_by"],
        courier=checked["courier"],
        witness=checked["witness"],
    )
    payload = draft.to_payload()
    parties = parties_of(session, event.kind, payload, ctx.actor)
    require_active_defaults(session, checked, parties)
    step = step_of(session, event.kind, payload)
    check_sides(session, step, get_loan(session, event.number), parties)
    return dataclasses.replace(
        draft, released_by=parties.released_by, received_by=parties.received_by
    )


def _not_ended(deal: Agreement, number: str, when: datetime, step: str = "requested") -> None:
    """Refuse a request (or an approval: `step`) under an agreement that has ended by `when`:
    the loan could never be issued."""
    # an approved loan is recorded: it is withdrawn, and requested again under a new agreement
    todo = "withdraw it ('loans withdraw'); " if step != "requested" else ""
    if deal.ended_at is not None and deal.ended_at <= when:
        raise RuleViolation(
            f"agreement {deal.number} was {state_words(deal.status)} on "
            f"{format_datetime(deal.ended_at)}; "
            f"loan {number} cannot be {step} under it ({todo}a new agreement is needed: "
            "'agreements add')"
        )
    if deal.expires_at is not None and deal.expires_at <= when:
        raise RuleViolation(
            f"agreement {deal.number} expired at the end of its term on "
            f"{format_datetime(deal.expires_at)}; loan {number} cannot be {step} under it "
            f"({todo}a new agreement is needed: 'agreements add')"
        )


def _agreement_in_force(deal: Agreement, loan: Loan, when: datetime) -> None:
    """Refuse issuing without a signed agreement in force."""
    if deal.status == AgreementStatus.PENDING:
        raise RuleViolation(
            f"agreement {deal.number} with {deal.institution} is not signed; loan {loan.number} "
            "cannot be issued until it is ('agreements sign')"
        )
    if not in_force(deal, when):
        raise RuleViolation(
            f"agreement {deal.number} with {deal.institution} is not in force on "
            f"{format_moment(when)}: {_term_words(deal)}; loan {loan.number} cannot be issued"
        )


def _issued_due_within_the_term(loan: Loan, deal: Agreement, when: datetime) -> None:
    """Refuse an issue that would make the loan due after its agreement's term ends: the loan
    runs under the agreement's terms, which do not run past that end (as for an extension)."""
    subject = f"loan {loan.number} issued on {format_datetime(when)}"
    _lent_within_the_term(subject, loan.loan_period, deal, when, again=True)


def _requested_due_within_the_term(
    number: str, period: str, deal: Agreement, when: datetime
) -> None:
    """Refuse a request that could never be issued within the agreement's term: issued at once,
    it would already fall due after the term's end (`_issued_due_within_the_term`)."""
    subject = f"loan {number} requested on {format_datetime(when)} and issued at once"
    _lent_within_the_term(subject, period, deal, when, again=False)


def _lent_within_the_term(
    subject: str, period: str, deal: Agreement, when: datetime, *, again: bool
) -> None:
    """Refuse a loan of `period` from `when` that falls due after the agreement's term ends;
    the line names both dates and the longest period that fits (`again`: the loan is recorded,
    so it is withdrawn and requested again)."""
    if deal.expires_at is None:  # an agreement without a term, or not yet signed
        return
    due_at = when + period_delta(period)
    if due_at <= deal.expires_at:
        return
    days_left = (deal.expires_at - when).days  # whole days: `when` + that many stays within
    days = counted(days_left, "day")
    shorter = f" with a --period of at most {days}, or" if days_left > 0 else ""
    what = "withdraw it ('loans withdraw') and request it again" if again else "request it"
    raise RuleViolation(
        f"{subject} for {format_period(period)} would be due {format_datetime(due_at)}, after "
        f"agreement {deal.number} ends on {format_datetime(deal.expires_at)}; {what}{shorter} "
        "under a new agreement ('agreements add')"
    )


def _term_words(deal: Agreement) -> str:
    """When an agreement was in force: 'in force from … until … (expired)', or that it ended
    before it was ever signed."""
    if deal.signed_at is None:  # ended while pending: it never came into force
        assert deal.ended_at is not None  # a pending one is refused before
        ended = f"{state_words(deal.status)} on {format_datetime(deal.ended_at)}"
        return f"it was never signed, and was {ended}"
    end = deal.ended_at or deal.expires_at
    until = f" until {format_moment(end)}" if end else ""
    ended = f" ({state_words(deal.status)})" if deal.ended_at else ""
    # from its first whole second: signed at 10:00:30.5, 10:00:30 is refused again
    return f"in force from {format_moment(from_this_second_on(deal.signed_at))}{until}{ended}"


def ship_loan(
    session: Session,
    ctx: Context,
    *,
    number: str,
    container: str,
    seal_number: str,
    method: str = "courier",
    occurred_at: datetime | None = None,
    released_by: str | None = None,
    received_by: str | None = None,
    courier: str | None = None,
    witness: str | None = None,
) -> Envelope:
    """Release an issued loan's samples for shipment in a sealed container."""
    loan = _curated_loan(session, ctx, number, "ship", "release loans for shipment", at=occurred_at)
    samples = [i.sample_code for i in items_of(session, number) if i.state == ItemState.ISSUED]
    parties = HandoverInput(released_by, received_by, courier, witness)
    return _ship(
        session,
        ctx,
        loan,
        "outbound",
        samples,
        (container, seal_number, method),
        parties,
        occurred_at,
    )


def _ship(
    session: Session,
    ctx: Context,
    loan: Loan,
    direction: str,
    samples: list[str],
    packing: tuple[str, str, str],  # container, seal number, method
    parties: "HandoverInput",
    occurred_at: datetime | None,
) -> Envelope:
    """Append one shipment event after validating its fields."""
    container, seal_number, method = packing
    if not samples:
        raise Conflict(f"loan {loan.number} has no samples to ship")
    event = ev.LoanShipped(
        number=loan.number,
        direction=direction,
        container=require_text(container, "container", max_len=120),
        seal_number=require_text(seal_number, "seal number", max_len=80),
        method=require_choice(method, "method", SHIPPING_METHODS),
        samples=sorted(samples),
    )
    return append(session, ctx, with_parties(session, ctx, event, parties), occurred_at=occurred_at)


def open_shipment(session: Session, number: str, direction: str) -> Shipment:
    """The latest shipment of a loan in one direction that has not been received."""
    answered = _in_transit(session, number, direction)
    if answered is not None:
        if not answered:
            raise Conflict(f"loan {number} has no {direction} shipment in transit")
        return answered[-1]
    query = (
        select(Shipment)
        .where(
            Shipment.loan_number == number,
            Shipment.direction == direction,
            col(Shipment.received_at).is_(None),
        )
        .order_by(col(Shipment.seq).desc())
    )
    shipment = session.exec(query).first()
    if shipment is None:
        raise Conflict(f"loan {number} has no {direction} shipment in transit")
    return shipment


def _in_transit(session: Session, number: str, direction: str) -> list[Shipment] | None:
    """A loan's shipments in one direction not yet received, oldest first, where they were
    read with the lock or an import's unit holds them (None: neither)."""
    batch = open_batch(session)
    if batch is not None:  # the unit's rows: no flush of the batch
        shipments = batch.rows_where(
            Shipment,
            _BATCH_READS["in transit"],
            {"number": number, "direction": direction},
            lambda s: (
                s.loan_number == number and s.direction == direction and s.received_at is None
            ),
            ("loan", "loan_number", number),  # the condition names the shipment's loan
        )
        return sorted(shipments, key=lambda s: s.seq)
    answered = answered_with_the_lock(session, ("shipments in transit", number))
    if answered is None:
        return None
    return sorted((s for s in answered if s.direction == direction), key=lambda s: s.seq)


def open_returns(session: Session, number: str) -> list[tuple[Shipment, list[str]]]:
    """A loan's return shipments still in transit, oldest first, each with its samples."""
    answered = _in_transit(session, number, Direction.RETURN)
    if answered is not None:
        events = open_batch(session) or session  # the unit: its own events without a flush
        return [(s, shipment_samples(events, s.seq)) for s in answered]
    query = (
        select(Shipment)
        .where(
            Shipment.loan_number == number,
            Shipment.direction == Direction.RETURN,
            col(Shipment.received_at).is_(None),
        )
        .order_by(col(Shipment.seq))
    )
    return [(s, shipment_samples(session, s.seq)) for s in session.exec(query).all()]


def _return_being_accepted(
    session: Session, number: str, weighed_codes: set[str]
) -> tuple[Shipment, list[str]]:
    """The one return shipment whose samples were weighed (the only one, if just one travels)."""
    travelling = open_returns(session, number)
    if not travelling:
        raise Conflict(
            f"loan {number} has no return shipment in transit; release samples for return "
            "first ('loans return')"
        )
    named = [(shipment, codes) for shipment, codes in travelling if weighed_codes & set(codes)]
    if len(named) == 1 or (not named and len(travelling) == 1):
        return (named or travelling)[0]
    listing = "; ".join(f"seal {s.seal_number}: {', '.join(codes)}" for s, codes in travelling)
    if not named:
        raise InvalidInput(
            f"weighed: name the samples of one return shipment of loan {number} ({listing})"
        )
    raise InvalidInput(
        f"weighed: the samples named came back in different shipments ({listing}); "
        "accept each shipment on its own"
    )


def _only_shipped(number: str, shipment: Shipment, codes: list[str], weighed: set[str]) -> None:
    """A weighed code must be a sample of this shipment: name the first stranger, and what the
    shipment carries, before asking for anything else."""
    unknown = sorted(weighed - set(codes))
    if unknown:
        kind = "shipment" if shipment.direction == Direction.OUTBOUND else "return shipment"
        raise InvalidInput(
            f"weighed: {unknown[0]} is not in the {kind} of loan {number} under seal "
            f"{shipment.seal_number}; it carries {', '.join(sorted(codes))}"
        )


def _weighed_list(
    session: Session, number: str, codes: list[str], weighed_ug: dict[str, int]
) -> list[ev.CodeMass]:
    """Weighed masses for the shipped samples; a missing weighing means 'as expected'."""
    result: list[ev.CodeMass] = []
    for code in codes:
        expected = get_row(session, LoanItem, (number, code))
        assert expected is not None
        mass = check_mass_ug(weighed_ug.get(code, expected.held_ug), "weighed", allow_zero=True)
        result.append(ev.CodeMass(code, mass))
    return result


def receive_loan(
    session: Session,
    ctx: Context,
    *,
    number: str,
    seal_intact: bool,
    condition: str,
    weighed_ug: dict[str, int] | None = None,
    occurred_at: datetime | None = None,
    released_by: str | None = None,
    received_by: str | None = None,
    courier: str | None = None,
    witness: str | None = None,
) -> Envelope:
    """Record the borrower's receipt: seal check, condition, weighed mass (discrepancies kept)."""
    _lab_loan(session, ctx, number, "receive", "record receipts", at=occurred_at)
    shipment = open_shipment(session, number, "outbound")
    codes = [i.sample_code for i in items_of(session, number) if i.state == ItemState.IN_TRANSIT]
    _only_shipped(number, shipment, codes, set(weighed_ug or {}))
    event = ev.LoanReceived(
        number=number,
        shipment_seq=shipment.seq,
        seal_intact=seal_intact,
        condition=require_text(condition, "condition", max_len=200),
        weighed=_weighed_list(session, number, codes, weighed_ug or {}),
    )
    parties = HandoverInput(released_by, received_by, courier, witness)
    return append(session, ctx, with_parties(session, ctx, event, parties), occurred_at=occurred_at)


def _held_item(
    session: Session,
    number: str,
    code: str,
    ctx: Context | None = None,
    *,
    at: datetime | None = None,
) -> LoanItem:
    """An item of a loan that the borrower holds now (a refusal to a researcher acting in
    `ctx` names a curator's step as the curator's; one of a write dated `at`, before the
    sample's last event, names the time first: `state_refusal`)."""
    item = get_row(session, LoanItem, (number, code))  # an import's unit holds it: no ORM load
    if item is None:
        # a code typed in small letters: the loan's item is one the actor may read already
        capitals = code.upper()
        twin = capitals != code and get_row(session, LoanItem, (number, capitals)) is not None
        hint = twin_hint(capitals, "sample") if twin else f"see 'loans show {number}'"
        raise InvalidInput(f"sample: {code} is not part of loan {number}; {hint}")
    if item.state == ItemState.RETURN_IN_TRANSIT:
        arrival = (
            f"a curator records its arrival ('loans accept-return {number}')"
            if _by_researcher(session, ctx)
            else f"record its arrival with 'loans accept-return {number}'"
        )
        raise _item_refusal(
            session,
            code,
            f"sample {code} of loan {number} is on its way back (return in transit), not held "
            f"by the borrower; {arrival}",
            at,
        )
    if item.state != ItemState.HELD:
        message = f"sample {code} of loan {number} is {state_words(item.state)}, not held"
        raise _item_refusal(session, code, message, at)
    if get_sample(session, code).frozen:
        frozen = frozen_words(session, code, researcher=_by_researcher(session, ctx), at=at)
        raise _item_refusal(session, code, frozen, at)
    return item


def _item_refusal(
    session: Session, code: str, message: str, at: datetime | None
) -> Conflict | RuleViolation:
    """The refusal of an item not held: a later event's doing when the write is dated before
    the sample's last event (`state_refusal`)."""
    return state_refusal(message, f"sample {code}", get_sample(session, code).last_event_at, at)


def _by_researcher(session: Session, ctx: Context | None) -> bool:
    """Whether the person acting in `ctx` (already loaded by the role check) is a researcher;
    asked only for a refusal's words."""
    return ctx is not None and acting_person(session, ctx).role == Role.RESEARCHER


def consume(
    session: Session,
    ctx: Context,
    *,
    number: str,
    sample: str,
    technique: str,
    mass_ug: int,
    destructive: bool,
    occurred_at: datetime | None = None,
) -> Envelope:
    """Record mass used by one analysis; destructive use only where the agreement allows it."""
    loan = _lab_loan(
        session, ctx, number, "consume", "record consumption", (sample,), at=occurred_at
    )
    item = _held_item(session, number, sample, ctx, at=occurred_at)
    deal = get_agreement(session, loan.agreement)
    if destructive and not deal.destructive_use_allowed:
        raise RuleViolation(
            f"agreement {deal.number} does not allow destructive use; {technique} on {sample} "
            "cannot be recorded as destructive"
        )
    _within_held(item, mass_ug, "consume")
    event = ev.LoanConsumed(
        number=number,
        sample=sample,
        technique=require_text(technique, "technique", max_len=120),
        destructive=destructive,
        mass_ug=mass_ug,
    )
    return append(session, ctx, event, occurred_at=occurred_at)


def _within_held(item: LoanItem, mass_ug: int, verb: str) -> None:
    """Refuse zero, what no typed mass could be, or more than the borrower holds."""
    check_mass_ug(mass_ug, "mass")
    if mass_ug > item.held_ug:
        raise RuleViolation(
            f"mass: cannot {verb} {format_mass(mass_ug)} of {item.sample_code}: the borrower holds "
            f"only {format_mass(item.held_ug)} on loan {item.loan_number}"
        )


def borrower_split(
    session: Session,
    ctx: Context,
    *,
    number: str,
    parent: str,
    child: str,
    mass_ug: int,
    occurred_at: datetime | None = None,
) -> SamplesWritten:
    """Record a split the borrower made; the child is a new sample held on the same loan."""
    _lab_loan(session, ctx, number, "split", "record borrower splits", (parent,), at=occurred_at)
    item = _held_item(session, number, parent, ctx, at=occurred_at)
    code = child_code(parent, child)
    if session.get(Sample, code) is not None:
        raise Conflict(taken_child_code(code))
    _within_held(item, mass_ug, "split")
    event = ev.LoanSplit(number=number, parent=parent, child=code, mass_ug=mass_ug)
    envelope = append(session, ctx, event, occurred_at=occurred_at)
    batch = open_batch(session)
    if batch is not None:  # the unit's row: the session would write the batch to load it
        child_row = batch.get(Sample, code)
        assert child_row is not None, f"sample {code} was just written"
        return SamplesWritten(envelope, (child_row,))
    return samples_written(session, envelope, [code])


def release_return(
    session: Session,
    ctx: Context,
    *,
    number: str,
    container: str,
    seal_number: str,
    method: str = "courier",
    samples: list[str] | None = None,
    occurred_at: datetime | None = None,
    released_by: str | None = None,
    received_by: str | None = None,
    courier: str | None = None,
    witness: str | None = None,
) -> Envelope:
    """Release held samples (all, or the named ones) for the return trip."""
    loan = _curated_loan(session, ctx, number, "ship_return", "release returns", at=occurred_at)
    held = [i.sample_code for i in items_of(session, number) if i.state == ItemState.HELD]
    chosen = sorted(require_distinct(samples, *SAMPLE)) if samples else held
    if not chosen:
        raise Conflict(_nothing_to_return(number))
    for code in chosen:
        _held_item(session, number, code, at=occurred_at)
    parties = HandoverInput(released_by, received_by, courier, witness)
    packing = (container, seal_number, method)
    return _ship(session, ctx, loan, "return", chosen, packing, parties, occurred_at)


def _nothing_to_return(number: str) -> str:
    """Why a received loan has no sample to release for return, and the step due instead
    ("no samples to ship" said neither). Its status is received, so nothing is on its way
    back either (the loan would be "return in transit"): every microgram was used up."""
    return (
        f"loan {number} has no sample held to send back: every microgram was consumed, split, "
        f"transferred or lost; settle it ('loans settle {number} --obligations …')"
    )


def accept_return(
    session: Session,
    ctx: Context,
    *,
    number: str,
    seal_intact: bool,
    condition: str,
    weighed_ug: dict[str, int],
    occurred_at: datetime | None = None,
    released_by: str | None = None,
    received_by: str | None = None,
    courier: str | None = None,
    witness: str | None = None,
) -> LoanWritten:
    """Accept one return shipment (the one whose samples are weighed); each sample must weigh
    what the borrower is accountable for. Other returns of the loan may still be travelling."""
    _curated_loan(session, ctx, number, "accept_return", "accept returns", at=occurred_at)
    shipment, codes = _return_being_accepted(session, number, set(weighed_ug))
    _only_shipped(number, shipment, codes, set(weighed_ug))
    missing = [code for code in codes if code not in weighed_ug]
    if missing:
        raise InvalidInput(
            f"weighed: give the weighed mass of {missing[0]} (e.g. {missing[0]}=19.5mg)"
        )
    weighed = _weighed_list(session, number, codes, weighed_ug)
    for code in codes:
        _exact_return(session, number, code, weighed_ug[code], occurred_at)
    event = ev.LoanReceived(
        number=number,
        shipment_seq=shipment.seq,
        seal_intact=seal_intact,
        condition=require_text(condition, "condition", max_len=200),
        weighed=weighed,
    )
    parties = HandoverInput(released_by, received_by, courier, witness)
    envelope = append(
        session, ctx, with_parties(session, ctx, event, parties), occurred_at=occurred_at
    )
    return _loan_result(session, envelope, number, codes)


def _exact_return(
    session: Session, number: str, code: str, weighed_ug: int, at: datetime | None = None
) -> None:
    """A returned sample must weigh what the ledger says is still accountable; a shortfall
    names the loss report to record first, with the missing mass and, for a return accepted
    `--at` a time, that time (a loss recorded now would come after the return it precedes)."""
    item = get_row(session, LoanItem, (number, code))
    assert item is not None
    if weighed_ug < item.held_ug:
        missing = item.held_ug - weighed_ug
        raise RuleViolation(
            f"sample {code} weighs {format_mass(weighed_ug)} but {format_mass(item.held_ug)} is "
            f"accountable; record the missing {format_mass(missing)} as a loss first "
            f"('incidents report --sample {code} --kind loss --mass-lost {typed_mass(missing)} "
            f"--description …{at_option(at)}')"
        )
    if weighed_ug > item.held_ug:
        raise RuleViolation(
            f"sample {code} weighs {format_mass(weighed_ug)}, more than {_accountable(item)}; "
            f"a return never brings back more than is out: check 'balance --loan {number}' "
            "and reweigh"
        )


def _accountable(item: LoanItem) -> str:
    """What of a loan item is still to come back, in words: 'the 20.000 mg issued', or, once
    some was used or returned, 'the 490.000 mg still accountable of the 500.000 mg issued'."""
    if item.held_ug == item.issued_ug:
        return f"the {format_mass(item.issued_ug)} issued"
    return (
        f"the {format_mass(item.held_ug)} still accountable of the "
        f"{format_mass(item.issued_ug)} issued"
    )


def extend_loan(
    session: Session,
    ctx: Context,
    *,
    number: str,
    period: str,
    approver: str,
    reason: str,
    occurred_at: datetime | None = None,
) -> LoanWritten:
    """Extend the due date by a period, within the agreement's number and length of extensions."""
    loan = _curated_loan(session, ctx, number, "extend", "extend loans", at=occurred_at)
    period = parse_period(period, "period")
    deal = get_agreement(session, loan.agreement)
    when = occurred_at or ctx.now
    if not in_force(deal, when):  # the extension is granted under the agreement's terms
        raise RuleViolation(
            f"agreement {deal.number} is not in force on {format_moment(when)}: "
            f"{_term_words(deal)}; loan {number} cannot be extended under it (record its "
            "return, or bring it back sooner with 'loans recall')"
        )
    if loan.extensions_granted >= deal.max_extensions:
        raise RuleViolation(_no_more_extensions(number, loan.extensions_granted, deal))
    if period_longer(period, deal.max_extension_period):
        raise RuleViolation(
            f"period: {format_period(period)} is longer than one extension may be under agreement "
            f"{deal.number} ({format_period(deal.max_extension_period)})"
        )
    approver_person = require_active(get_person(session, approver), "approver")
    if approver_person.role != Role.CURATOR:
        raise InvalidInput(f"approver: {approver_person.email} is not a curator")
    _due_after_extension(loan, deal, period, when)
    _due_within_the_term(loan, deal, period, when)
    event = ev.LoanExtended(number=number, period=period, approver=approver_person.email)
    envelope = append(
        session, ctx, event, occurred_at=occurred_at, reason=require_text(reason, "reason")
    )
    return _loan_result(session, envelope, number, [])


def _no_more_extensions(number: str, used: int, deal: Agreement) -> str:
    """Why loan `number` gets no further extension, counted in words."""
    allowed = deal.max_extensions
    if allowed == 0:
        return f"agreement {deal.number} allows no extension of its loans (loan {number})"
    noun = "extension" if allowed == 1 else "extensions"
    return f"loan {number} has used {used} of the {allowed} {noun} agreement {deal.number} allows"


def _due_after_extension(loan: Loan, deal: Agreement, period: str, when: datetime) -> None:
    """Refuse an extension that would leave the loan due at or before the time it is granted."""
    assert loan.due_at is not None  # extensions start from an issued loan
    new_due_at = loan.due_at + period_delta(period)
    if new_due_at <= when:
        raise RuleViolation(
            f"period: extending loan {loan.number} by {format_period(period)} makes it due "
            f"{format_datetime(new_due_at)}, which is already past on {format_datetime(when)}; "
            f"the loan would stay overdue: {_extension_hint(loan, deal, when)}"
        )


def _due_within_the_term(loan: Loan, deal: Agreement, period: str, when: datetime) -> None:
    """Refuse an extension that would make the loan due after its agreement's term ends: the
    extra time is granted under the agreement's terms, which do not run past that end."""
    assert loan.due_at is not None  # extensions start from an issued loan
    if deal.expires_at is None:  # an agreement without a term: no end to stay within
        return
    new_due_at = loan.due_at + period_delta(period)
    if new_due_at > deal.expires_at:
        raise RuleViolation(
            f"period: extending loan {loan.number} by {format_period(period)} makes it due "
            f"{format_datetime(new_due_at)}, after agreement {deal.number} ends on "
            f"{format_datetime(deal.expires_at)}; {_extension_hint(loan, deal, when)}"
        )


def _extension_hint(loan: Loan, deal: Agreement, when: datetime) -> str:
    """What to do instead, in whole days `loans extend` grants as named (`extension_days`: a
    loan overdue in the term's last day has none), as a request names its longest --period
    (`_lent_within_the_term`); the return alone when no number of days is left."""
    fewest, most = extension_days(loan, deal, when)
    if fewest > most:
        return "record the return"
    if fewest == most:
        return f"grant a --period of {counted(most, 'day')}, or record the return"
    least = f"at least {counted(fewest, 'day')} and " if fewest > 1 else ""
    return f"grant a --period of {least}at most {counted(most, 'day')}, or record the return"


def recall_loan(
    session: Session,
    ctx: Context,
    *,
    number: str,
    due_at: datetime,
    reason: str,
    occurred_at: datetime | None = None,
) -> LoanWritten:
    """Recall a loan: it is due back by `due_at`, after the recall and never later than due."""
    loan = _curated_loan(session, ctx, number, "recall", "recall loans", at=occurred_at)
    when = occurred_at or ctx.now
    if due_at <= when:  # due at its own moment, the loan would be overdue at once
        raise RuleViolation(
            f"due: {to_iso(due_at)} is not after the recall ({to_iso(when)}); a recall must give "
            # strictly after: the first whole second past the recall's own moment
            "the borrower a due date after the recall: give one "
            f"{bound_text(when + timedelta(microseconds=1))}"
        )
    assert loan.due_at is not None  # recalls start from an issued loan
    if due_at > loan.due_at:
        raise RuleViolation(
            f"due: {to_iso(due_at)} is later than loan {number}'s due date "
            f"{to_iso(loan.due_at)}; a recall can only bring the due date forward (to give "
            "more time, use 'loans extend')"
        )
    event = ev.LoanRecalled(number=number, due_at=to_iso(due_at))
    envelope = append(
        session, ctx, event, occurred_at=occurred_at, reason=require_text(reason, "reason")
    )
    return _loan_result(session, envelope, number, [])


def attest_inventory(
    session: Session,
    ctx: Context,
    *,
    number: str,
    note: str | None = None,
    occurred_at: datetime | None = None,
) -> Envelope:
    """The annual inventory: the PI (or a curator for them) attests what the ledger says is held."""
    person = acting_person(session, ctx)
    # a researcher's foreign loan reads as a missing one: the refusal discloses nothing
    loan = access.readable_loan(session, person, number)
    if person.role == Role.COMPLIANCE_OFFICER:
        raise PermissionDenied(
            f"{person.email} may not attest inventories of loan {number}; the PI's institution "
            "or a curator attests"
        )
    require_loan_transition(
        loan, "inventory", researcher=person.role == Role.RESEARCHER, at=occurred_at
    )
    _refuse_repeated_inventory(session, loan, occurred_at or ctx.now)
    held = [
        ev.CodeMass(i.sample_code, i.held_ug) for i in items_of(session, number) if i.held_ug > 0
    ]
    event = ev.InventoryAttested(
        number=number, held=held, note=require_text(note, "note") if note else None
    )
    return append(session, ctx, event, occurred_at=occurred_at)


REPEAT_WINDOW = timedelta(days=1)
"""How long after an attestation the same one, with nothing recorded about the loan between,
is taken for the first typed again (a double submit, a script run twice), not a new one."""


def _refuse_repeated_inventory(session: Session, loan: Loan, when: datetime) -> None:
    """Refuse an attestation that repeats the last one within a day: nothing recorded about
    the loan since it, so it would attest the same holdings again. A later one is a new
    attestation (an audit may ask for one) and sets the next due date from it."""
    last, due = loan.last_inventory_at, loan.next_inventory_due_at
    if last is None or loan.last_event_at > last or not last <= when < last + REPEAT_WINDOW:
        # the cheap test first: the queries below run only for a likely repeat (one dated
        # before the last is refused for its time, as any event out of order: `apply`)
        return
    attested = session.exec(
        select(Inventory)
        .where(Inventory.loan_number == loan.number)
        .order_by(col(Inventory.seq).desc())
    ).first()
    if attested is None or last_event_of_loan(session, loan.number) != attested.seq:
        return  # something was recorded about the loan at the attestation's moment, after it
    next_due = "" if due is None else f"; the next is due {format_datetime(due)}"
    raise Conflict(
        f"loan {loan.number}: its inventory was attested at {format_datetime(last)} (event "
        f"{attested.seq}, by {attested.attested_by}) and nothing about the loan was recorded "
        f"since, so this one would repeat it: attest again {bound_text(last + REPEAT_WINDOW)}, "
        f"or once anything else is recorded about the loan{next_due}"
    )


def settle_loan(
    session: Session,
    ctx: Context,
    *,
    number: str,
    obligations: str,
    occurred_at: datetime | None = None,
) -> Envelope:
    """Settle a loan whose every microgram is accounted for, recording the obligations met."""
    _curated_loan(session, ctx, number, "settle", "settle loans", at=occurred_at)
    open_items = [i for i in items_of(session, number) if i.held_ug > 0]
    if open_items:
        raise RuleViolation(f"loan {number} still has {_unaccounted(open_items)} first")
    # the loan's own incidents, as `status` lists them: one reported on a sample back in the
    # vault, or out on another loan since, is not this loan's to answer for
    open_incident = session.exec(
        select(Incident)
        .where(Incident.loan_number == number, Incident.status == IncidentStatus.OPEN)
        .order_by(col(Incident.seq))
    ).first()
    if open_incident is not None:
        raise Conflict(
            f"incident {open_incident.seq} on {open_incident.sample_code} is open; "
            + resolve_incident_hint(open_incident.seq, occurred_at)
        )
    event = ev.LoanSettled(number=number, obligations=require_text(obligations, "obligations"))
    return append(session, ctx, event, occurred_at=occurred_at)


def _unaccounted(open_items: list[LoanItem]) -> str:
    """What is still out on a loan, in words, with what to record for it."""
    held = [i for i in open_items if i.state != ItemState.RETURN_IN_TRANSIT]
    travelling = [i for i in open_items if i.state == ItemState.RETURN_IN_TRANSIT]
    parts = []
    if held:
        parts.append(
            f"{format_mass(sum(i.held_ug for i in held))} held by the borrower "
            f"({', '.join(i.sample_code for i in held)}); record its return, consumption or loss"
        )
    if travelling:
        parts.append(
            f"{format_mass(sum(i.held_ug for i in travelling))} on its way back "
            f"({', '.join(i.sample_code for i in travelling)}); accept that return "
            "('loans accept-return')"
        )
    return "; and ".join(parts)


def withdraw_loan(
    session: Session,
    ctx: Context,
    *,
    number: str,
    reason: str,
    occurred_at: datetime | None = None,
) -> Envelope:
    """Withdraw a loan never issued (the PI withdrew it, or the lender declined it), with why."""
    _curated_loan(session, ctx, number, "withdraw", "withdraw loans", at=occurred_at)
    event = ev.LoanWithdrawn(number=number)
    return append(
        session, ctx, event, occurred_at=occurred_at, reason=require_text(reason, "reason")
    )


def close_loan(
    session: Session, ctx: Context, *, number: str, occurred_at: datetime | None = None
) -> Envelope:
    """Close a settled loan."""
    _curated_loan(session, ctx, number, "close", "close loans", at=occurred_at)
    return append(session, ctx, ev.LoanClosed(number=number), occurred_at=occurred_at)
