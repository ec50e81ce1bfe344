"""The inventory statement's read model: what a loan's PI holds, sample by sample."""

from datetime import datetime

from sqlmodel import Session, select

from sampleloans.models import (
    LoanItem,
    byte_order,
)
from sampleloans.readmodels.report import (
    InventoryBody,
    ReportRequest,
)
from sampleloans.services.common import get_loan
from sampleloans.services.queries import loan_ended
from sampleloans.services.reporting.parts import (
    item_rows,
    loan_parties,
    overdue_inventories,
    overdue_returns,
    printed_inventory_due,
    recalls_of,
)


def build(session: Session, request: ReportRequest, now: datetime) -> tuple[InventoryBody, str]:
    """The inventory statement's body and scope label for one loan."""
    loan = get_loan(session, request.loan or "")
    items = list(
        session.exec(
            select(LoanItem)
            .where(LoanItem.loan_number == loan.number)
            .order_by(byte_order(LoanItem.sample_code))
        )
    )
    rows = item_rows(session, items)
    body = InventoryBody(
        loan=loan.number,
        status=loan.status,
        overdue=overdue_returns(session, [loan], now),
        parties=tuple(loan_parties(session, loan)),
        due_at=loan.due_at,
        last_inventory_at=loan.last_inventory_at,
        next_inventory_due_at=printed_inventory_due(session, loan),
        items=tuple(rows),
        held_ug=sum(i.held_ug for i in items),
        recalls=recalls_of(session, [loan.number]),
        inventory_overdue=overdue_inventories(session, [loan], now),
        ended=loan_ended(session, loan),
        loan_period=loan.loan_period,
    )
    return body, f"loan {loan.number}"
