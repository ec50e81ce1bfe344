"""Invariant checks in beancount's style: `check_*(snapshot) -> list[Violation]`.

Every check runs and every violation is reported. The same checks refuse a write (the unit of work
raises when any fails on the touched records) and power `verify` (all records, all printed).
"""

from collections import defaultdict, namedtuple
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cache, partial
from typing import TYPE_CHECKING, Any, Protocol

from sampleloans.errors import Conflict, RuleViolation
from sampleloans.models import byte_order
from sampleloans.text import one_line, words
from sampleloans.vocab import (
    CustodyState,
    IncidentStatus,
    ItemSource,
    ItemState,
    LoanStatus,
    PurposeClass,
    state_words,
)

if TYPE_CHECKING:
    from sqlalchemy import Connection, Result
    from sqlmodel import Session

    from sampleloans.ledger.unit import Touched


LOAN_TRANSITIONS: dict[str, tuple[LoanStatus, ...]] = {
    "approve": (LoanStatus.REQUESTED,),
    "issue": (LoanStatus.APPROVED,),
    "ship": (LoanStatus.ISSUED,),
    "receive": (LoanStatus.IN_TRANSIT,),
    "consume": (LoanStatus.RECEIVED,),
    "split": (LoanStatus.RECEIVED,),
    "ship_return": (LoanStatus.RECEIVED,),
    "accept_return": (LoanStatus.RECEIVED, LoanStatus.RETURN_IN_TRANSIT),
    "extend": (
        LoanStatus.ISSUED,
        LoanStatus.IN_TRANSIT,
        LoanStatus.RECEIVED,
        LoanStatus.RETURN_IN_TRANSIT,
    ),
    "recall": (
        LoanStatus.ISSUED,
        LoanStatus.IN_TRANSIT,
        LoanStatus.RECEIVED,
        LoanStatus.RETURN_IN_TRANSIT,
    ),
    "inventory": (LoanStatus.RECEIVED, LoanStatus.RETURN_IN_TRANSIT),
    "settle": (LoanStatus.RECEIVED, LoanStatus.RETURNED),
    "close": (LoanStatus.SETTLED,),
    "withdraw": (LoanStatus.REQUESTED, LoanStatus.APPROVED),
}
"""For each loan action, the statuses it may start from (docs/domain.md, "Agreements and loans")."""

LOAN_STEPS: dict[str, tuple[tuple[LoanStatus, str, str], ...]] = {
    LoanStatus.REQUESTED: (
        (LoanStatus.APPROVED, "approve it first", "loans approve"),
        (LoanStatus.CLOSED, "withdraw it", "loans withdraw"),
    ),
    LoanStatus.APPROVED: (
        (LoanStatus.ISSUED, "issue it first", "loans issue"),
        (LoanStatus.CLOSED, "withdraw it", "loans withdraw"),
    ),
    LoanStatus.ISSUED: ((LoanStatus.IN_TRANSIT, "ship it first", "loans ship"),),
    LoanStatus.IN_TRANSIT: ((LoanStatus.RECEIVED, "record its receipt first", "loans receive"),),
    LoanStatus.RECEIVED: (
        (LoanStatus.SETTLED, "settle it first", "loans settle"),
        (LoanStatus.RETURN_IN_TRANSIT, "release samples for return first", "loans return"),
    ),
    LoanStatus.RETURN_IN_TRANSIT: (
        (LoanStatus.RETURNED, "accept the return first", "loans accept-return"),
    ),
    LoanStatus.RETURNED: ((LoanStatus.SETTLED, "settle it first", "loans settle"),),
    LoanStatus.SETTLED: ((LoanStatus.CLOSED, "close it", "loans close"),),
    LoanStatus.CLOSED: (),
}
"""The statuses each status moves on to: the step's words and the command doing it."""

LAB_COMMANDS = frozenset(
    {"loans receive", "loans consume", "loans split", "loans inventory", "incidents report"}
)
"""The commands a researcher may run (on their institution's loans); every other step of a
loan is a curator's, so a hint to a researcher says so instead of naming it as theirs."""


def step_hint(words_: str, command: str, *, researcher: bool = False) -> str:
    """A hint naming the command that takes a step: for a researcher, a curator's step is
    said to be the curator's ('a curator must ship it first'), not an order they cannot obey."""
    who = "a curator must " if researcher and command not in LAB_COMMANDS else ""
    return f"{who}{words_} ('{command}')"


