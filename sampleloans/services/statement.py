"""Statements to researchers: per principal investigator, what they hold, what is due and when,
what they owe, and every event of their loans, each with an RFC 6962 inclusion proof against a
signed checkpoint of the ledger.

A statement is built on a checkpoint: the ledger as it stood at the checkpoint's tree size (the
checkpoint's last event), so the same checkpoint and `generated_at` give the same statement
whatever was appended since. Its proofs let a borrower check, with the lender's public key
alone, that the events it lists are in the ledger the lender signed.
"""

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlmodel import Session, col, select

from sampleloans.dates import (
    bound_text,
    day_count,
    days_between,
    from_iso,
    refuse_future,
    to_iso,
)
from sampleloans.errors import Conflict, InvalidInput, NotFound, RuleViolation
from sampleloans.ledger import overdue as rule
from sampleloans.ledger import store
from sampleloans.ledger.chain import link_hash, stored_body
from sampleloans.ledger.checkpoint import parse_checkpoint, split_note
from sampleloans.ledger.envelope import Context
from sampleloans.models import (
    Agreement,
    EventSubject,
    Incident,
    Institution,
    LedgerEvent,
    Loan,
    LoanItem,
    Person,
    Shipment,
    byte_order,
)
from sampleloans.readmodels.handover import is_backdated
from sampleloans.readmodels.items import item_masses
from sampleloans.readmodels.report import (
    SETTLEMENT_REPORT,
    Flag,
    Party,
    Words,
    rejudged,
    remeasured,
    reworded,
    with_grouped_masses,
)
from sampleloans.readmodels.statement import (  # noqa: F401  (re-exported for commands)
    FROZEN_ON_LOAN_VERSION,
    GROUPED_MASS_VERSION,
    KIND,
    LABELS_VERSION,
    PROOF_FORMAT,
    SPLIT_APART_VERSION,
    TITLE,
    WORDED_VERSION,
    CheckpointRef,
    Obligation,
    Statement,
    StatementBody,
    StatementEvent,
    StatementItem,
    StatementLoan,
    StatementRequest,
    canonical_content,
    obligation_order,
    proof_document,
)
from sampleloans.services import access
from sampleloans.services.history import EARLIER_WORDS, describe_earlier, describe_payload
from sampleloans.services.queries import (
    ACTIVE_LOAN_STATUSES,
    for_inventory,
    frozen_on_loan,
    loan_ended,
    sent_back_at,
)
from sampleloans.services.reporting import event_recorded_at
from sampleloans.services.reporting.custody import event_label
from sampleloans.services.reporting.parts import (
    description_of,
    item_samples,
    printed_inventory_due,
    recalls_of,
)
from sampleloans.text import counted, distinct_stem, file_safe, is_file_safe
from sampleloans.vocab import IncidentStatus, InstitutionKind, LoanStatus

OPEN_STATUSES = (
    LoanStatus.REQUESTED,
    LoanStatus.APPROVED,
    *ACTIVE_LOAN_STATUSES,
    LoanStatus.RETURNED,
    LoanStatus.SETTLED,
)
"""A loan appears on its PI's statement until it is closed."""


def checkpoint_ref(note: str, option: str) -> CheckpointRef:
    """A signed note's checkpoint as a statement names it (InvalidInput naming `option`)."""

    try:
        text, signatures = split_note(note)
        checkpoint = parse_checkpoint(text)
    except InvalidInput as exc:
        raise InvalidInput(f"{option}: not a signed checkpoint ({exc})") from None
    signed_by = ", ".join(f"{name}+{key_id.hex()}" for name, key_id, _sig in signatures)
    return CheckpointRef(checkpoint.origin, checkpoint.size, checkpoint.root.hex(), note, signed_by)


def newest_kept_note(session: Session) -> str | None:
    """The signed note of the newest checkpoint the ledger keeps (`sampleloans checkpoint`)."""
    from sampleloans.services.checkpoints import latest_checkpoint

    kept = latest_checkpoint(session.connection())
    return kept.note if kept is not None else None


