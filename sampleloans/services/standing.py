"""Where borrowers stand: mass balances term by term, overdue loans and inventories, and each
loan's obligations. Read services returning frozen dataclasses, sorted deterministically."""

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from itertools import chain
from typing import Any, NamedTuple, cast, overload

from sqlalchemy import CursorResult, Executable, Result, String, case, func, or_, type_coerce
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from sampleloans.dates import days_between, to_iso
from sampleloans.errors import InvalidInput
from sampleloans.ledger import overdue as rule
from sampleloans.ledger.envelope import Context
from sampleloans.models import Agreement, Incident, Loan, LoanItem, Person, Sample, byte_order
from sampleloans.readmodels.items import ItemMasses, item_masses, item_source
from sampleloans.readmodels.report import (
    NOTHING_LEFT,
    SETTLEMENT_REPORT,
    nothing_left_to_send_back,
)
from sampleloans.services import access
from sampleloans.services.common import loan_agreement_ended
from sampleloans.services.queries import (
    frozen_on_loan,
    returned_at,
    sent_back_at,
    sent_back_column,
    withdrawn_reason,
)
from sampleloans.text import counted
from sampleloans.vocab import (
    IncidentStatus,
    ItemSource,
    ItemState,
    LoanStatus,
    Role,
)

FOLLOW_UP: dict[str, str] = {
    LoanStatus.REQUESTED: "awaiting approval",
    LoanStatus.APPROVED: "awaiting issue",
    LoanStatus.ISSUED: "awaiting shipment",
    LoanStatus.IN_TRANSIT: "record receipt of the shipment",
    LoanStatus.RETURN_IN_TRANSIT: "return in transit to the curator",
    LoanStatus.RETURNED: f"settlement report: {SETTLEMENT_REPORT}",
    LoanStatus.SETTLED: "awaiting closure by the curator",
}
"""What a loan in each status waits for, as an open obligation."""
LOAN_TERMS = ("held", "consumed", "returned", "transferred", "split", "lost")
SAMPLE_TERMS = ("vault", "on_loan", "split", "consumed", "lost", "transferred")


@dataclass(frozen=True)
class ItemBalance:
    """One loan item's balance (`readmodels/items.py`): issued + from split = held + consumed +
    returned + transferred + split + lost."""

    sample_code: str
    source: str
    state: str
    issued_ug: int  # issued by the curator: 0 for a sample the borrower split off
    held_ug: int
    consumed_ug: int
    returned_ug: int
    transferred_ug: int
    split_ug: int
    lost_ug: int
    from_split_ug: int = 0  # split off another sample of the loan by the borrower
    frozen: bool = False  # the sample is frozen by an open incident

    @property
    def balanced(self) -> bool:
        """Whether the equation holds exactly."""
        return self.issued_ug + self.from_split_ug == sum(
            getattr(self, f"{t}_ug") for t in LOAN_TERMS
        )


@dataclass(frozen=True)
class SampleBalance:
    """One sample's balance: initial = vault + on loan + split to children + consumed + lost +
    transferred (given away for good)."""

    code: str
    parent_code: str | None
    custody_state: str
    initial_ug: int
    vault_ug: int
    on_loan_ug: int
    split_ug: int
    consumed_ug: int
    lost_ug: int
    transferred_ug: int

    @property
    def balanced(self) -> bool:
        """Whether the equation holds exactly."""
        return self.initial_ug == sum(getattr(self, f"{t}_ug") for t in SAMPLE_TERMS)


@dataclass(frozen=True)
class Balance:
    """A mass balance: of one loan (items), one sample lineage, or the whole collection."""

    scope: str  # loan | lineage | collection
    subject: str | None  # loan number or the lineage's root code
    items: tuple[ItemBalance, ...]
    item_total: ItemBalance | None
    samples: tuple[SampleBalance, ...]
    sample_total: SampleBalance | None


class OverdueRow(NamedTuple):
    """A loan past its due date or an inventory past due, with whole days late.

    A named tuple, not a dataclass: `overdue` makes one per late obligation (40,000 on the
    bench ledger), and a tuple is built several times faster and holds no per-row dict.
    """

    loan_number: str
    institution: str
    pi_email: str
    what: str  # return | inventory
    due_at: datetime
    days_late: int