PAST_STEP: dict[str, str] = {
    "approve": "only a requested loan can be approved",
    "issue": "it has already been issued",
    "ship": "it has already been shipped",
    "receive": "its shipment has already been received",
    "consume": "the borrower holds none of its samples any more",
    "split": "the borrower holds none of its samples any more",
    "ship_return": "the borrower holds none of its samples any more",
    "accept_return": "no return of it is in transit",
    "extend": "only a loan that is out and not yet returned can be extended",
    "recall": "only a loan that is out and not yet returned can be recalled",
    "inventory": "the borrower holds none of its samples any more",
    "settle": "it is already settled",
    "close": "it is already closed",
    "withdraw": "only a loan not yet issued can be withdrawn (once issued, its samples come back "
    "through 'loans return' and 'loans accept-return')",
}
"""Why an action asked for too late cannot happen any more."""

ENDING_UNISSUED: dict[str, str] = {
    action: "a loan never issued is not settled or closed but withdrawn ('loans withdraw')"
    for action in ("settle", "close")
}
"""The actions that end a loan, and what ends one that never left the vault instead."""

_STAYS = (
    "nothing of it left the vault and it stays closed; for its samples, request a new loan "
    "('loans request')"
)
WITHDRAWN_HINT: dict[str, str] = {
    action: "it is already withdrawn and closed" for action in ("withdraw", "close", "settle")
}
"""Why an action cannot happen to a withdrawn loan, where it is not `_STAYS`."""


def withdrawn(loan: Any) -> bool:
    """Whether a loan was withdrawn: closed without ever being issued."""
    return bool(loan.status == LoanStatus.CLOSED and loan.issued_at is None)


ACTION_WORDS: dict[str, str] = {"ship_return": "release it for return"}
"""Actions whose internal name does not read as words in a message."""

ACTIVE_ITEM_STATES = (
    ItemState.ISSUED,
    ItemState.IN_TRANSIT,
    ItemState.HELD,
    ItemState.RETURN_IN_TRANSIT,
)
SAMPLE_STATES = (
    CustodyState.VAULT,
    CustodyState.ISSUED,
    CustodyState.IN_TRANSIT,
    CustodyState.HELD,
    CustodyState.RETURN_IN_TRANSIT,
    CustodyState.CONSUMED,
    CustodyState.LOST,
    CustodyState.SPLIT,
    CustodyState.TRANSFERRED,
)
NEVER_LENT = (PurposeClass.PERMANENT, PurposeClass.BACKUP)


@dataclass(frozen=True)
class Violation:
    """One broken invariant, with the record it concerns."""

    check: str
    record: str
    message: str


def transition_hint(status: str, action: str, *, researcher: bool = False) -> str:
    """What to do instead when a loan's status does not allow an action: the command that
    starts the shortest way to a status that allows it (who runs it, for a researcher), or
    why it is too late."""
    if action in ENDING_UNISSUED and status in LOAN_TRANSITIONS["withdraw"]:
        return ENDING_UNISSUED[action]
    allowed = set(LOAN_TRANSITIONS[action])
    frontier = [(after, (doing, command)) for after, doing, command in LOAN_STEPS.get(status, ())]
    seen = {status}
    while frontier:
        reachable = [step for after, step in frontier if after in allowed]
        if reachable:
            return step_hint(*reachable[0], researcher=researcher)
        seen |= {after for after, _step in frontier}
        frontier = [
            (later, step)
            for after, step in frontier
            for later, _doing, _command in LOAN_STEPS[after]
            if later not in seen
        ]
    return PAST_STEP[action]


def state_refusal(
    message: str,
    record: str,
    last_event_at: datetime | None,
    at: datetime | None,
    *,
    otherwise: type[Conflict] | type[RuleViolation] = Conflict,
) -> Conflict | RuleViolation:
    """The error refusing a write because of a record's state (`message`). A write dated
    (`--at`, `at`) before the record's last event (`last_event_at`) finds the state a later
    event made: "not held", "on its way back" would send the user to a step that cannot help.
    Its refusal names the time first, as the time-order rule words it (`apply._in_order`), then
    the state; exit 1 either way (`otherwise`: the error of the state alone)."""
    from sampleloans.dates import bound_text, to_iso  # only on a refusal

    if at is None or last_event_at is None or at >= last_event_at:
        return otherwise(message)
    return RuleViolation(
        f"time: {to_iso(at)} is before the previous event of {record} ({to_iso(last_event_at)}); "
        f"events of a record are kept in time order (give a time {bound_text(last_event_at)}), "
        f"and {message}"
    )