# --- building -------------------------------------------------------------------------------


def statement_scope(
    session: Session,
    ctx: Context,
    *,
    institution: str | None,
    pi: str | None,
    everyone: bool = False,
) -> tuple[str, str]:
    """Who may have which statements: ("pi", EMAIL), ("institution", SHORT) or ("all", "")
    (`everyone`, staff only); researchers their own institution's PIs, and their own statement
    when they name neither (it is the one they mean)."""
    person = access.reader(session, ctx)
    if everyone and not (institution or pi):
        access.require_staff(person, "make the statements of every institution")
        return "all", ""
    if not (institution or pi) and not access.is_staff(person):
        return "pi", person.email
    if bool(institution) == bool(pi):
        raise InvalidInput("report statement: give exactly one of --institution or --pi")
    if pi:
        return "pi", access.readable_person(session, person, pi, "--pi").email
    return "institution", access.readable_institution(session, person, institution or "").short_name


def statement_pis(session: Session, scope: tuple[str, str]) -> list[str]:
    """The PIs a scope covers, sorted: the one named, or each PI with an open loan in it."""
    kind, key = scope
    if kind == "pi":
        return [key]
    query = select(Loan.pi_email).where(col(Loan.status).in_(OPEN_STATUSES))
    if kind == "institution":
        query = query.where(Loan.institution == key)
    # sorted here, in code point order as SQLite sorts: PostgreSQL's SELECT DISTINCT orders only
    # by what it selects, and its collation is the database's (`byte_order`)
    return sorted(session.exec(query.distinct()).all())


def build_statements(
    session: Session,
    ctx: Context,
    checkpoint: CheckpointRef,
    *,
    institution: str | None = None,
    pi: str | None = None,
    everyone: bool = False,
    generated_at: datetime,
    typed: bool = True,
) -> list[Statement]:
    """One statement per PI, built on the ledger as `checkpoint` commits to it (`typed`: the
    user gave it as --checkpoint, not a document's own)."""
    refuse_future("--generated-at", generated_at, ctx.now, "a statement is dated when it is made")
    scope = statement_scope(session, ctx, institution=institution, pi=pi, everyone=everyone)
    head_seq, _hash = store.head(session)
    size = checkpoint.tree_size
    if size > head_seq or size < 1:
        raise RuleViolation(
            f"checkpoint: it covers {counted(size, 'event')} but the ledger has {head_seq}: it is "
            "not a "
            "checkpoint of this ledger"
        )
    proofs = InclusionProofs(session, checkpoint)
    _refuse_unkept(session, checkpoint, typed=typed)
    _refuse_hidden_replay(session, size, head_seq, typed=typed)
    with _ledger_at(session, size, head_seq) as past:
        pis = statement_pis(past, scope)  # as the checkpoint saw them
        statements = [_build_one(past, email, checkpoint, proofs, generated_at) for email in pis]
    if size == head_seq:  # built from the projections: they must say what the events say
        _refuse_unlike_events(session, statements, checkpoint, proofs)
    return statements


def events_not_shown(session: Session, statements: list[Statement]) -> str | None:
    """What the statements leave out because it came after their checkpoint: a note naming the
    later events about their loans (an extension, a return, a recall: `status` already shows
    them) and the renames of the names they print (a PI, their institution, the lender), or
    None. A statement's standing is the checkpoint's, judged at its date."""
    if not statements:
        return None
    size = statements[0].body.checkpoint.tree_size
    loans = {loan.number for s in statements for loan in s.body.loans}
    # the events after the checkpoint are few, the loans of every PI (notify) may be thousands:
    # filter here rather than bind each loan number into the query
    later = session.exec(
        select(EventSubject.seq, EventSubject.subject_key)
        .where(EventSubject.seq > size, EventSubject.subject_type == "loan")
        .order_by(col(EventSubject.seq))
    )
    rows = [(seq, loan) for seq, loan in later if loan in loans]
    rows += _renames_after(session, size, [s.request.pi for s in statements])
    if not rows:
        return None
    seqs = sorted({seq for seq, _loan in rows})
    touched = ", ".join(sorted({key for _seq, key in rows}))
    one = len(seqs) == 1
    events = f"event {seqs[0]}" if one else f"{len(seqs)} events ({seqs[0]}–{seqs[-1]})"
    return (
        f"{events} about {touched} came after the checkpoint of {counted(size, 'event')} the "
        "statements "
        f"are built on, so they do not show {'it' if one else 'them'} (an extension, a recall "
        "or a return changes what is owed, a rename or a change of place what is printed); a "
        "new checkpoint, signed "
        "by the lender's curator ('sampleloans checkpoint --key FILE'), includes them"
    )


