"""Read models of loans and incidents: contents, order, and who may read them."""

import dataclasses
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

import pytest
from sqlalchemy import Engine

from sampleloans import db
from sampleloans.errors import InvalidInput, NotFound, PermissionDenied
from sampleloans.services import incidents, loan_views, loans
from tests.conftest import COMPLIANCE, CURATOR, NOW, OU_PI, UOC_PI, Run, T, ctx_for
from tests.factories import issued_loan, received_loan, signed_agreement

S1 = "CE5C0200YJFM00112"
S2 = "CE5C0300YJFM00307"
S3 = "CE5C0500YJFM00415"


class Read(Protocol):
    """The `read` fixture: call a read service in a read-only transaction; what it returns."""

    def __call__(
        self,
        fn: Callable[..., T],
        /,
        *args: object,
        actor: str = ...,
        now: datetime = ...,
        **kw: object,
    ) -> T: ...


@pytest.fixture
def read(engine: Engine) -> Read:
    """Call a read service: read(fn, actor=…, now=…, **kwargs)."""

    def call(
        fn: Callable[..., T],
        /,
        *args: object,
        actor: str = CURATOR,
        now: datetime = NOW,
        **kw: object,
    ) -> T:
        with db.transaction(engine, write=False) as session:
            return fn(session, ctx_for(actor, now), *args, **kw)

    return call


@pytest.fixture
def two_loans(run: Run) -> None:
    """L-1 (OU, received, two samples) and L-2 (UoC, requested)."""
    signed_agreement(run)
    signed_agreement(run, "UoC")
    received_loan(run, samples=(S2, S1))
    run(loans.request_loan, number="L-2", agreement="AG-UoC", pi=UOC_PI, samples=[S3])


def test_loan_detail_contents(run: Run, read: Read, two_loans: None) -> None:
    run(loans.consume, number="L-1", sample=S1, technique="SIMS", mass_ug=2000, destructive=True)
    run(loans.extend_loan, number="L-1", period="P6M", approver=CURATOR, reason="downtime")
    detail = read(loan_views.loan_detail, "L-1", now=NOW + timedelta(days=10))
    assert detail.institution == "OU" and detail.pi == OU_PI and detail.status == "received"
    assert [i.sample for i in detail.items] == [S1, S2]  # sorted by code
    assert detail.items[0].held_ug == 18000 and detail.items[0].consumed_ug == 2000
    assert detail.days_left == 365 + 183 - 10 and detail.overdue is False
    assert detail.extensions_granted == 1 and detail.extensions_allowed == 2
    assert [s.direction for s in detail.shipments] == ["outbound"]
    assert detail.shipments[0].seal_intact is True
    assert [(c.sample, c.mass_ug) for c in detail.consumptions] == [(S1, 2000)]
    assert [e.reason for e in detail.extensions] == ["downtime"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        detail.status = "closed"  # type: ignore[misc]  # frozen: assigning must fail


def test_loan_detail_overdue(read: Read, two_loans: None) -> None:
    detail = read(loan_views.loan_detail, "L-1", now=NOW + timedelta(days=400))
    assert detail.overdue is True and detail.days_left == -35


def test_requested_loan_has_no_due_date(read: Read, two_loans: None) -> None:
    detail = read(loan_views.loan_detail, "L-2")
    assert detail.due_at is None and detail.days_left is None and detail.overdue is False
    assert detail.items[0].state == "requested"


def test_loan_detail_access(read: Read, two_loans: None) -> None:
    assert read(loan_views.loan_detail, "L-1", actor=OU_PI).number == "L-1"
    assert read(loan_views.loan_detail, "L-1", actor=COMPLIANCE).number == "L-1"
    with pytest.raises(NotFound, match=r"^loan 'L-1': no such loan among the records you may read"):
        read(loan_views.loan_detail, "L-1", actor=UOC_PI)
    with pytest.raises(PermissionDenied, match="is not a registered person"):
        read(loan_views.loan_detail, "L-1", actor="nobody@example.org")
    with pytest.raises(NotFound, match="loan 'L-9': no such loan"):
        read(loan_views.loan_detail, "L-9")


def test_list_loans_sorted_and_filtered(read: Read, two_loans: None) -> None:
    rows = read(loan_views.list_loans)
    assert [(r.number, r.status, r.samples) for r in rows] == [
        ("L-1", "received", 2),
        ("L-2", "requested", 1),
    ]
    assert rows[0].issued_ug == 40000 and rows[0].held_ug == 40000
    assert [r.number for r in read(loan_views.list_loans, status="requested")] == ["L-2"]
    assert [r.number for r in read(loan_views.list_loans, institution="OU")] == ["L-1"]
    with pytest.raises(InvalidInput, match="status: 'lost' is not one of requested"):
        read(loan_views.list_loans, status="lost")
    with pytest.raises(NotFound, match="institution 'XX': no such institution"):
        read(loan_views.list_loans, institution="XX")


def test_list_loans_for_researchers(read: Read, two_loans: None) -> None:
    assert [r.number for r in read(loan_views.list_loans, actor=OU_PI)] == ["L-1"]
    assert [r.number for r in read(loan_views.list_loans, actor=UOC_PI)] == ["L-2"]
    with pytest.raises(
        NotFound, match=r"^institution 'OU': no such institution among the records you"
    ):
        read(loan_views.list_loans, actor=UOC_PI, institution="OU")


def test_split_children_count_once_in_issued_mass(run: Run, read: Read) -> None:
    signed_agreement(run)
    received_loan(run)
    run(loans.borrower_split, number="L-1", parent=S1, child="-G1", mass_ug=1000)
    (row,) = read(loan_views.list_loans)
    assert row.samples == 2 and row.issued_ug == 20000 and row.held_ug == 20000


def test_list_incidents(run: Run, read: Read) -> None:
    signed_agreement(run)
    issued_loan(run)
    on_loan = run(
        incidents.report_incident, sample=S1, incident_kind="damage", description="cracked vial"
    )
    in_vault = run(
        incidents.report_incident,
        sample=S3,
        incident_kind="loss",
        description="mislaid",
        mass_lost_ug=5,
    )
    run(incidents.resolve_incident, incident_seq=in_vault.seq, resolution="found")
    rows = read(loan_views.list_incidents)
    assert [(r.seq, r.sample, r.loan, r.institution, r.status) for r in rows] == [
        (on_loan.seq, S1, "L-1", "OU", "open"),
        (in_vault.seq, S3, None, None, "resolved"),
    ]
    assert rows[1].mass_lost_ug == 5 and rows[1].resolution == "found"
    assert [r.seq for r in read(loan_views.list_incidents, open_only=True)] == [on_loan.seq]
    assert [r.seq for r in read(loan_views.list_incidents, actor=OU_PI)] == [on_loan.seq]
    assert read(loan_views.list_incidents, actor=UOC_PI) == []