def require_loan_transition(
    loan: Any, action: str, *, researcher: bool = False, at: datetime | None = None
) -> None:
    """Refuse an action that the loan's status does not allow, naming the command that helps
    (and, to a researcher, that a curator's step is the curator's); `at`: when the write says
    it happened (a refusal of one dated before the loan's last event says so: `state_refusal`)."""
    if loan.status in LOAN_TRANSITIONS[action]:
        return
    doing = ACTION_WORDS.get(action, words(action))
    if withdrawn(loan):
        # the past steps' words ("it has already been issued") would be untrue of it
        message = (
            f"loan {loan.number} was withdrawn (closed, never issued); cannot {doing}: "
            f"{WITHDRAWN_HINT.get(action, _STAYS)}"
        )
    else:
        hint = transition_hint(loan.status, action, researcher=researcher)
        message = f"loan {loan.number} is {state_words(loan.status)}; cannot {doing}: {hint}"
    raise state_refusal(message, f"loan {loan.number}", loan.last_event_at, at)


def loan_status_of(items: Iterable[Any], current: str) -> str:
    """A loan's status from its items once the borrower has received it.

    `received` while anything is held, `return_in_transit` only when everything left is on its
    way back, `returned` once something came back and nothing is held or travelling; otherwise
    (its samples used up or lost) `current`: the caller's, e.g. `returned` when a return trip
    ended with nothing of it arriving.
    """
    states = {item.state for item in items}
    if ItemState.HELD in states:
        return LoanStatus.RECEIVED
    if ItemState.RETURN_IN_TRANSIT in states:
        return LoanStatus.RETURN_IN_TRANSIT
    if ItemState.RETURNED in states:
        return LoanStatus.RETURNED
    return current


class SampleFigures(Protocol):
    """What the checks read of a sample row."""

    code: str
    parent_code: str | None
    purpose_class: str
    custody_state: str
    loan_number: str | None
    frozen: bool
    initial_mass_ug: int
    vault_ug: int
    on_loan_ug: int
    split_ug: int
    consumed_ug: int
    lost_ug: int
    transferred_ug: int


class ItemFigures(Protocol):
    """What the checks read of a loan item row."""

    loan_number: str
    sample_code: str
    state: str
    issued_ug: int
    held_ug: int
    consumed_ug: int
    returned_ug: int
    transferred_ug: int
    split_ug: int
    lost_ug: int


class LoanFigures(Protocol):
    """What the checks read of a loan row."""

    number: str
    status: str


class AgreementFigures(Protocol):
    """What the checks read of an agreement row."""

    number: str
    max_total_mass_ug: int


@dataclass
class Snapshot:
    """Plain rows the checks read; built from the database for all or some records."""

    samples: list[SampleFigures] = field(default_factory=list)
    children: dict[str, list[SampleFigures]] = field(default_factory=dict)
    items: list[ItemFigures] = field(default_factory=list)
    loans: list[LoanFigures] = field(default_factory=list)
    agreements: list[AgreementFigures] = field(default_factory=list)
    open_incident_samples: set[str] = field(default_factory=set)
    agreement_issued_ug: dict[str, int] = field(default_factory=dict)
    now: datetime | None = None


def check_sample_conservation(snapshot: Snapshot) -> list[Violation]:
    """initial = vault + on loan + split into children + consumed + lost + transferred, exactly."""
    found = []
    for s in snapshot.samples:
        parts = (s.vault_ug, s.on_loan_ug, s.split_ug, s.consumed_ug, s.lost_ug, s.transferred_ug)
        if sum(parts) != s.initial_mass_ug or min(parts) < 0:
            found.append(
                Violation(
                    "mass_conservation",
                    f"sample {s.code}",
                    f"sample {s.code}: initial {s.initial_mass_ug} µg ≠ vault {s.vault_ug} + "
                    f"on loan {s.on_loan_ug} + split {s.split_ug} + consumed {s.consumed_ug} + "
                    f"lost {s.lost_ug} + transferred {s.transferred_ug} µg",
                )
            )
    return found


def check_split_balance(snapshot: Snapshot) -> list[Violation]:
    """A sample's split mass equals the sum of its children's initial masses."""
    found = []
    for s in snapshot.samples:
        children_ug = sum(c.initial_mass_ug for c in snapshot.children.get(s.code, []))
        if children_ug != s.split_ug:
            found.append(
                Violation(
                    "split_balance",
                    f"sample {s.code}",
                    f"sample {s.code}: split {s.split_ug} µg but its children's initial masses "
                    f"add up to {children_ug} µg",
                )
            )
    return found