RENAMES = {
    "person.renamed": "person",
    "institution.renamed": "institution",
    "institution.place_changed": "institution",
}
"""The events that change a name or place a statement prints, and the subject each is about (by kind
name: a read command loads no event classes)."""


def _renames_after(session: Session, size: int, pis: list[str]) -> list[tuple[int, str]]:
    """The renames after the checkpoint's `size` events of the names the statements of `pis`
    print (each PI, their institution, the lender): (seq, e-mail or short name) pairs."""
    people = [session.get(Person, email) for email in pis]
    named = {("person", email) for email in pis} | {
        ("institution", short)
        for short in [_lender(session), *(p.institution for p in people if p is not None)]
        if short is not None
    }
    later = session.exec(
        select(
            EventSubject.seq, LedgerEvent.kind, EventSubject.subject_type, EventSubject.subject_key
        )
        .join(LedgerEvent, col(LedgerEvent.seq) == col(EventSubject.seq))
        .where(EventSubject.seq > size, col(LedgerEvent.kind).in_(tuple(RENAMES)))
    )
    # a person's rename is indexed under their institution too: only the subject it renames
    return [
        (seq, key)
        for seq, kind, subject_type, key in later
        if RENAMES[kind] == subject_type and (subject_type, key) in named
    ]


def _refuse_unlike_events(
    session: Session,
    statements: list[Statement],
    checkpoint: CheckpointRef,
    proofs: "InclusionProofs",
) -> None:
    """Refuse (exit 1) statements read from projections that differ from the same statements
    replayed from the events of their PIs' institutions and loans (`replay.ledger_at` with a
    scope, as a report's check does): a table edited by hand is never sent to a PI. A login
    the events are hidden from cannot replay them (`verify` covers it)."""
    from sampleloans.services.logins import events_hidden

    if not statements or events_hidden(session.connection()):
        return
    from sampleloans.ledger import replay

    pis = [statement.request.pi for statement in statements]
    people = [session.get(Person, email) for email in pis]
    scope = sorted(
        {("person", email) for email in pis}
        | {("institution", person.institution) for person in people if person is not None}
        | {("loan", loan.number) for s in statements for loan in s.body.loans}
    )
    cut = replay.Cut(up_to_seq=checkpoint.tree_size)
    with replay.ledger_at(session, cut, scope=scope) as past:
        for statement in statements:
            email = statement.request.pi
            rebuilt = _build_one(past, email, checkpoint, proofs, statement.generated_at)
            if rebuilt != statement:
                raise Conflict(
                    f"statement to {email}: the ledger's tables differ from what its events "
                    "give (edited outside sampleloans); nothing is printed from them: run "
                    "'sampleloans verify'"
                )


def refuse_dated_before_checkpoint(
    session: Session, checkpoint: CheckpointRef, generated_at: datetime
) -> None:
    """Refuse a statement dated (--generated-at) before the last event its checkpoint covers
    was recorded (exit 1): at that moment the ledger did not yet hold what it proves."""
    recorded_at = event_recorded_at(session, checkpoint.tree_size)
    if recorded_at is not None and generated_at < from_iso(recorded_at):
        raise RuleViolation(
            f"--generated-at: {to_iso(generated_at)} is before {recorded_at}, when event "
            f"{checkpoint.tree_size} (the last its checkpoint covers) was recorded; a statement "
            f"is dated when it is made: give --generated-at {bound_text(from_iso(recorded_at))}"
        )