@dataclass(frozen=True)
class ItemStanding:
    """One sample of a loan and its custody state (masses as `readmodels/items.py` reads them)."""

    sample_code: str
    state: str
    issued_ug: int  # issued by the curator: 0 for a sample the borrower split off
    held_ug: int
    from_split_ug: int = 0  # split off another sample of the loan by the borrower
    frozen: bool = False  # the sample is frozen by an open incident
    # the rest of the item's shape, as `loans show` and `balance` give it
    source: str = ItemSource.ISSUED
    consumed_ug: int = 0
    returned_ug: int = 0
    transferred_ug: int = 0
    split_ug: int = 0
    lost_ug: int = 0


@dataclass(frozen=True)
class LoanStanding:
    """One loan: samples, mass held, dates, extensions and open obligations."""

    number: str
    institution: str
    pi_email: str
    status: str
    items: tuple[ItemStanding, ...]
    held_ug: int  # not yet accounted for: held by the borrower, or on its way back
    returning_ug: int  # the part of held_ug on its way back (a return in transit)
    due_at: datetime | None
    loan_period: str  # ISO period asked for: before issue, the due date is this after it
    days_left: int | None  # calendar days; negative when overdue
    overdue: bool  # past the due time now (also on the due day itself, after the hour)
    sent_back_in_time: bool  # everything left sent back by the due time: its return is met
    recalled_at: datetime | None  # when the lender brought the due date forward, if it did
    extensions_granted: int
    max_extensions: int
    next_inventory_due_at: datetime | None
    inventory_days_left: int | None
    inventory_overdue: bool
    obligations: tuple[str, ...]
    # once nothing binds the due date any more: when it came back, was settled, was closed
    returned_at: datetime | None = None
    settled_at: datetime | None = None
    closed_at: datetime | None = None
    withdrawn_reason: str | None = None  # withdrawn before issue, and why
    # a loan still out whose agreement is no longer in force: when it ended ('expired …'),
    # why no extension is left whatever the count says ('' otherwise)
    agreement_ended: str = ""


def _item_balance(item: LoanItem, frozen: bool) -> ItemBalance:
    masses = item_masses(item)
    return ItemBalance(
        sample_code=item.sample_code,
        source=item_source(item),
        state=item.state,
        frozen=frozen,
        **{name: getattr(masses, name) for name in _MASS_NAMES},
    )


_MASS_NAMES = tuple(ItemMasses.__dataclass_fields__)


def _sample_balance(sample: Sample) -> SampleBalance:
    return SampleBalance(
        code=sample.code,
        parent_code=sample.parent_code,
        custody_state=sample.custody_state,
        initial_ug=sample.initial_mass_ug,
        vault_ug=sample.vault_ug,
        on_loan_ug=sample.on_loan_ug,
        split_ug=sample.split_ug,
        consumed_ug=sample.consumed_ug,
        lost_ug=sample.lost_ug,
        transferred_ug=sample.transferred_ug,
    )


def _item_total(items: list[ItemBalance], label: str) -> ItemBalance:
    """The total of a loan's items: each term the sum of the rows (a borrower's split is in
    its parent's `split` and its child's `from split`, never in `issued`)."""
    return ItemBalance(
        label, "", "", **{name: sum(getattr(i, name) for i in items) for name in _MASS_NAMES}
    )


def _sample_total(samples: list[SampleBalance], label: str) -> SampleBalance:
    """The total of a set of samples, net of splits between them (children count once)."""

    def total(name: str) -> int:
        """The sum of one term over every sample."""
        return sum(getattr(s, name) for s in samples)

    codes = {s.code for s in samples}
    inner_ug = sum(s.initial_ug for s in samples if s.parent_code in codes)
    terms = {f"{t}_ug": total(f"{t}_ug") for t in SAMPLE_TERMS}
    terms["split_ug"] -= inner_ug
    return SampleBalance(label, None, "", total("initial_ug") - inner_ug, **terms)