def check_item_balance(snapshot: Snapshot) -> list[Violation]:
    """issued = held + consumed + returned + transferred + split + lost, per loan item."""
    found = []
    for i in snapshot.items:
        parts = (i.held_ug, i.consumed_ug, i.returned_ug, i.transferred_ug, i.split_ug, i.lost_ug)
        if sum(parts) != i.issued_ug or min(parts) < 0:
            found.append(
                Violation(
                    "loan_item_balance",
                    f"loan {i.loan_number} item {i.sample_code}",
                    f"loan {i.loan_number} item {i.sample_code}: issued {i.issued_ug} µg ≠ held "
                    f"{i.held_ug} + consumed {i.consumed_ug} + returned {i.returned_ug} + "
                    f"transferred {i.transferred_ug} + split {i.split_ug} + lost {i.lost_ug} µg",
                )
            )
    return found


def check_custody(snapshot: Snapshot) -> list[Violation]:
    """One custodian of record: at most one active loan item per sample, matching the sample."""
    found = []
    active: dict[str, list[ItemFigures]] = defaultdict(list)
    held_ug: dict[str, int] = defaultdict(int)
    for i in snapshot.items:
        if i.state in ACTIVE_ITEM_STATES:
            active[i.sample_code].append(i)
            held_ug[i.sample_code] += i.held_ug
    for s in snapshot.samples:
        items = active.get(s.code, [])
        record = f"sample {s.code}"
        if s.custody_state not in SAMPLE_STATES:
            found.append(Violation("custody", record, f"{record}: unknown state {s.custody_state}"))
        if len(items) > 1:
            loans = ", ".join(sorted(i.loan_number for i in items))
            found.append(Violation("custody", record, f"{record}: on more than one loan ({loans})"))
        if s.on_loan_ug != held_ug.get(s.code, 0):
            found.append(
                Violation(
                    "custody",
                    record,
                    f"{record}: {s.on_loan_ug} µg on loan but its loan items hold "
                    f"{held_ug.get(s.code, 0)} µg",
                )
            )
        if items and (s.loan_number != items[0].loan_number or s.custody_state != items[0].state):
            found.append(
                Violation(
                    "custody",
                    record,
                    f"{record}: custody says {state_words(s.custody_state)} on "
                    f"{s.loan_number}, which disagrees with loan {items[0].loan_number} "
                    f"({state_words(items[0].state)})",
                )
            )
        if s.custody_state == CustodyState.VAULT and s.vault_ug <= 0:
            found.append(
                Violation(
                    "custody", record, f"{record}: in the vault with nothing of it there (0 µg)"
                )
            )
        if not items and s.custody_state in ACTIVE_ITEM_STATES:
            found.append(
                Violation(
                    "custody",
                    record,
                    f"{record}: {state_words(s.custody_state)} but on no active loan",
                )
            )
    return found


def check_never_lent(snapshot: Snapshot) -> list[Violation]:
    """Permanent and backup storage material is never issued."""
    purpose = {s.code: s.purpose_class for s in snapshot.samples}
    return [
        Violation(
            "never_lent",
            f"sample {i.sample_code}",
            f"sample {i.sample_code} is {purpose[i.sample_code]} storage but was issued on "
            f"loan {i.loan_number}",
        )
        for i in snapshot.items
        if purpose.get(i.sample_code) in NEVER_LENT and i.issued_ug > 0
    ]


def check_frozen(snapshot: Snapshot) -> list[Violation]:
    """A sample is frozen exactly while it has an open incident."""
    return [
        Violation(
            "incident_freeze",
            f"sample {s.code}",
            f"sample {s.code}: frozen={s.frozen} but open incident="
            f"{s.code in snapshot.open_incident_samples}",
        )
        for s in snapshot.samples
        if bool(s.frozen) != (s.code in snapshot.open_incident_samples)
    ]


def check_agreement_mass(snapshot: Snapshot) -> list[Violation]:
    """The mass issued under an agreement never exceeds its maximum."""
    return [
        Violation(
            "agreement_terms",
            f"agreement {a.number}",
            f"agreement {a.number}: {snapshot.agreement_issued_ug.get(a.number, 0)} µg issued, "
            f"more than its maximum {a.max_total_mass_ug} µg",
        )
        for a in snapshot.agreements
        if snapshot.agreement_issued_ug.get(a.number, 0) > a.max_total_mass_ug
    ]