@contextmanager
def _ledger_at(session: Session, seq: int, head_seq: int) -> Iterator[Session]:
    """The projections as they stood after event `seq` (the live ones when `seq` is the head)."""
    if seq == head_seq:
        yield session
        return
    from sampleloans.ledger import replay

    with replay.ledger_at(session, replay.Cut(up_to_seq=seq)) as past:
        yield past


def _refuse_hidden_replay(session: Session, size: int, head_seq: int, *, typed: bool) -> None:
    """A checkpoint older than the head is rebuilt by replaying the events up to it, which a
    researcher's login on a secured PostgreSQL ledger cannot (refused in words, exit 4); a
    statement they check (a document's own checkpoint, not `typed`) they may check offline."""
    from sampleloans.services.logins import refuse_hidden_replay

    if size == head_seq:
        return
    events = f"a checkpoint of {counted(size, 'event')} (the ledger has {head_seq}"
    if typed:
        refuse_hidden_replay(session, f"a statement on {events}; a new checkpoint needs none)")
        return
    refuse_hidden_replay(
        session,
        f"checking a statement on {events})",
        ", or check its proofs yourself, without the ledger: 'sampleloans verify-document "
        "--public-key KEY.pub FILE.pdf' (KEY.pub: the lender's public checkpoint key)",
    )


def _refuse_unkept(session: Session, checkpoint: CheckpointRef, *, typed: bool) -> None:
    """A statement names only a checkpoint this ledger made and keeps: a copy re-signed by
    another key, or edited, would be refused by every borrower holding the lender's key."""
    from sampleloans.services.checkpoints import stored_checkpoints
    from sampleloans.services.reporting.checkpoint import NONE_KEPT

    kept = stored_checkpoints(session.connection())
    if not kept and not typed:  # a rebuilt ledger: the document's checkpoint is the key's to judge
        raise RuleViolation(f"checkpoint: {NONE_KEPT}")
    if not kept:  # not a re-signed copy: a rebuilt ledger has signed nothing yet
        raise RuleViolation(
            "checkpoint: this ledger keeps no checkpoint at all (one rebuilt from an events "
            "export keeps none; 'restore --bag' keeps a bag's), so a statement cannot be built on "
            "the one given: a curator signs "
            "one of this ledger ('sampleloans checkpoint --key FILE'), then omit --checkpoint"
        )
    if all(one.note != checkpoint.note for one in kept):
        # the hint names --checkpoint only where the user typed it (not a document's own)
        hint = "; give the file 'sampleloans checkpoint' wrote, or omit --checkpoint"
        raise RuleViolation(
            f"checkpoint: its root is this ledger's, but it is not a checkpoint this ledger "
            f"made and keeps (signed by {checkpoint.signed_by or 'no key'}: a re-signed or "
            f"edited copy?){hint if typed else ''}"
        )


class InclusionProofs:
    """RFC 6962 inclusion proofs of events in the tree a checkpoint signs, each batch computed
    in one streamed pass over the event hashes (a 1M-event ledger is never held in memory)."""

    def __init__(self, session: Session, checkpoint: CheckpointRef) -> None:
        self.connection = session.connection()
        self.size = checkpoint.tree_size
        root, _none = _proofs(self.connection, (), self.size)
        if root.hex() != checkpoint.root_hash:
            raise RuleViolation(
                f"checkpoint: its root {checkpoint.root_hash[:16]}… is not the root of this "
                f"ledger's first {counted(self.size, 'event')}: it is a checkpoint of another "
                "ledger, or the "
                "ledger was rewritten; run 'sampleloans verify'"
            )

    def leaf_hash(self, seq: int) -> str | None:
        """The hash (hex) of event `seq`, one of the tree's leaves."""
        from sampleloans.services.checkpoints import event_hash

        return event_hash(self.connection, seq)

    def of(self, seqs: list[int]) -> dict[int, tuple[str, ...]]:
        """The audit path of each event in `seqs` (leaf index seq - 1), as hex."""
        if not seqs:
            return {}
        _root, proofs = _proofs(self.connection, seqs, self.size)
        return {seq: tuple(node.hex() for node in path) for seq, path in proofs.items()}


