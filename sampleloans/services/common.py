"""Helpers every service uses: the acting person's role, lookups, and plain-text validation."""

import string
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Table, bindparam, literal_column
from sqlalchemy import select as sa_select
from sqlmodel import Session, SQLModel, col, select

from sampleloans import db
from sampleloans.dates import format_datetime, to_iso
from sampleloans.errors import (
    Conflict,
    EditedTable,
    InvalidInput,
    NoSuchRecord,
    PermissionDenied,
    RecordConflict,
    RuleViolation,
)
from sampleloans.ledger.envelope import Context, Envelope
from sampleloans.ledger.reads import get_row, open_batch
from sampleloans.models import (
    Agreement,
    Incident,
    Institution,
    LedgerEvent,
    Loan,
    LoanItem,
    Person,
    Sample,
    byte_lower,
    byte_order,
)
from sampleloans.services.lock_reads import (
    answered_with_the_lock,
    forget_answers,
    person_with_institution,
    twin_answer,
)
from sampleloans.text import MAX_TEXT, clean_email, clean_name, clean_text
from sampleloans.units import format_period, period_delta, whole_days_within
from sampleloans.vocab import (
    ACTIVE_LOAN_STATUSES,
    AgreementStatus,
    CustodyState,
    IncidentKind,
    IncidentStatus,
    InstitutionKind,
    ItemState,
    PurposeClass,
    Role,
    TransferType,
    state_words,
    values,
)

ROLES = values(Role)
STAFF_ROLES: tuple[str, ...] = (Role.CURATOR.value, Role.COMPLIANCE_OFFICER.value)
STAFF_INSTITUTION_KINDS: tuple[str, ...] = (
    InstitutionKind.LENDER.value,
    InstitutionKind.CURATOR.value,
)
"""Curators and compliance officers belong to the lender or a curating institution: a role
held at a borrowing institution would let the borrower act on every institution's loans."""
PURPOSE_CLASSES = values(PurposeClass)
LENDABLE_PURPOSES: tuple[str, ...] = (
    PurposeClass.RESEARCH.value,
    PurposeClass.PUBLIC_WELFARE.value,
)
TRANSFER_TYPES = values(TransferType)
INSTITUTION_KINDS = values(InstitutionKind)
"""A recipient receives samples for good (a gift, `samples transfer`); it never borrows."""
INCIDENT_KINDS = values(IncidentKind)

if TYPE_CHECKING:
    from sampleloans.ledger.events import Event

T = TypeVar("T", bound=SQLModel)
V = TypeVar("V")


def append(
    session: Session,
    ctx: Context,
    event: "Event",
    *,
    occurred_at: datetime | None = None,
    reason: str | None = None,
    corrects_seq: int | None = None,
) -> Envelope:
    """Append an event through the session's unit of work (`ledger/unit.py`): the import's
    open batch, or a batch of one checked at once; the session's copies follow the changes."""
    from sampleloans.ledger import store  # the write side: read commands never load it

    try:
        return store.append(
            session, ctx, event, occurred_at=occurred_at, reason=reason, corrects_seq=corrects_seq
        )
    finally:
        forget_answers(session)  # the rows they named may have changed


def acting_person(session: Session, ctx: Context) -> Person:
    """The registered, active person behind `ctx.actor`, or a refusal naming the fix."""
    person = person_with_institution(session, ctx.actor)
    if person is None:
        raise PermissionDenied(
            f"{ctx.actor!r} is not a registered person; act as someone listed by 'people list'"
        )
    if not person.active:
        raise PermissionDenied(
            f"{person.email} is deactivated and may no longer act; a curator may reactivate "
            "them ('people reactivate')"
        )
    if person.role in STAFF_ROLES and not staff_institution(session, person.institution):
        # a ledger written before the rule: the role is not honoured at a borrower
        raise PermissionDenied(
            f"{person.email} is a {person.role.replace('_', ' ')} at {person.institution}, which "
            "is not a lender or curator institution; a curator must change their role "
            "('people set-role')"
        )
    return person


def staff_institution(session: Session, short_name: str) -> bool:
    """Whether curators and compliance officers may belong to an institution."""
    institution = get_row(session, Institution, short_name)
    return institution is not None and institution.kind in STAFF_INSTITUTION_KINDS


