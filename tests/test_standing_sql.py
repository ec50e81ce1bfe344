"""The collection-wide `overdue` and `balance` run as SQL over the projections; they must agree
with a plain Python computation over every row, on a ledger with loans in many states."""

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from sampleloans import db
from sampleloans.dates import days_between
from sampleloans.models import Loan, LoanItem, Sample, Shipment
from sampleloans.services import loan_views, loans, standing, transfers
from sampleloans.services.queries import ACTIVE_LOAN_STATUSES
from tests.conftest import BROWN_PI, COMPLIANCE, CURATOR, NOW, OU_PI, UOC_PI, Run, T, ctx_for
from tests.factories import received_loan, rich_history, signed_agreement

RECALL_DUE = NOW + timedelta(days=20, microseconds=500_000)  # a due time with a fraction


@pytest.fixture
def varied(run: Run) -> None:
    """Loans closed, received, extended, recalled, issued, in transit, returning and requested."""
    rich_history(run)  # a split lineage; L-1 (OU) closed with a borrower split; L-2 (UoC) out
    signed_agreement(run, "Brown", inventory_interval="P3M")
    run(loans.extend_loan, number="L-2", period="P3M", approver=CURATOR, reason="beam time")
    # L-4 (Brown): received, inventory every three months, now on its way back
    received_loan(
        run, number="L-4", agreement="AG-Brown", pi=BROWN_PI, samples=("CE5C0000YJYX052",)
    )
    run(loans.release_return, number="L-4", container="N2 box", seal_number="S-4")
    # L-5 (OU): shipped, not yet received
    run(loans.request_loan, number="L-5", agreement="AG-OU", pi=OU_PI, samples=["CE5C0000YJYX061"])
    run(loans.approve_loan, number="L-5")
    run(loans.issue_loan, number="L-5")
    run(loans.ship_loan, number="L-5", container="N2 box", seal_number="S-5")
    # a gift: the real 1.5 g sample given for good (the balance's "transferred" term)
    run(transfers.transfer_samples, codes=["CE5C0400YJFM00507"], recipient="MNHN", reference="gift")
    # L-6 (UoC): requested only
    run(
        loans.request_loan,
        number="L-6",
        agreement="AG-UoC",
        pi=UOC_PI,
        samples=["CE5Z0200YJFM00103"],
    )
    # L-3 (OU): issued a quarter second past NOW, then recalled to a due time with a fraction
    # (last: the recording clock never goes back, and these are the latest moments)
    run(
        loans.request_loan,
        number="L-3",
        agreement="AG-OU",
        pi=OU_PI,
        samples=["CE5C0500YJFM00415"],
        loan_period="P6M",
    )
    run(loans.approve_loan, number="L-3")
    run(loans.issue_loan, number="L-3", now=NOW + timedelta(milliseconds=250))
    run(
        loans.recall_loan,
        number="L-3",
        due_at=RECALL_DUE,
        reason="the beamline closes",
        now=NOW + timedelta(days=1),
    )


def _read(engine: Engine, fn: Callable[..., T], actor: str, now: datetime, **kw: object) -> T:
    """Call a read service in a read transaction."""
    with db.transaction(engine, write=False) as session:
        return fn(session, ctx_for(actor, now), **kw)


def _expected_overdue(
    session: Session, now: datetime, institution: str | None
) -> list[tuple[str, str, str, str, datetime, int]]:
    """Overdue rows the plain way: every loan read whole, filtered and sorted in Python."""
    rows = []
    for loan in session.exec(select(Loan)).all():
        if loan.status not in ACTIVE_LOAN_STATUSES:
            continue
        if institution is not None and loan.institution != institution:
            continue
        for what, due in (("return", loan.due_at), ("inventory", loan.next_inventory_due_at)):
            if _sent_in_time(session, loan, due):
                continue  # all of it on its way back, sent by the due time: nothing owed
            if due is not None and due < now:
                late = days_between(due, now)
                rows.append((loan.number, loan.institution, loan.pi_email, what, due, late))
    return sorted(rows, key=lambda r: (-r[5], r[0], r[3]))