def _proofs(
    connection: Connection, seqs: Iterable[int], size: int
) -> tuple[bytes, dict[int, list[bytes]]]:
    """`services.checkpoints.inclusion_proofs` (imported late: it loads the write side)."""
    from sampleloans.services.checkpoints import inclusion_proofs

    return inclusion_proofs(connection, seqs, size)


def _build_one(
    session: Session,
    email: str,
    checkpoint: CheckpointRef,
    proofs: InclusionProofs,
    now: datetime,
) -> Statement:
    """The statement of one PI from projections as they stood at the checkpoint."""
    person = session.get(Person, email)
    if person is None:  # registered after the checkpoint
        raise NotFound(
            f"--pi: {email} is not in the ledger up to event {checkpoint.tree_size} (the "
            "checkpoint's last event); make a new checkpoint first"
        )
    loans = list(
        session.exec(
            select(Loan)
            .where(Loan.pi_email == email, col(Loan.status).in_(OPEN_STATUSES))
            .order_by(byte_order(Loan.number))
        )
    )
    statement_loans = [_loan(session, loan) for loan in loans]
    # the checkpoint's last event, read as a leaf: a researcher's row-level security may hide it
    last_hash = proofs.leaf_hash(checkpoint.tree_size)
    assert last_hash is not None  # the checkpoint's root was just proved over these events
    body = StatementBody(
        pi=Party("Principal investigator", person.name, person.email),
        institution=_institution(session, "Institution", person.institution),
        lender=_institution(session, "Lender", _lender(session)),
        checkpoint=checkpoint,
        loans=tuple(statement_loans),
        held_ug=sum(loan.held_ug for loan in statement_loans),
        obligations=tuple(_obligations(session, loans, now)),
        events=tuple(_events(session, [loan.number for loan in loans], proofs)),
        recalls=recalls_of(session, [loan.number for loan in loans], proofs.size),
    )
    return Statement(
        request=StatementRequest(pi=email),
        title=TITLE,
        scope_label=f"{person.name} ({email})",
        generated_at=now,
        head_seq=checkpoint.tree_size,
        head_hash=last_hash,
        body=body,
    )


def _institution(session: Session, role: str, short: str | None) -> Party:
    inst = session.get(Institution, short) if short else None
    if inst is None:
        return Party(role, short or "—", "")
    return Party(role, inst.name, f"{inst.short_name}, {inst.city}, {inst.country}")


def _lender(session: Session) -> str | None:
    return session.exec(
        select(Institution.short_name)
        .where(Institution.kind == InstitutionKind.LENDER)
        .order_by(byte_order(Institution.short_name))
    ).first()


def _statement_item(item: LoanItem, description: Words, *, frozen: Flag) -> StatementItem:
    """One sample of a loan, its masses as every view reads them (`readmodels/items.py`);
    the layouts before SPLIT_APART_VERSION counted a split's mass as issued."""
    masses = item_masses(item)
    issued_ug = remeasured(masses.issued_ug, masses.incoming_ug, SPLIT_APART_VERSION)
    return StatementItem(
        item.sample_code,
        description,
        item.state,
        issued_ug,
        masses.held_ug,
        from_split_ug=masses.from_split_ug,
        frozen=frozen,
    )