def require_staff_institution(session: Session, role: str, institution: str) -> None:
    """Refuse a curator or compliance officer at a borrowing institution (a rule, exit 1)."""
    if role in STAFF_ROLES and not staff_institution(session, institution):
        known = session.get(Institution, institution)
        kind = known.kind if known is not None else "borrower"  # a recipient says so too
        raise RuleViolation(
            f"role: a {role.replace('_', ' ')} must belong to a lender or curator institution, "
            f"and {institution} is a {kind}; register them there as a researcher, or at an "
            "institution listed by 'institutions list --kind curator'"
        )


def require_role(
    session: Session, ctx: Context, *roles: str, action: str, person: Person | None = None
) -> Person:
    """The acting person, if their role is one of `roles`; otherwise PermissionDenied
    (`person`: `acting_person`'s answer, when the command has just asked it)."""
    if person is None:
        person = acting_person(session, ctx)
    if open_batch(session) is None and db.connection_state(session.connection()).locked_write:
        from sampleloans.ledger.unit import note_absent  # the write side

        note_absent(session)  # PostgreSQL: apply need not read again what is not there
    if person.role not in roles:
        allowed = " or ".join(r.replace("_", " ") + "s" for r in roles)
        raise PermissionDenied(
            f"{person.email} is a {person.role.replace('_', ' ')}; only {allowed} may {action}"
        )
    return person


def checked_early(check: Callable[[], V]) -> Callable[[], V]:
    """Check input that no ledger row decides now, before the writers' lock is asked for (no
    writer holds the lock while it cleans text); the value, or the refusal, comes when the
    returned function is called: in the command's own order of refusals, after the role's."""
    try:
        value = check()
    except InvalidInput as exc:
        refusal = exc  # (the `as` name is unbound when the except block ends)

        def refuse() -> V:
            raise refusal

        return refuse
    return lambda: value


def require_text(value: str | None, field: str, *, max_len: int = MAX_TEXT) -> str:
    """A non-empty single line of visible text, trimmed (see `sampleloans.text`)."""
    return clean_text(value, field, max_len=max_len)


def require_name(value: str | None, field: str, *, max_len: int = MAX_TEXT) -> str:
    """A name: visible text on one line, each word in one script (no look-alike letters)."""
    return clean_name(value, field, max_len=max_len)


def require_choice(value: str, field: str, choices: tuple[str, ...]) -> str:
    """One of a fixed set of words (case-insensitive, '-' or ' ' taken as '_')."""
    normalised = value.strip().lower().replace("-", "_").replace(" ", "_")
    if normalised not in choices:
        # listed as a user types them (compliance-officer), not as stored
        spelled = ", ".join(choice.replace("_", "-") for choice in choices)
        raise InvalidInput(f"{field}: {value!r} is not one of {spelled}")
    return normalised


def require_distinct(values: list[str], field: str, noun: str) -> list[str]:
    """The values of a repeatable option, each given once: a repeat is refused (exit 2) rather
    than merged, since it is more often a slip for another value than meant."""
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise InvalidInput(f"{field}: {value} is given twice; name each {noun} once")
        seen.add(value)
    return values


_CODE_CHARACTERS = frozenset(string.ascii_letters + string.digits + "-,._")


def require_code(value: str, field: str = "code") -> str:
    """A record code: ASCII letters, digits and - , . _ (look-alike letters, spaces and
    characters that mean something to a shell, SQL LIKE or a path, such as % * / ', refused)."""
    code = require_text(value, field, max_len=80)
    if not _CODE_CHARACTERS.issuperset(code):
        odd = next(c for c in code if c not in _CODE_CHARACTERS)
        raise InvalidInput(
            f"{field}: {code!r} contains {odd!r} (U+{ord(odd):04X}); codes are ASCII letters, "
            "digits and - , . _ without spaces"
        )
    return code


def refuse_case_twin(session: Session, column: Any, code: str, what: str) -> None:
    """Refuse a new code that differs from a recorded one only in case (`ou` beside `OU`):
    two records that read alike would each be found by one spelling and not the other."""
    answered, twin = twin_answer(session, column, code)
    if not answered:  # else read with the writers' lock (PostgreSQL)
        twin = session.exec(
            select(column).where(byte_lower(column) == code.lower(), column != code).limit(1)
        ).first()
    if twin is not None:
        field = column.key.replace("_", " ")  # the record's own field: number, short name, code
        raise RecordConflict(
            f"{what} {code} differs only in case from {what} {twin}; use {twin} or choose a "
            f"{field} that differs in more than case",
            key=code,
        )