def check_closed_loans(snapshot: Snapshot) -> list[Violation]:
    """A settled or closed loan has every microgram accounted for."""
    items_by_loan: dict[str, list[ItemFigures]] = defaultdict(list)
    for i in snapshot.items:
        items_by_loan[i.loan_number].append(i)
    found = []
    for loan in snapshot.loans:
        if loan.status in (LoanStatus.SETTLED, LoanStatus.CLOSED):
            open_ug = sum(i.held_ug for i in items_by_loan.get(loan.number, []))
            if open_ug:
                found.append(
                    Violation(
                        "loan_closure",
                        f"loan {loan.number}",
                        f"loan {loan.number} is {state_words(loan.status)} with {open_ug} µg "
                        "unaccounted",
                    )
                )
    return found


ALL_CHECKS = (
    check_sample_conservation,
    check_split_balance,
    check_item_balance,
    check_custody,
    check_never_lent,
    check_frozen,
    check_agreement_mass,
    check_closed_loans,
)


def run_checks(snapshot: Snapshot) -> list[Violation]:
    """Every check on one snapshot; all violations, in a stable order."""
    found = whole_number_violations(snapshot)
    if found:  # the other checks add and compare masses: they read the rows that hold numbers
        snapshot = _whole_rows(snapshot)
    for check in ALL_CHECKS:
        found.extend(check(snapshot))
    return found


SAMPLE_MASSES = (
    "initial_mass_ug",
    "vault_ug",
    "on_loan_ug",
    "split_ug",
    "consumed_ug",
    "lost_ug",
    "transferred_ug",
)
ITEM_MASSES = (
    "issued_ug",
    "held_ug",
    "consumed_ug",
    "returned_ug",
    "transferred_ug",
    "split_ug",
    "lost_ug",
)


def _not_whole(row: Any, names: tuple[str, ...]) -> str | None:
    """The first of `names` whose value in `row` is no whole number (text, a REAL or a BLOB,
    which SQLite keeps in an INTEGER column and its CHECK `>= 0` lets by), or None."""
    for name in names:
        if type(getattr(row, name)) is not int:
            return name
    return None


def whole_number_violations(snapshot: Snapshot) -> list[Violation]:
    """Every mass a check reads is a whole number of micrograms: only an edit of the file
    puts anything else there, and a sum over it would stop the checks with a TypeError."""
    found = []
    rows: list[tuple[str, Any, tuple[str, ...]]] = [
        *((f"sample {s.code}", s, SAMPLE_MASSES) for s in snapshot.samples),
        *((f"loan {i.loan_number} item {i.sample_code}", i, ITEM_MASSES) for i in snapshot.items),
        *((f"agreement {a.number}", a, ("max_total_mass_ug",)) for a in snapshot.agreements),
    ]
    for record, row, names in rows:
        name = _not_whole(row, names)
        if name is not None:
            value = getattr(row, name)
            found.append(
                Violation(
                    "whole_numbers",
                    record,
                    f"{record}: {name} holds {one_line(repr(value))[:60]}, not a whole number "
                    "of micrograms: the table was edited by hand",
                )
            )
    return found


def _whole_rows(snapshot: Snapshot) -> Snapshot:
    """`snapshot` without the rows `whole_number_violations` names."""
    children = {
        code: [c for c in kids if _not_whole(c, SAMPLE_MASSES) is None]
        for code, kids in snapshot.children.items()
    }
    return replace(
        snapshot,
        samples=[s for s in snapshot.samples if _not_whole(s, SAMPLE_MASSES) is None],
        children=children,
        items=[i for i in snapshot.items if _not_whole(i, ITEM_MASSES) is None],
        agreements=[
            a for a in snapshot.agreements if _not_whole(a, ("max_total_mass_ug",)) is None
        ],
    )


def build_snapshot(
    bind: "Connection | Session",
    *,
    samples: Iterable[str] | None = None,
    loans: Iterable[str] | None = None,
    agreements: Iterable[str] | None = None,
    samples_on_loans: Mapping[str, set[str]] | None = None,
) -> Snapshot:
    """Load the rows the checks need: everything (None) or the named records and neighbours.

    `samples_on_loans`: for some of the named loans, the codes of every sample on each (a
    write's unit holds them, `Unit.loan_items`): those loans' samples are then named by these
    codes, not found by a subquery on the loans' items (half the index searches of a batch's
    checks); the rows read are the same, in the same order.

    Plain rows through SQLAlchemy Core, on the connection of a unit (after the rows it left
    for the next statement) or of a read session. With named records every query is an
    index lookup on those keys, a query whose key set is empty is not run at all (a write's
    checks do not grow with the ledger), and the queries do not depend on one another: on
    PostgreSQL they go in one pipeline with the unit's writes (`db.read_together`), one wait
    for the server while the write holds the writers' lock, where each query was one.
    """
    from sqlalchemy import Connection

    connection = bind if isinstance(bind, Connection) else bind.connection()
    loan_keys = None if loans is None else set(loans)
    agreement_keys = None if agreements is None else set(agreements)
    if samples is None:
        return _whole_snapshot(connection, loan_keys, agreement_keys)
    return _scoped_snapshot(
        connection, set(samples), loan_keys, agreement_keys, samples_on_loans or {}
    )