def _loan(session: Session, loan: Loan) -> StatementLoan:
    items = []
    loan_items = session.exec(
        select(LoanItem)
        .where(LoanItem.loan_number == loan.number)
        .order_by(byte_order(LoanItem.sample_code))
    ).all()
    codes = [item.sample_code for item in loan_items]
    samples = item_samples(session, loan.number, codes)
    frozen = frozen_on_loan(session, loan.number, codes)
    for item in loan_items:
        sample = samples.get(item.sample_code)
        # before statement layout 7 the origin was left out, unlike every report's description
        earlier = (
            f"{sample.material_type} {sample.physical_form}, {sample.mission}" if sample else ""
        )
        description = reworded(description_of(sample), earlier, WORDED_VERSION)
        # layouts 8-14 said "(frozen)" of a sample frozen anywhere (their digest keeps it)
        was_frozen = bool(sample and sample.frozen)
        flag = rejudged(item.sample_code in frozen, was_frozen, FROZEN_ON_LOAN_VERSION)
        items.append(_statement_item(item, description, frozen=flag))
    agreement = session.get(Agreement, loan.agreement)
    return StatementLoan(
        number=loan.number,
        agreement=loan.agreement,
        status=loan.status,
        issued_at=loan.issued_at,
        due_at=loan.due_at,
        extensions_granted=loan.extensions_granted,
        max_extensions=agreement.max_extensions if agreement is not None else 0,
        last_inventory_at=loan.last_inventory_at,
        next_inventory_due_at=printed_inventory_due(session, loan),
        items=tuple(items),
        held_ug=sum(i.held_ug for i in items),
        loan_period=loan.loan_period,
        ended=loan_ended(session, loan),
    )


def _standing(due: datetime, now: datetime) -> tuple[str, bool]:
    """'overdue by 3 days', 'overdue since today', 'due today' or 'due in 12 days'."""
    if due < now:
        days = days_between(due, now)
        return ("overdue since today" if days == 0 else f"overdue by {day_count(days)}"), True
    days = days_between(now, due)
    return ("due today" if days == 0 else f"due in {day_count(days)}"), False


def _obligations(session: Session, loans: list[Loan], now: datetime) -> list[Obligation]:
    """What the PI owes on each loan, most pressing first: returns and inventory attestations
    with their dates, the settlement report of a returned loan, open incidents to report on."""
    owed: list[Obligation] = []
    sent = sent_back_at(session, loans)
    for loan in loans:
        # a return (an inventory) is owed while the loan is out and not all of it was sent back
        # by its due time
        owes_return = rule.return_owed(loan.status, loan.due_at, sent.get(loan.number))
        inventory_sent = for_inventory(sent).get(loan.number)
        for what, due in (
            ("return", loan.due_at if owes_return else None),
            (
                "inventory attestation",
                rule.inventory_due(loan.status, loan.next_inventory_due_at, inventory_sent),
            ),
        ):
            if due is not None:
                standing, late = _standing(due, now)
                owed.append(Obligation(loan.number, what, due, standing, late))
        if loan.status == LoanStatus.RETURNED:
            owed.append(
                Obligation(
                    loan.number,
                    "settlement report",
                    None,
                    f"now: {SETTLEMENT_REPORT}",
                    False,
                )
            )
        for incident in session.exec(
            select(Incident)
            .where(Incident.loan_number == loan.number, Incident.status == IncidentStatus.OPEN)
            .order_by(col(Incident.seq))
        ):
            owed.append(
                Obligation(
                    loan.number,
                    "incident report",
                    incident.reported_at,
                    f"open: {incident.kind} of {incident.sample_code} (event {incident.seq})",
                    False,
                )
            )
    owed.sort(key=obligation_order)
    return owed