def require_email(value: str, field: str = "email") -> str:
    """A plain ASCII e-mail address, lower-cased (see `sampleloans.text`)."""
    return clean_email(value, field)


def get(session: Session, model: type[T], key: str, what: str, hint: str) -> T:
    """A record by primary key, or NotFound with the command that lists them (read through an
    import's batch unit when one is open)."""
    row = get_row(session, model, key)
    if row is None:
        raise NoSuchRecord(what, key, hint)
    return row


KEY_NAMES = {
    "institution": "short names",
    "sample": "sample codes",
    "loan": "loan numbers",
    "agreement": "agreement numbers",
}
"""What each kind of record's key is called, in the hint naming one typed in another case."""


def twin_hint(twin: str, what: str) -> str:
    """The hint naming a record's key typed in another case (`did you mean L-2025-UoC?`)."""
    return f"did you mean {twin}? ({KEY_NAMES[what]} are exact)"


def get_sample(session: Session, code: str) -> Sample:
    """A sample by code; one typed in small letters is named (codes are written in capitals)."""
    row = get_row(session, Sample, code)
    if row is not None:
        return row
    capitals = code.upper()
    twin = capitals if capitals != code and get_row(session, Sample, capitals) else None
    raise _missing("sample", code, twin)


def lineage_cycle(code: str) -> EditedTable:
    """The one line for a sample that is its own ancestor: no split writes that (a child is a
    new sample of a parent already there), so the sample table was edited by hand."""
    return EditedTable(
        f"sample {code} is its own ancestor (its parent_code leads back to it): the ledger's "
        "tables were edited outside sampleloans; run 'sampleloans verify' and restore the "
        "latest verified backup"
    )


def root_sample(session: Session, sample: Sample) -> Sample:
    """The root ancestor of `sample`, following parent_code; a loop of parents (an edited
    table) is one line, exit 3, where the walk went round it for ever."""
    seen = {sample.code}
    while sample.parent_code is not None:
        sample = get_sample(session, sample.parent_code)
        if sample.code in seen:
            raise lineage_cycle(sample.code)
        seen.add(sample.code)
    return sample


def get_loan(session: Session, number: str) -> Loan:
    """A loan by number; one spelt in another case is named (`l-2025-ou` for `L-2025-OU`)."""
    return _get_or_twin(session, Loan, Loan.number, number, "loan")


def get_agreement(session: Session, number: str) -> Agreement:
    """An agreement by number; one spelt in another case is named."""
    return _get_or_twin(session, Agreement, Agreement.number, number, "agreement")


def _get_or_twin(session: Session, model: type[T], column: Any, key: str, what: str) -> T:
    """A record by key, or NotFound naming the key recorded in another case, if one is (the
    `lower(…)` index answers: numbers are unique whatever their case, `refuse_case_twin`)."""
    row = get_row(session, model, key)
    if row is not None:
        return row
    twin = session.exec(select(column).where(byte_lower(column) == key.lower()).limit(1)).first()
    raise _missing(what, key, twin)


def _missing(what: str, key: str, twin: str | None) -> NoSuchRecord:
    """The refusal of a key not recorded: naming its twin in another case, else the list."""
    hint = twin_hint(twin, what) if twin else f"see 'sampleloans {what}s list'"
    return NoSuchRecord(what, key, hint, twin=twin)


def get_institution(session: Session, short_name: str) -> Institution:
    """An institution by short name; one spelt in another case is named (`ou` for `OU`):
    institutions are reference data every role may list, so naming the twin reveals nothing."""
    return _get_or_twin(session, Institution, Institution.short_name, short_name, "institution")


def get_person(session: Session, email: str) -> Person:
    """A person by e-mail."""
    return get(session, Person, email.lower(), "person", "see 'sampleloans people list'")


_ITEM_T: Table = LoanItem.__table__  # type: ignore[attr-defined]  # SQLModel sets it
OPEN_REQUESTS = (
    sa_select(_ITEM_T.c.loan_number, _ITEM_T.c.sample_code, _ITEM_T.c.state)
    .where(
        _ITEM_T.c.sample_code == bindparam("code"),
        # the word in the SQL: a statement read with the lock carries only its declared params
        _ITEM_T.c.state == literal_column(f"'{ItemState.REQUESTED.value}'"),
    )
    .order_by(byte_order(_ITEM_T.c.loan_number))
)
"""The items of loans still requested or approved (never issued, not withdrawn) naming a
sample (`:code`)."""