def mass_balance(
    session: Session, ctx: Context, *, sample: str | None = None, loan: str | None = None
) -> Balance:
    """The mass balance of a loan, of a sample's lineage, or (staff only) of the collection."""
    person = access.reader(session, ctx)
    if sample and loan:
        raise InvalidInput("give --sample or --loan, not both")
    if loan:
        access.readable_loan(session, person, loan)
        rows = session.exec(
            select(LoanItem)
            .where(LoanItem.loan_number == loan)
            .order_by(byte_order(LoanItem.sample_code))
        ).all()
        frozen = frozen_on_loan(session, loan, [i.sample_code for i in rows])
        items = [_item_balance(i, i.sample_code in frozen) for i in rows]
        return Balance("loan", loan, tuple(items), _item_total(items, "total"), (), None)
    if sample:
        # imported here: only a lineage needs history (and its hand-over code); `status` and
        # `overdue`, which import this module, start without them
        from sampleloans.services.history import visible_subtree

        access.readable_sample(session, person, sample)
        codes = visible_subtree(session, person, sample)
        rows_s = session.exec(
            select(Sample).where(col(Sample.code).in_(codes)).order_by(byte_order(Sample.code))
        ).all()
        samples = [_sample_balance(s) for s in rows_s]
        root = next(s.code for s in samples if s.parent_code not in codes)
        return Balance("lineage", root, (), None, tuple(samples), _sample_total(samples, "total"))
    access.require_staff(person, "see the collection-wide balance (give --sample or --loan)")
    return Balance(
        "collection",
        None,
        (),
        _collection_item_total(session, "all loan items"),
        (),
        _collection_sample_total(session, "all samples"),
    )


def _execute(session: Session, query: Executable) -> "Result[*tuple[Any, ...]]":
    """Run a select of plain columns in Core: no ORM per-row work (twice as fast at 20k rows).

    Pending changes are flushed first, as `session.exec` would.
    """
    session.flush()
    return session.connection().execute(query)


def _collection_item_total(session: Session, label: str) -> ItemBalance:
    """`_item_total` of every loan item, as one aggregate query over the projection (a
    borrower's split child's stored `issued` is its `from split`, as `item_masses` reads it)."""
    moved = case((col(LoanItem.source) == ItemSource.BORROWER_SPLIT, LoanItem.issued_ug), else_=0)
    query = sa_select(
        func.sum(LoanItem.issued_ug),
        func.sum(LoanItem.held_ug),
        func.sum(LoanItem.consumed_ug),
        func.sum(LoanItem.returned_ug),
        func.sum(LoanItem.transferred_ug),
        func.sum(LoanItem.split_ug),
        func.sum(LoanItem.lost_ug),
        func.sum(moved),
    )
    sums = _execute(session, query).one()
    # int(): PostgreSQL's sum of a bigint is numeric (a Decimal), SQLite's an int
    issued, held, consumed, returned, transferred, split, lost, moved_ug = (
        int(s or 0) for s in sums
    )
    terms = (held, consumed, returned, transferred, split, lost)
    return ItemBalance(label, "", "", issued - moved_ug, *terms, from_split_ug=moved_ug)


def _collection_sample_total(session: Session, label: str) -> SampleBalance:
    """`_sample_total` of every sample, as one aggregate query (children counted once)."""
    # a child's mass counts once, as its parent's: every child's parent is in the collection
    # (foreign key), and the IN keeps the rule of _sample_total exactly
    inner = case(
        (col(Sample.parent_code).in_(select(Sample.code)), Sample.initial_mass_ug), else_=0
    )
    query = sa_select(
        func.sum(Sample.initial_mass_ug),
        func.sum(Sample.vault_ug),
        func.sum(Sample.on_loan_ug),
        func.sum(Sample.split_ug),
        func.sum(Sample.consumed_ug),
        func.sum(Sample.lost_ug),
        func.sum(Sample.transferred_ug),
        func.sum(inner),
    )
    sums = _execute(session, query).one()
    initial, vault, on_loan, split, consumed, lost, transferred, inner_ug = (
        int(s or 0) for s in sums
    )
    terms = (vault, on_loan, split - inner_ug, consumed, lost, transferred)
    return SampleBalance(label, None, "", initial - inner_ug, *terms)


def _scope_institution(session: Session, person: Person, institution: str | None) -> str | None:
    """The institution a read is limited to: a researcher's own; staff any or all."""
    if institution:
        return access.readable_institution(session, person, institution).short_name
    if person.role == Role.RESEARCHER:
        return person.institution
    return None


def overdue(session: Session, ctx: Context, *, institution: str | None = None) -> "OverdueRows":
    """Active loans past due and inventories past due at `ctx.now`, most days late first."""
    person = access.reader(session, ctx)
    scope = _scope_institution(session, person, institution)
    cut = _LateCut.at(ctx.now)
    dates = _RowsByDate(ctx.now)
    # plain DB-API rows: no per-row result processing by SQLAlchemy, no ORM objects
    session.flush()  # pending changes first, as `session.exec` would
    result = session.connection().execute(_overdue_candidates(cut.bound, scope))
    try:
        _file_late_rows(result, cut, dates)
    finally:
        result.close()
    return OverdueRows(dates.in_order())