def _whole_snapshot(
    connection: "Connection", loan_keys: set[str] | None, agreement_keys: set[str] | None
) -> Snapshot:
    """Every sample and item (`verify`), with the named loans and agreements (None: all)."""
    from sqlalchemy import select

    from sampleloans.models import Agreement, Loan, LoanItem

    snapshot = Snapshot()
    snapshot.items = _plain(connection.execute(select(_table(LoanItem))))
    _read_every_sample(connection, snapshot)
    snapshot.loans = _rows(connection, _table(Loan).c.number, loan_keys)
    if agreement_keys is None:
        snapshot.agreements = _rows(connection, _table(Agreement).c.number, None)
        snapshot.agreement_issued_ug = _issued_by_agreement(connection)
    elif agreement_keys:
        snapshot.agreements = _plain(connection.execute(_agreements_read(agreement_keys)))
        _note_issued(snapshot)
    return in_order(snapshot)


def _scoped_snapshot(
    connection: "Connection",
    sample_keys: set[str],
    loan_keys: set[str] | None,
    agreement_keys: set[str] | None,
    samples_on_loans: Mapping[str, set[str]],
) -> Snapshot:
    """The named samples, loans and agreements and the neighbours their checks read, in
    independent queries read together (see `build_snapshot`)."""
    from sqlalchemy import select

    from sampleloans import db
    from sampleloans.models import Agreement, Loan

    reads: dict[str, Any] = {}
    dialect = connection.dialect.name
    unknown = loan_keys  # the loans whose samples are found by a subquery on their items
    if loan_keys:
        known = [samples_on_loans[number] for number in loan_keys if number in samples_on_loans]
        unknown = {number for number in loan_keys if number not in samples_on_loans}
        sample_keys = sample_keys.union(*known)
    items = _items_read(sample_keys, unknown, dialect)
    if items is not None:
        reads["items"] = items
    samples = _samples_read(sample_keys, unknown, dialect)
    if samples is not None:
        reads["samples"] = samples
    loan_t = _table(Loan)
    if loan_keys is None:
        reads["loans"] = select(loan_t)
    elif loan_keys:
        reads["loans"] = select(*_figures(Loan, LoanFigures)).where(
            db.in_keys(loan_t.c.number, loan_keys, dialect)
        )
    if agreement_keys is None:
        reads["agreements"] = select(_table(Agreement))
        reads["issued"] = _issued_by_agreement_read()
    elif agreement_keys:
        reads["agreements"] = _agreements_read(agreement_keys)
    answers = dict(zip(reads, db.read_together(connection, list(reads.values())), strict=True))
    snapshot = Snapshot()
    snapshot.items = _plain(answers.get("items", []))
    if loan_keys:  # the samples on the named loans are named too
        on_loans = {str(i.sample_code) for i in snapshot.items if i.loan_number in loan_keys}
        sample_keys = sample_keys | on_loans
    _sort_samples(snapshot, _plain(answers.get("samples", [])), sample_keys)
    snapshot.loans = _plain(answers.get("loans", []))
    snapshot.agreements = _plain(answers.get("agreements", []))
    if "issued" in answers:
        snapshot.agreement_issued_ug = {
            str(number): int(total) for number, total in answers["issued"]
        }
    else:
        _note_issued(snapshot)
    return in_order(snapshot)


def in_order(snapshot: Snapshot) -> Snapshot:
    """The snapshot's items, loans and agreements in key order (text by code point, as SQLite
    compares it), in every path that builds one (the whole ledger, a write's records read from
    the database, a write's records as the unit holds them). The checks' messages follow this
    order (which item is named first, which loan a sample's custody is compared with), so it is
    stated here, not left to the plan a database picked: a UNION of two branches came sorted on
    SQLite, a single branch in the order of the index it searched, a UNION on PostgreSQL hashed.
    The samples are read ordered by code already."""
    snapshot.items.sort(key=lambda i: (str(i.loan_number), str(i.sample_code)))
    snapshot.loans.sort(key=lambda loan: str(loan.number))
    snapshot.agreements.sort(key=lambda agreement: str(agreement.number))
    return snapshot