def _events(session: Session, numbers: list[str], proofs: InclusionProofs) -> list[StatementEvent]:
    """Every event of the loans up to the checkpoint, in seq order, each with its proof."""
    if not numbers:
        return []
    subjects = session.exec(
        select(EventSubject.seq, EventSubject.subject_key).where(
            EventSubject.subject_type == "loan",
            col(EventSubject.subject_key).in_(numbers),
            EventSubject.seq <= proofs.size,
        )
    ).all()
    loan_of: dict[int, str] = {}
    for seq, number in subjects:
        loan_of.setdefault(seq, number)
    shipments = {
        s.seq: s
        for s in session.exec(select(Shipment).where(col(Shipment.loan_number).in_(numbers)))
    }
    rows = session.exec(
        select(LedgerEvent).where(col(LedgerEvent.seq).in_(loan_of)).order_by(col(LedgerEvent.seq))
    )
    paths = proofs.of(sorted(loan_of))
    events = []
    corrections: dict[int, list[int]] = {}  # corrected seq → its corrections, in seq order
    for event in rows:
        body = _unaltered_body(event)
        payload = json.loads(event.payload)
        occurred_at, recorded_at = from_iso(event.occurred_at), from_iso(event.recorded_at)
        if event.corrects_seq is not None:
            corrections.setdefault(event.corrects_seq, []).append(event.seq)
        events.append(
            StatementEvent(
                seq=event.seq,
                occurred_at=occurred_at,
                recorded_at=recorded_at if is_backdated(occurred_at, recorded_at) else None,
                loan=loan_of[event.seq],
                label=event_label(event.kind, payload, shipments, event.seq, LABELS_VERSION),
                description=_event_description(session, event, payload),
                hash=event.hash,
                prev_hash=event.prev_hash,
                body=body,
                proof=paths[event.seq],
            )
        )
    return [
        replace(e, corrected_by=tuple(corrections[e.seq])) if e.seq in corrections else e
        for e in events
    ]


def _unaltered_body(event: LedgerEvent) -> dict[str, Any]:
    """The hashed fields of a stored event, refused (exit 1) when they no longer hash to its
    recorded hash: a statement must not carry, as proved, an event edited after it was
    recorded (its borrower's check would fail it, with no word from us)."""
    body = stored_body(event)
    if link_hash(event.prev_hash, body) != event.hash:
        raise RuleViolation(
            f"event {event.seq} ({event.kind}) does not match its hash: it was altered after "
            "it was recorded; no statement was made: run 'sampleloans verify' and restore the "
            "latest verified backup"
        )
    return body


def file_name(pi_email: str) -> str:
    """A statement's file name from its PI's e-mail, `statement-anand-at-open.example.pdf`;
    one name per address (see `distinct_stem`)."""
    local, _, domain = pi_email.partition("@")
    stem = f"statement-{file_safe(local)}-at-{file_safe(domain)}"
    # the address reads back only if nothing was replaced and "-at-" splits it one way
    # (`x-@at-y.example` and `x--at@y.example` would both give `x--at-at-y.example`)
    exact = is_file_safe(pi_email.replace("@", "", 1)) and _overlapping(stem, "-at-") == 1
    return distinct_stem(stem, pi_email, exact=exact) + ".pdf"


def _overlapping(text: str, part: str) -> int:
    """How many times `part` occurs in `text`, overlaps counted."""
    return sum(text.startswith(part, i) for i in range(len(text)))


# --- checking with the public key alone -------------------------------------------------------

ALTERED = "the file was altered, or was not written by 'sampleloans report'"


@dataclass(frozen=True)
class ProofCheck:
    """What `verify_proofs` found: lines that held, and problems."""

    lines: tuple[str, ...]
    problems: tuple[str, ...]