def _sample_of_item_key(key: tuple[Any, ...]) -> Any:
    """The sample code of a loan item's primary key (loan number, sample code)."""
    return key[1]


def open_request_of(session: Session, code: str) -> Loan | None:
    """The first loan still requested or approved (not issued, not withdrawn) that names
    sample `code`, else None; in an import's batch its own requests count too."""
    batch = open_batch(session)
    if batch is not None:  # the unit's rows, this batch's requests among them
        rows: list[Any] = batch.rows_where(
            LoanItem,
            OPEN_REQUESTS,
            {"code": code},
            lambda item: item.sample_code == code and item.state == ItemState.REQUESTED,
            ("sample", _sample_of_item_key, code),  # the condition names the key's sample
        )
        numbers = [str(row.loan_number) for row in rows]
    else:
        answered = answered_with_the_lock(session, ("open requests", code))
        if answered is not None:  # plain tuples read with the lock, in OPEN_REQUESTS's order
            numbers = [str(row[0]) for row in answered]
        else:
            found = session.connection().execute(OPEN_REQUESTS, {"code": code})
            numbers = [str(row.loan_number) for row in found]
    if not numbers:
        return None
    return get_loan(session, min(numbers))


USED_UP: dict[str, str] = {
    CustodyState.LOST: "lost",
    CustodyState.CONSUMED: "used up",
    CustodyState.SPLIT: "split whole into child samples",
}
"""The custody states of a sample with nothing of it left, in words."""


def where_sample_is(sample: Sample) -> str:
    """Where a sample that is not in the vault is, in words: 'on loan L-1', 'transferred to
    MNHN for good'."""
    if sample.custody_state == CustodyState.TRANSFERRED:
        return f"transferred to {sample.custodian} for good"
    if sample.custody_state in USED_UP:  # nothing of it is left, wherever it was
        on_loan = f" on loan {sample.loan_number}" if sample.loan_number else ""
        return f"{USED_UP[sample.custody_state]}{on_loan}"
    if sample.loan_number:
        return f"on loan {sample.loan_number}"
    return state_words(sample.custody_state)


def require_active(person: Person, field: str) -> Person:
    """Refuse a deactivated person named in a field (a PI, an approver): they may not act."""
    if not person.active:
        raise Conflict(f"{field}: {person.email} is deactivated; name an active person")
    return person


def resolve_incident_hint(seq: int, at: datetime | None = None) -> str:
    """The command that resolves incident `seq`, as a user types it; dated `at` when the act
    it stands in the way of is (resolved now, it would come after that act's time)."""
    return f"resolve it first ('incidents resolve {seq} --resolution …{at_option(at)}')"


def at_option(at: datetime | None) -> str:
    """` --at TIME` for a suggested command dated as the act that names it, or nothing."""
    return f" --at {to_iso(at)}" if at is not None else ""


def frozen_words(
    session: Session, code: str, *, researcher: bool = False, at: datetime | None = None
) -> str:
    """Why sample `code` is frozen and how to release it: its open incident, by number (to a
    researcher, who may not resolve one, that a curator resolves it), resolved `at` the time
    of the refused act when it was given one."""
    with session.no_autoflush:  # an import's batch is not flushed to answer a refusal
        incident = session.exec(
            select(Incident)
            .where(Incident.sample_code == code, Incident.status == IncidentStatus.OPEN)
            .order_by(col(Incident.seq))
        ).first()
    if incident is None:  # reported in the same import batch: not readable yet
        return f"sample {code} is frozen by an open incident; resolve it first ('incidents list')"
    if researcher:
        return (
            f"sample {code} is frozen by open incident {incident.seq} until a curator resolves "
            f"it ('incidents resolve {incident.seq} --resolution …{at_option(at)}')"
        )
    return f"sample {code} is frozen by open incident {incident.seq}; " + resolve_incident_hint(
        incident.seq, at
    )


def in_force(agreement: Agreement, when: datetime) -> bool:
    """Whether an agreement is signed and within its term at `when`."""
    return (
        agreement.status == AgreementStatus.SIGNED
        and agreement.signed_at is not None
        and agreement.signed_at <= when
        and (agreement.expires_at is None or when < agreement.expires_at)
    )