@dataclass(frozen=True)
class _LateCut:
    """Which stored due times are late at a moment, mostly decided on the text alone.

    Times are stored as canonical ISO text, whose order is time order between different
    seconds but not inside one ('…:00Z' sorts after '…:00.5Z'): a due time in an earlier
    second than `late_before` is late, in a later one it is not, and in that second itself
    it is parsed and compared. SQL keeps every time before the next second (a superset).
    """

    late_before: datetime  # the one rule: due strictly before this is late
    second: str  # the text of late_before's whole second: a prefix of any time inside it
    bound: str  # the text of the next second: no time from it on is late

    @classmethod
    def at(cls, now: datetime) -> "_LateCut":
        """The cut at `now`, by the overdue rule."""
        late_before = rule.late_if_due_before(now)
        whole = late_before.replace(microsecond=0)
        return cls(late_before, to_iso(whole)[:19], to_iso(whole + timedelta(seconds=1)))

    def late(self, due_text: str | None) -> bool:
        """Whether a due time (stored text) is late: text order decides between seconds
        (`second` is a prefix: any time of an earlier second sorts before it), the rule's
        instant inside that second."""
        if due_text is None or due_text >= self.bound:
            return False
        return due_text < self.second or datetime.fromisoformat(due_text) < self.late_before


class _RowsByDate:
    """Overdue rows grouped by their UTC due date (the text's first 10 characters), each date
    with its days late.

    Days late depend on the date only (one rule call per date), and more days late is an
    earlier date, so the dates in order give the rows most days late first. The query reads
    loans by number and a loan's inventory comes before its return, so each date's rows are
    already in (loan_number, what) order: no sort of the rows at all.
    """

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.by_date: dict[str, tuple[int, Callable[[tuple[Any, ...]], None]]] = {}
        self.date_lists: dict[str, list[tuple[Any, ...]]] = {}

    def new_date(self, due_text: str) -> tuple[int, Callable[[tuple[Any, ...]], None]]:
        """The days late of the date of `due_text` and how to add a row to the date's list
        (made on first use)."""
        rows: list[tuple[Any, ...]] = []
        self.date_lists[due_text[:10]] = rows
        days = rule.days_late(datetime.fromisoformat(due_text), self.now)
        found = self.by_date[due_text[:10]] = (days, rows.append)
        return found

    def in_order(self) -> list[tuple[Any, ...]]:
        """Every row, the earliest due date (most days late) first."""
        lists = self.date_lists
        return list(chain.from_iterable(lists[date] for date in sorted(lists)))


def _file_late_rows(result: "CursorResult[Any]", cut: _LateCut, dates: _RowsByDate) -> None:
    """Read the candidates a thousand at a time and file each late return or inventory under
    its due date (the hot loop of `overdue`: its look-ups are bound to locals first)."""
    second, late, parse = cut.second, cut.late, datetime.fromisoformat
    by_date, new_date = dates.by_date, dates.new_date
    # The date of the previous row of each kind and its (days late, add a row): consecutive
    # loans often share a due date, and then the row needs no look-up at all.
    inventory_date = return_date = ""
    inventory_days = return_days = 0
    add_inventory: Callable[[tuple[Any, ...]], None] = _no_row
    add_return: Callable[[tuple[Any, ...]], None] = _no_row
    while batch := result.cursor.fetchmany(1000):
        for number, owner, pi_email, return_text, inventory_text, sent_text in batch:
            # 'inventory' before 'return': the order of `what` within a loan; a time in an
            # earlier second is late by the text alone (no call), the rest ask `late`
            if (
                (inventory_text is not None and inventory_text < second) or late(inventory_text)
            ) and (sent_text is None or not _sent_in_time(sent_text, inventory_text)):
                if inventory_text[:10] != inventory_date:
                    inventory_date = inventory_text[:10]
                    inventory_days, add_inventory = by_date.get(inventory_date) or new_date(
                        inventory_text
                    )
                due = parse(inventory_text)
                add_inventory((number, owner, pi_email, "inventory", due, inventory_days))
            if ((return_text is not None and return_text < second) or late(return_text)) and (
                sent_text is None or not _sent_in_time(sent_text, return_text)
            ):
                if return_text[:10] != return_date:
                    return_date = return_text[:10]
                    return_days, add_return = by_date.get(return_date) or new_date(return_text)
                due = parse(return_text)
                add_return((number, owner, pi_email, "return", due, return_days))