def verify_proofs(
    proofs: dict[str, Any], public_key_text: str, *, digest: str, pi: str | None = None
) -> ProofCheck:
    """Check a statement's embedded proofs with the lender's public key alone: the checkpoint's
    signature, each event's hash recomputed from its fields, and each inclusion proof against
    the signed root. A wrong key or a re-signed checkpoint raises `CheckpointRefused` (exit 1)."""
    from sampleloans.ledger.checkpoint import parse_verifier_key, verify_checkpoint

    if proofs.get("format") != PROOF_FORMAT:
        raise RuleViolation(f"FILE: its proofs are not in the {PROOF_FORMAT} format: {ALTERED}")
    verifier = parse_verifier_key(public_key_text)
    note = proofs.get("checkpoint")
    if not isinstance(note, str):
        raise RuleViolation(f"FILE: its proofs carry no signed checkpoint: {ALTERED}")
    try:
        checkpoint = verify_checkpoint(note, verifier)
    except InvalidInput as exc:
        raise RuleViolation(
            f"FILE: its embedded checkpoint is damaged ({exc}): {ALTERED}"
        ) from None
    lines = [
        f"checkpoint signed by {verifier.name} ({verifier.fingerprint()[:23]}…): "
        f"{checkpoint.origin}, {counted(checkpoint.size, 'event')}"
    ]
    problems = []
    if pi is not None and proofs.get("pi") != pi:
        problems.append("pi: the embedded proofs are of another PI's statement")
    if proofs.get("digest") != digest:
        problems.append(
            "digest: the embedded proofs belong to another statement than the one printed"
        )
    if proofs.get("tree_size") != checkpoint.size:
        problems.append("tree_size: the proofs do not name the signed checkpoint's size")
    events = proofs.get("events")
    if not isinstance(events, list):
        raise RuleViolation(f"FILE: its proofs carry no list of events: {ALTERED}")
    proved: list[int] = []
    for index, entry in enumerate(events):
        problem = _event_problem(entry, checkpoint.size, checkpoint.root)
        if problem:
            problems.append(f"event #{index + 1}: {problem}")
        else:
            proved.append(entry["seq"])
    if proved != sorted(set(proved)):
        # a statement lists each event once, in ledger order: a copy or a swap is an edit
        shown = ", ".join(map(str, proved[:12])) + (", …" if len(proved) > 12 else "")
        problems.append(f"events: not each listed once in ascending seq order ({shown}): {ALTERED}")
    lines.append(
        f"{len(proved)} of {counted(len(events), 'event')}: hash recomputed and included in the "
        "root"
    )
    return ProofCheck(tuple(lines), tuple(problems))


def _event_problem(entry: Any, size: int, root: bytes) -> str | None:
    """Why one embedded event does not check out, or None."""
    from sampleloans.ledger.chain import link_hash
    from sampleloans.ledger.merkle import leaf_hash, verify_inclusion

    if not isinstance(entry, dict):
        return "not an object"
    seq, body, prev, hash_hex, proof = (
        entry.get(k) for k in ("seq", "event", "prev_hash", "hash", "proof")
    )
    if not isinstance(seq, int) or isinstance(seq, bool) or not isinstance(body, dict):
        return "no seq or event fields"
    if not isinstance(prev, str) or not isinstance(hash_hex, str) or not isinstance(proof, list):
        return f"event {seq}: no prev_hash, hash or proof"
    if body.get("seq") != seq:
        return f"event {seq}: its fields name seq {body.get('seq')!r}"
    try:
        recomputed = link_hash(prev, body)
    except (UnicodeEncodeError, InvalidInput, TypeError, ValueError):
        return f"event {seq}: its fields or previous hash are not what the ledger hashes"
    if recomputed != hash_hex:
        return f"event {seq}: its fields do not hash to {hash_hex[:16]}…: the event was altered"
    try:
        path = [bytes.fromhex(node) for node in proof]
        leaf = leaf_hash(bytes.fromhex(hash_hex))
    except (TypeError, ValueError):
        return f"event {seq}: its proof is not hex"
    if not 1 <= seq <= size or not verify_inclusion(seq - 1, size, leaf, path, root):
        return f"event {seq}: its inclusion proof does not lead to the signed root"
    return None


def _event_description(session: Session, event: LedgerEvent, payload: dict[str, Any]) -> Words:
    """What the ledger records of an event; in the words of statement layouts before 7 too where
    those differed (`EARLIER_WORDS`: their digests cover them)."""
    args = (session, event.kind, event.seq, event.corrects_seq, payload, event.reason)

    def described() -> Words:
        """The event's words in the current grouping of masses."""
        text = describe_payload(*args)
        if event.kind not in EARLIER_WORDS:
            return text
        return reworded(text, describe_earlier(*args), WORDED_VERSION)

    # from statement layout 11 on "1,731.000 g", as every command and report layout 11 print
    # it; the layouts before digest the words they printed, "1731.000 g"
    return with_grouped_masses(described, GROUPED_MASS_VERSION)