def agreement_ended(agreement: Agreement, when: datetime) -> str:
    """When an agreement no longer in force at `when` ended, in words ('expired 2026-09-01 09:00
    UTC', 'its term ended …'), or '' while it is in force or before it ended: an extension left
    unused is refused after that (`loans extend`), which the overdue notice, `status` and `loans
    show` say beside the count."""
    if agreement.ended_at is not None and agreement.ended_at <= when:
        return f"{agreement.status} {format_datetime(agreement.ended_at)}"
    if agreement.expires_at is not None and agreement.expires_at <= when:
        return f"its term ended {format_datetime(agreement.expires_at)}"
    return ""


def loan_agreement_ended(loan: Loan, agreement: Agreement, when: datetime) -> str:
    """Why a loan still out (issued, travelling or held) gets no extension at `when` although
    some are unused: 'agreement AG-…: expired …' once its agreement ended, else ''."""
    if loan.status not in ACTIVE_LOAN_STATUSES:
        return ""
    ended = agreement_ended(agreement, when)
    if ended:
        return f"agreement {agreement.number}: {ended}"
    if _term_too_short(loan, agreement, when):
        assert agreement.expires_at is not None  # a term that cuts has an end
        return (
            f"agreement {agreement.number}: its term ends "
            f"{format_datetime(agreement.expires_at)}, before a whole day more"
        )
    if _overdue_past_reach(loan, agreement, when):
        return (
            f"agreement {agreement.number}: its longest extension, "
            f"{format_period(agreement.max_extension_period)}, leaves the loan overdue"
        )
    return ""


def _overdue_past_reach(loan: Loan, deal: Agreement, when: datetime) -> bool:
    """Whether an extension left is refused at `when` because the loan is overdue by more than
    the longest one (`loans extend`: 'already past … record the return')."""
    if loan.due_at is None or not in_force(deal, when):
        return False
    if loan.extensions_granted >= deal.max_extensions:
        return False
    return loan.due_at + period_delta(deal.max_extension_period) <= when


def _term_too_short(loan: Loan, deal: Agreement, when: datetime) -> bool:
    """Whether an extension left is refused at `when` only because the agreement's term ends
    less than a whole day past what it would have to reach (`loans extend` says 'record the
    return')."""
    if loan.due_at is None or deal.expires_at is None or not in_force(deal, when):
        return False
    if loan.extensions_granted >= deal.max_extensions:
        return False
    longest = loan.due_at + period_delta(deal.max_extension_period)
    return longest > when and not extension_possible(loan, deal, when)


def extension_possible(loan: Loan, deal: Agreement, when: datetime) -> bool:
    """Whether `extend_loan` would grant the loan some extension at `when` (what an overdue
    notice may offer): its agreement in force, an extension left, and a period of at most the
    longest allowed that makes it due after `when` and within the agreement's term."""
    if loan.due_at is None or not in_force(deal, when):
        return False
    if loan.extensions_granted >= deal.max_extensions:
        return False
    latest_due_at = loan.due_at + period_delta(deal.max_extension_period)
    if deal.expires_at is not None:
        # a period moves the due date by whole days: the part of a day before the end is none
        latest_due_at = min(latest_due_at, loan.due_at + _days(deal.expires_at - loan.due_at))
    return latest_due_at > max(when, loan.due_at)  # an extension moves the due date on


def extension_days(loan: Loan, deal: Agreement, when: datetime) -> tuple[int, int]:
    """The fewest and the most whole days `loans extend` grants the loan at `when` as
    '--period N days': due after `when`, no longer than one extension may be, within the
    agreement's term. Fewest above most when no such number is left."""
    assert loan.due_at is not None  # extensions start from an issued loan
    fewest = max(1, (when - loan.due_at).days + 1)  # `.days` floors: that many is not past
    most = whole_days_within(deal.max_extension_period)
    if deal.expires_at is not None:
        most = min(most, (deal.expires_at - loan.due_at).days)
    return fewest, most


def _days(span: timedelta) -> timedelta:
    """`span` cut to whole days (a period's due date moves by days, keeping the time of day)."""
    return timedelta(days=span.days)


def get_event(session: Session, seq: int) -> LedgerEvent:
    """A recorded event by its seq, or NotFound (exit 2); out-of-range numbers are not looked up."""
    row = session.get(LedgerEvent, seq) if 0 < seq < 2**63 else None  # SQLite's integer range
    if row is None:
        raise NoSuchRecord("event", str(seq), "see 'sampleloans custody history'")
    return row