def _sent_in_time(session: Session, loan: Loan, due: datetime | None) -> bool:
    """Whether everything left of `loan` is on its way back, its last return shipment having
    left by `due` (a return's or an inventory's; read plainly, every shipment of the loan)."""
    if loan.status != "return_in_transit" or due is None:
        return False
    shipments = session.exec(select(Shipment).where(Shipment.loan_number == loan.number)).all()
    sent = [s.shipped_at for s in shipments if s.direction == "return"]
    return bool(sent) and max(sent) <= due


def _sent_back(engine: Engine, number: str) -> datetime | None:
    """When the last return shipment of a loan wholly on its way back left (else None)."""
    with db.transaction(engine, write=False) as session:
        loan = session.get(Loan, number)
        assert loan is not None
        if loan.status != "return_in_transit":
            return None
        shipments = session.exec(select(Shipment).where(Shipment.loan_number == number)).all()
        return max(s.shipped_at for s in shipments if s.direction == "return")


MOMENTS = (
    NOW,
    NOW + timedelta(days=1),
    RECALL_DUE - timedelta(milliseconds=300),  # the recall's due second, before its fraction
    RECALL_DUE + timedelta(milliseconds=200),  # the same second, after it: overdue since today
    NOW + timedelta(days=95),  # past L-4's first quarterly inventory
    datetime(2026, 4, 1, 9, 0, tzinfo=UTC),  # exactly when L-5 is due: not yet overdue
    datetime(2026, 4, 1, 9, 0, 0, 1, tzinfo=UTC),  # one microsecond later: overdue
    NOW + timedelta(days=900),
)
READERS = (
    (CURATOR, None, None),
    (COMPLIANCE, "OU", "OU"),
    (COMPLIANCE, "Brown", "Brown"),
    (CURATOR, "SBU", "SBU"),  # no loans at all
    (OU_PI, None, "OU"),  # researchers see their own institution only
    (UOC_PI, None, "UoC"),
    (BROWN_PI, None, "Brown"),
)


@pytest.mark.parametrize("now", MOMENTS, ids=lambda m: m.isoformat())
def test_overdue_agrees_with_python_over_every_loan(
    engine: Engine, varied: None, now: datetime
) -> None:
    for actor, institution, scope in READERS:
        got = _read(engine, standing.overdue, actor, now, institution=institution)
        with db.transaction(engine, write=False) as session:
            expected = _expected_overdue(session, now, scope)
        assert [tuple(r) for r in got] == expected, (actor, institution)


def test_the_moments_cover_the_cases(engine: Engine, varied: None) -> None:
    """The comparison above is not vacuous: returns and inventories, late and not, sub-second."""
    with db.transaction(engine, write=False) as session:
        statuses = {loan.status for loan in session.exec(select(Loan)).all()}
    assert {"closed", "received", "issued", "in_transit", "return_in_transit", "requested"} <= (
        statuses
    )

    def late(now: datetime) -> set[tuple[str, str, int]]:
        rows = _read(engine, standing.overdue, CURATOR, now)
        return {(r.loan_number, r.what, r.days_late) for r in rows}

    assert ("L-3", "return", 0) not in late(MOMENTS[2])
    assert ("L-3", "return", 0) in late(MOMENTS[3])
    # L-4 went back whole before its first quarterly inventory fell due: none is owed (the
    # inventory follows the return's sent-back rule, `ledger/overdue.inventory_due`)
    assert ("L-4", "inventory", 4) not in late(MOMENTS[4])
    assert ("L-5", "return", 0) not in late(MOMENTS[5])
    assert ("L-5", "return", 0) in late(MOMENTS[6])
    far = late(MOMENTS[7])
    # active loans only; L-4, sent back whole in time, owes neither its return nor an inventory
    assert {n for n, _, _ in far} == {"L-2", "L-3", "L-5"}
    assert {w for _, w, _ in far} == {"return", "inventory"}