def _table(model: Any) -> Any:
    """A model's Core table."""
    return model.__table__


def _figures(model: Any, protocol: Any) -> list[Any]:
    """The columns of a model's table that the checks read (the fields of `protocol`): a
    write's checks read many rows, and the other columns' values (times, above all) cost
    more to convert than the checks cost to run."""
    table = _table(model)
    return [table.c[name] for name in protocol.__annotations__]


@cache
def _row_type(fields: tuple[str, ...]) -> Any:
    """A plain named tuple for rows of these columns (one class per column set)."""
    return namedtuple("CheckedRow", fields)


def _plain(rows: "list[Any] | Result[Any]") -> list[Any]:
    """Rows as plain named tuples: the checks read each row's fields dozens of times, and a
    field of a SQLAlchemy `Row` costs several times a tuple's (a fifth of a write's checks
    went there). The values are the rows' own, as SQLAlchemy converted them. A result (the
    whole ledger's rows, `verify`) is converted one row at a time, never held twice."""
    if isinstance(rows, list):
        return list(map(_row_maker(rows[0]._fields), rows)) if rows else []
    return list(map(_row_maker(rows.keys()), rows))


def _row_maker(fields: Iterable[str]) -> Callable[[Any], Any]:
    """Make a plain row of these columns from a row: `tuple.__new__` bound to the named tuple
    class, its `_make` without a Python frame per row."""
    return partial(tuple.__new__, _row_type(tuple(fields)))


def _items_on_loans(loan_keys: set[str], dialect: str) -> Any:
    """The codes of the samples on the named loans (a subquery)."""
    from sqlalchemy import select

    from sampleloans import db
    from sampleloans.models import LoanItem

    item_t = _table(LoanItem)
    return select(item_t.c.sample_code).where(db.in_keys(item_t.c.loan_number, loan_keys, dialect))


def _items_read(sample_keys: set[str], loan_keys: set[str] | None, dialect: str) -> Any:
    """The items of the named samples and of every sample on a named loan, on any loan (None:
    nothing to read)."""
    from sqlalchemy import select

    from sampleloans import db
    from sampleloans.models import LoanItem

    item_t = _table(LoanItem)
    wanted = []
    if sample_keys:
        wanted.append(db.in_keys(item_t.c.sample_code, sample_keys, dialect))
    if loan_keys:
        wanted.append(item_t.c.sample_code.in_(_items_on_loans(loan_keys, dialect)))
    columns = _figures(LoanItem, ItemFigures)
    return _union_of([select(*columns).where(condition) for condition in wanted], None)


def _samples_read(sample_keys: set[str], loan_keys: set[str] | None, dialect: str) -> Any:
    """The named samples and those on the named loans, with their children, each with whether
    it has an open incident (None: nothing to read)."""
    from sqlalchemy import select

    from sampleloans import db
    from sampleloans.models import Incident, Sample

    sample_t, incident_t = _table(Sample), _table(Incident)
    wanted = []
    if sample_keys:
        wanted += [
            db.in_keys(sample_t.c.code, sample_keys, dialect),
            db.in_keys(sample_t.c.parent_code, sample_keys, dialect),
        ]
    if loan_keys:
        on_loans = _items_on_loans(loan_keys, dialect)
        wanted += [sample_t.c.code.in_(on_loans), sample_t.c.parent_code.in_(on_loans)]
    has_open = select(incident_t.c.sample_code).where(
        incident_t.c.sample_code == sample_t.c.code, incident_t.c.status == IncidentStatus.OPEN
    )
    columns = (*_figures(Sample, SampleFigures), has_open.exists().label("has_open_incident"))
    return _union_of([select(*columns).where(condition) for condition in wanted], "code")


def _union_of(branches: list[Any], order: str | None) -> Any:
    """The rows of every branch, each once (None: no branch), ordered by the column `order`.

    A UNION, not one WHERE of ORed conditions: PostgreSQL answers `a IN (subquery) OR b IN
    (subquery)` with a scan of the whole table (a hashed subplan per row), where each branch
    alone is an index search."""
    from sqlalchemy import literal_column, union

    if not branches:
        return None
    # through a plain callable: mypy 2.4 crashes inferring `union`'s variadic generic signature
    make_union: Callable[..., Any] = union
    query = branches[0] if len(branches) == 1 else make_union(*branches)
    return query if order is None else query.order_by(literal_column(order))