def _sent_in_time(sent_text: str, due_text: str) -> bool:
    """Whether everything left, sent (its last shipment left) at stored time `sent_text`, met a
    return or an inventory due at `due_text`: `ledger.overdue.sent_back_in_time` (only loans
    wholly on their way back have a `sent_text`)."""
    parse = datetime.fromisoformat
    return rule.sent_back_in_time(LoanStatus.RETURN_IN_TRANSIT, parse(due_text), parse(sent_text))


def _no_row(row: tuple[Any, ...]) -> None:
    """A stand-in for a date's `append` before the first late row of a kind (never called)."""
    raise AssertionError(f"no date list for {row!r}")


_overdue_row = cast(Callable[[tuple[Any, ...]], OverdueRow], partial(tuple.__new__, OverdueRow))
"""A plain tuple of the fields as an OverdueRow, in C (the class's own `__new__` is Python)."""


class OverdueRows(Sequence[OverdueRow]):
    """The rows of `overdue`, in order: a sequence that keeps plain tuples and hands out each
    as an OverdueRow when it is read.

    Why: 40,000 named tuples alive at once kept the garbage collector busy (a plain tuple of
    strings, ints and datetimes is dropped from its tracking; a named tuple never is), half the
    time of `overdue` on the bench ledger. Read in a loop, each row is freed once used.
    """

    __slots__ = ("_plain",)

    def __init__(self, plain: list[tuple[Any, ...]]) -> None:
        self._plain = plain

    def __len__(self) -> int:
        return len(self._plain)

    @overload
    def __getitem__(self, index: int) -> OverdueRow: ...
    @overload
    def __getitem__(self, index: slice) -> list[OverdueRow]: ...
    def __getitem__(self, index: int | slice) -> OverdueRow | list[OverdueRow]:
        if isinstance(index, slice):
            return list(map(_overdue_row, self._plain[index]))
        return _overdue_row(self._plain[index])

    def __iter__(self) -> Iterator[OverdueRow]:
        return map(_overdue_row, self._plain)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, OverdueRows):
            return self._plain == other._plain
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]  # mutable-looking sequence, like a list

    def __repr__(self) -> str:
        return f"OverdueRows({list(self)!r})"


def _overdue_candidates(bound: str, scope: str | None) -> Executable:
    """The loans that are out with a return or an inventory due before `bound` (stored text),
    by number, as (number, institution, pi_email, return due text, inventory due text)."""
    # the stored text, not parsed by SQLAlchemy (the caller parses only what it keeps)
    return_text = type_coerce(col(Loan.due_at), String)
    inventory_text = type_coerce(col(Loan.next_inventory_due_at), String)
    query = sa_select(
        col(Loan.number),
        col(Loan.institution),
        col(Loan.pi_email),
        return_text,
        inventory_text,
        # when its last return shipment left, for a loan whose every part left is on its way
        # back (NULL for the others): sent by their due time, its return and its inventory are
        # no longer owed
        type_coerce(sent_back_column(), String),
    ).where(
        # the rule's loans that are out: `rule.is_out` is membership of this same set
        col(Loan.status).in_(rule.OUT_STATUSES),
        or_(return_text < bound, inventory_text < bound),
    )
    if scope is not None:
        query = query.where(col(Loan.institution) == scope)
    return query.order_by(byte_order(col(Loan.number)))


def loan_status(
    session: Session, ctx: Context, *, loan: str | None = None, institution: str | None = None
) -> list[LoanStanding]:
    """Each loan of an institution (or one loan) with its items, dates and open obligations."""
    person = access.reader(session, ctx)
    if loan:
        record = access.readable_loan(session, person, loan)
        # an unknown --institution is named as one, as every command names it
        short = _scope_institution(session, person, institution) if institution else None
        if short and short != record.institution:
            raise InvalidInput(f"loan {loan} belongs to {record.institution}, not {short}")
        loans = [record]
    else:
        if person.role != Role.RESEARCHER and not institution:
            raise InvalidInput(
                f"{person.email} is not a researcher: give --loan NUMBER or --institution SHORT"
            )
        scope = _scope_institution(session, person, institution)
        assert scope is not None  # staff named one above; researchers default to their own
        loans = list(
            session.exec(
                select(Loan).where(Loan.institution == scope).order_by(byte_order(Loan.number))
            ).all()
        )
    return [_standing(session, ctx.now, record) for record in loans]