def _expected_balance(session: Session) -> tuple[tuple[object, ...], tuple[object, ...]]:
    """The collection totals the plain way: every item and sample read whole, summed in Python."""
    items = session.exec(select(LoanItem)).all()
    moved = sum(i.issued_ug for i in items if i.source == "borrower_split")
    item_total = (
        "all loan items",
        "",
        "",
        sum(i.issued_ug for i in items) - moved,
        sum(i.held_ug for i in items),
        sum(i.consumed_ug for i in items),
        sum(i.returned_ug for i in items),
        sum(i.transferred_ug for i in items),
        sum(i.split_ug for i in items),  # the rows' sum: the split is also "from split"
        sum(i.lost_ug for i in items),
        moved,  # from split (readmodels/items.py)
        False,  # frozen: a total is no sample
    )
    samples = session.exec(select(Sample)).all()
    codes = {s.code for s in samples}
    inner = sum(s.initial_mass_ug for s in samples if s.parent_code in codes)
    sample_total = (
        "all samples",
        None,
        "",
        sum(s.initial_mass_ug for s in samples) - inner,
        sum(s.vault_ug for s in samples),
        sum(s.on_loan_ug for s in samples),
        sum(s.split_ug for s in samples) - inner,
        sum(s.consumed_ug for s in samples),
        sum(s.lost_ug for s in samples),
        sum(s.transferred_ug for s in samples),
    )
    return item_total, sample_total


def test_collection_balance_agrees_with_python_over_every_row(engine: Engine, varied: None) -> None:
    balance = _read(engine, standing.mass_balance, COMPLIANCE, NOW)
    assert (balance.scope, balance.subject, balance.items, balance.samples) == (
        "collection",
        None,
        (),
        (),
    )
    with db.transaction(engine, write=False) as session:
        item_total, sample_total = _expected_balance(session)
        borrower_splits = session.exec(
            select(LoanItem).where(LoanItem.source == "borrower_split")
        ).all()
        children = session.exec(select(Sample).where(col(Sample.parent_code).is_not(None))).all()
    assert borrower_splits and children  # both nettings are exercised
    assert balance.item_total is not None and balance.sample_total is not None
    assert dataclasses.astuple(balance.item_total) == item_total
    assert dataclasses.astuple(balance.sample_total) == sample_total
    assert balance.item_total.balanced and balance.sample_total.balanced
    assert balance.sample_total.lost_ug > 0 and balance.item_total.consumed_ug > 0


def test_collection_balance_of_a_ledger_without_loans(engine: Engine) -> None:
    balance = _read(engine, standing.mass_balance, CURATOR, NOW)
    with db.transaction(engine, write=False) as session:
        item_total, sample_total = _expected_balance(session)
    assert balance.item_total is not None and balance.sample_total is not None
    assert (
        dataclasses.astuple(balance.item_total)
        == item_total
        == ("all loan items", "", "") + (0,) * 8 + (False,)
    )
    assert dataclasses.astuple(balance.sample_total) == sample_total


@pytest.mark.parametrize("now", MOMENTS, ids=lambda m: m.isoformat())
def test_one_days_left_rule_for_status_and_loan_lists(
    engine: Engine, varied: None, now: datetime
) -> None:
    rows = _read(engine, loan_views.list_loans, CURATOR, now)
    assert len(rows) == 6
    for row in rows:
        (standing_row,) = _read(engine, standing.loan_status, CURATOR, now, loan=row.number)
        detail = _read(engine, loan_views.loan_detail, CURATOR, now, number=row.number)
        expected = standing.return_due(row.status, row.due_at, now, _sent_back(engine, row.number))
        assert (row.days_left, row.overdue) == expected
        assert (detail.days_left, detail.overdue) == expected
        assert (standing_row.days_left, standing_row.overdue) == expected