def _sort_samples(snapshot: Snapshot, rows: Iterable[Any], sample_keys: set[str]) -> None:
    """The scoped samples, their children and which have an open incident, from the rows of
    `_samples_read` (which may hold neighbours no check needs)."""
    for sample in rows:
        if sample.code in sample_keys:
            snapshot.samples.append(sample)
            if sample.has_open_incident:
                snapshot.open_incident_samples.add(str(sample.code))
        parent = sample.parent_code
        if parent is not None and parent in sample_keys:
            snapshot.children.setdefault(parent, []).append(sample)


def _agreements_read(keys: set[str]) -> Any:
    """A write's agreements, each with the mass issued under it so far, in one query."""
    from sqlalchemy import func, select

    from sampleloans.models import Agreement, Loan, LoanItem

    agreement_t, loan_t, item_t = _table(Agreement), _table(Loan), _table(LoanItem)
    issued = (
        select(func.sum(item_t.c.issued_ug))
        .select_from(loan_t.join(item_t, item_t.c.loan_number == loan_t.c.number))
        .where(loan_t.c.agreement == agreement_t.c.number, item_t.c.source == ItemSource.ISSUED)
        .scalar_subquery()
    )
    columns = _figures(Agreement, AgreementFigures)
    return select(*columns, issued.label("issued_so_far_ug")).where(
        agreement_t.c.number.in_(sorted(keys))
    )


def _note_issued(snapshot: Snapshot) -> None:
    """The mass issued so far under each agreement read by `_agreements_read`."""
    for row in snapshot.agreements:
        issued_ug = getattr(row, "issued_so_far_ug", None)
        if issued_ug is not None:  # as the whole snapshot: only where some was
            snapshot.agreement_issued_ug[str(row.number)] = int(issued_ug)


def _rows(connection: "Connection", key: Any, keys: set[str] | None) -> list[Any]:
    """Every row of `key`'s table (None), or those whose `key` is one of `keys` (none for an
    empty set: no query)."""
    from sqlalchemy import select

    if keys is None:
        return _plain(connection.execute(select(key.table)))
    if not keys:
        return []
    return _plain(connection.execute(select(key.table).where(key.in_(sorted(keys)))))


def _read_every_sample(connection: "Connection", snapshot: Snapshot) -> None:
    """Every sample, their children and which have an open incident: one scan of the samples
    and one of the open incidents (not a probe for each sample)."""
    from sqlalchemy import select

    from sampleloans.models import Incident, Sample

    sample_t, incident_t = _table(Sample), _table(Incident)
    open_query = select(incident_t.c.sample_code).where(incident_t.c.status == IncidentStatus.OPEN)
    snapshot.open_incident_samples = {
        str(row.sample_code) for row in connection.execute(open_query)
    }
    result = connection.execute(select(sample_t).order_by(byte_order(sample_t.c.code)))
    for sample in map(_row_maker(result.keys()), result):  # one row at a time
        snapshot.samples.append(sample)
        if sample.parent_code is not None:
            snapshot.children.setdefault(sample.parent_code, []).append(sample)


def _issued_by_agreement(connection: "Connection") -> dict[str, int]:
    """The mass issued so far under each agreement that has issued any."""
    return {
        str(number): int(total) for number, total in connection.execute(_issued_by_agreement_read())
    }


def _issued_by_agreement_read() -> Any:
    """The query of `_issued_by_agreement`: each agreement's number and mass issued."""
    from sqlalchemy import func, select

    from sampleloans.models import Loan, LoanItem

    loan_t, item_t = _table(Loan), _table(LoanItem)
    return (
        select(loan_t.c.agreement, func.sum(item_t.c.issued_ug))
        .join(item_t, item_t.c.loan_number == loan_t.c.number)
        .where(item_t.c.source == ItemSource.ISSUED)
        .group_by(loan_t.c.agreement)
    )


def check_touched(
    bind: "Connection | Session",
    touched: "Touched",
    samples_on_loans: Mapping[str, set[str]] | None = None,
) -> list[Violation]:
    """Run every check on the records events changed (the write path's second wall);
    `samples_on_loans` as `build_snapshot`'s."""
    if not (touched.samples or touched.loans or touched.agreements):
        return []
    snapshot = build_snapshot(
        bind,
        samples=touched.samples,
        loans=touched.loans,
        agreements=touched.agreements,
        samples_on_loans=samples_on_loans,
    )
    return run_checks(snapshot)