return_due = rule.return_due
"""Days left and whether overdue: the one rule (`ledger/overdue.py`), named here for views."""


def _late(due: datetime, now: datetime) -> str:
    """How late, in words: 'since today' or 'by 3 days'."""
    days = days_between(due, now)
    return "since today" if days == 0 else f"by {counted(days, 'day')}"


def _standing(session: Session, now: datetime, loan: Loan) -> LoanStanding:
    """One loan's standing at `now`."""
    items = session.exec(
        select(LoanItem)
        .where(LoanItem.loan_number == loan.number)
        .order_by(byte_order(LoanItem.sample_code))
    ).all()
    agreement = session.get(Agreement, loan.agreement)
    sent_back = sent_back_at(session, [loan]).get(loan.number)
    days_left, overdue = rule.return_due(loan.status, loan.due_at, now, sent_back)
    inventory_due = rule.inventory_due(loan.status, loan.next_inventory_due_at, sent_back)
    inventory_left = days_between(now, inventory_due) if inventory_due else None
    inventory_overdue = rule.inventory_overdue(loan.status, inventory_due, now, sent_back)
    obligations = []
    if days_left is not None and loan.due_at is not None:
        if overdue:
            obligations.append(f"return overdue {_late(loan.due_at, now)}")
        else:
            # the statement's words: 'due today' on the due day, not 'due in 0 days'
            days = days_left or 0
            obligations.append(
                "return due today" if days == 0 else f"return due in {counted(days, 'day')}"
            )
    if inventory_due is not None and inventory_overdue:
        obligations.append(f"inventory overdue {_late(inventory_due, now)}")
    held_ug = sum(i.held_ug for i in items)
    obligations += _other_obligations(session, loan, held_ug=held_ug)
    frozen = frozen_on_loan(session, loan.number, [i.sample_code for i in items])
    return LoanStanding(
        number=loan.number,
        institution=loan.institution,
        pi_email=loan.pi_email,
        status=loan.status,
        items=tuple(_item_standing(i, i.sample_code in frozen) for i in items),
        held_ug=held_ug,
        returning_ug=sum(i.held_ug for i in items if i.state == ItemState.RETURN_IN_TRANSIT),
        due_at=loan.due_at,
        loan_period=loan.loan_period,
        days_left=days_left,
        overdue=overdue,
        sent_back_in_time=rule.sent_back_in_time(loan.status, loan.due_at, sent_back),
        recalled_at=loan.recalled_at,
        extensions_granted=loan.extensions_granted,
        max_extensions=agreement.max_extensions if agreement is not None else 0,
        next_inventory_due_at=inventory_due,
        inventory_days_left=inventory_left,
        inventory_overdue=inventory_overdue,
        obligations=tuple(obligations),
        returned_at=returned_at(session, loan.number),
        settled_at=loan.settled_at,
        closed_at=loan.closed_at,
        withdrawn_reason=withdrawn_reason(session, loan),
        agreement_ended=("" if agreement is None else loan_agreement_ended(loan, agreement, now)),
    )


def _item_standing(item: LoanItem, frozen: bool) -> ItemStanding:
    """One item of `status`: its state and masses as every view reads them."""
    masses = item_masses(item)
    return ItemStanding(
        sample_code=item.sample_code,
        state=item.state,
        frozen=frozen,
        source=item_source(item),
        **{name: getattr(masses, name) for name in _MASS_NAMES},
    )


def _other_obligations(session: Session, loan: Loan, *, held_ug: int) -> list[str]:
    """The loan's open incidents, then what its status still asks for (e.g. a settlement);
    `held_ug`: what its borrower still holds, travelling back included."""
    # this loan's incidents: one on a sample since returned and lent elsewhere is not its own
    owed = [
        f"open incident {incident.seq}"
        for incident in session.exec(
            select(Incident)
            .where(Incident.loan_number == loan.number, Incident.status == IncidentStatus.OPEN)
            .order_by(col(Incident.seq))
        ).all()
    ]
    follow_up = FOLLOW_UP.get(loan.status)
    if nothing_left_to_send_back(loan.status, held_ug):
        # everything consumed, split, transferred or lost: no mass to send back, but the loan
        # is still out until it is settled, and the PI owes what a returned loan owes
        follow_up = f"{NOTHING_LEFT}; settlement report: {SETTLEMENT_REPORT}"
    if follow_up:
        owed.append(follow_up)
    return owed
