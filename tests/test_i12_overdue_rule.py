"""Issue 12 §7: one "overdue" rule, and every place that says overdue agrees on the boundary.

The places: `status` (standing.loan_status), `overdue` (standing.overdue), `loans show` and
`loans list` (loan_views), the return report and the overdue notice (reporting), the summary
the demo prints (queries.collection_summary) and the refusal to issue to a late borrower
(loans.borrower_blockers, and `issue_loan` itself).
"""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.dates import to_iso
from sampleloans.errors import RuleViolation
from sampleloans.ledger import overdue as rule
from sampleloans.models import Loan
from sampleloans.readmodels.report import OverdueBody, ReturnBody
from sampleloans.services import loan_views, loans, queries, reporting, standing
from tests.conftest import COMPLIANCE, NOW, Run, ctx_for
from tests.factories import approved_loan, issued_loan, received_loan, signed_agreement

MICRO = timedelta(microseconds=1)


def _due_at(engine: Engine, number: str = "L-1") -> datetime:
    with db.transaction(engine, write=False) as session:
        loan = session.get(Loan, number)
        assert loan is not None and loan.due_at is not None
        return loan.due_at


def verdicts(engine: Engine, at: datetime, number: str = "L-1") -> dict[str, bool]:
    """What each place says about the return of loan `number` at `at`."""
    ctx = ctx_for(COMPLIANCE, at)
    with db.transaction(engine, write=False) as session:
        loan = session.get(Loan, number)
        assert loan is not None
        notice = reporting.build_report(
            session, ctx, reporting.make_request("overdue", institution="OU"), generated_at=at
        )
        returns = reporting.build_report(
            session, ctx, reporting.make_request("return", loan=number), generated_at=at
        )
        summary = {row.institution: row.status for row in queries.collection_summary(session, at)}
        assert isinstance(notice.body, OverdueBody) and isinstance(returns.body, ReturnBody)
        return {
            "rule": rule.return_overdue(
                loan.status, loan.due_at, at, queries.sent_back_at(session, [loan]).get(number)
            ),
            "status": standing.loan_status(session, ctx, loan=number)[0].overdue,
            "overdue": any(
                r.loan_number == number and r.what == "return"
                for r in standing.overdue(session, ctx)
            ),
            "loans show": loan_views.loan_detail(session, ctx, number).overdue,
            "loans list": next(
                r.overdue for r in loan_views.list_loans(session, ctx) if r.number == number
            ),
            "return report": any(late.loan == number for late in returns.body.overdue),
            "overdue notice": any(
                line.loan == number and line.what == "return" for line in notice.body.lines
            ),
            "summary": "overdue" in summary.get("OU", ""),
            "issue refusal": any(
                f"loan {number} was due" in b for b in loans.borrower_blockers(session, "OU", at)
            ),
        }


def assert_all(engine: Engine, at: datetime, expected: bool, number: str = "L-1") -> None:
    """Every place gives the expected verdict at `at`."""
    found = verdicts(engine, at, number)
    assert found == dict.fromkeys(found, expected), f"at {to_iso(at)}: {found}"


@pytest.fixture
def issued(run: Run, engine: Engine) -> Engine:
    """OU's loan L-1 issued at NOW (period one year); inventories every two years."""
    signed_agreement(run, inventory_interval="P2Y")
    issued_loan(run)
    return engine


def test_rule_at_the_boundary_instants() -> None:
    due = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
    assert not rule.GRACE  # no grace: late from the first instant after the due time
    assert not rule.return_overdue("received", due, due, None)  # due exactly now: not yet late
    assert rule.return_overdue("received", due, due + MICRO, None)
    # on its way back: sent by the due time meets it (a loan agreement's "returned by")
    assert not rule.return_overdue("return_in_transit", due, due + MICRO, due)
    assert rule.return_overdue("return_in_transit", due, due + MICRO, due + MICRO)  # sent late
    assert not rule.return_overdue("returned", due, due + timedelta(days=9), None)  # back
    assert not rule.return_overdue("approved", due, due + timedelta(days=9), None)  # not out
    assert not rule.return_overdue("received", None, due, None)
    assert rule.return_due("received", due, due + MICRO, None) == (0, True)
    assert rule.return_due("received", due, due - timedelta(days=3), None) == (3, False)
    assert rule.return_due("return_in_transit", due, due + MICRO, due) == (None, False)
    assert rule.days_late(due, due + timedelta(hours=15)) == 1  # a calendar day, in UTC


def test_every_place_agrees_on_an_issued_loan(issued: Engine) -> None:
    due = _due_at(issued)
    assert due == NOW.replace(year=2026)
    assert_all(issued, due - MICRO, False)
    assert_all(issued, due, False)  # due at exactly now is not overdue anywhere
    assert_all(issued, due + MICRO, True)
    assert_all(issued, due + timedelta(days=40), True)


def test_every_place_agrees_after_an_extension(run: Run, issued: Engine) -> None:
    old_due = _due_at(issued)
    run(
        loans.extend_loan,
        number="L-1",
        period="P6M",
        approver="curator@naoc.example",
        reason="instrument downtime",
    )
    new_due = _due_at(issued)
    assert new_due > old_due
    assert_all(issued, old_due + MICRO, False)  # the old due date no longer counts
    assert_all(issued, new_due, False)
    assert_all(issued, new_due + MICRO, True)


def test_a_return_sent_before_its_due_time_is_overdue_nowhere(run: Run, engine: Engine) -> None:
    """ "Returned by the due date" is sent by it (`ledger/overdue.py`): on its way back after
    the due time, the loan is still out but owes no return."""
    signed_agreement(run, inventory_interval="P2Y")
    received_loan(run)
    run(loans.release_return, number="L-1", container="N2 box", seal_number="S-2")
    with db.transaction(engine, write=False) as session:
        loan = session.get(Loan, "L-1")
        assert loan is not None
        assert loan.status == "return_in_transit"
    due = _due_at(engine)
    assert_all(engine, due, False)
    assert_all(engine, due + MICRO, False)
    assert_all(engine, due + timedelta(days=40), False)


def test_issue_is_refused_exactly_when_the_rule_says_overdue(run: Run, issued: Engine) -> None:
    due = _due_at(issued)
    approved_loan(run, number="L-2", samples=("CE5C0300YJFM00307",))
    with pytest.raises(RuleViolation, match="loan L-1 was due"):
        run(loans.issue_loan, number="L-2", now=due + MICRO)
    run(loans.issue_loan, number="L-2", now=due)  # at the due instant L-1 is not late yet


def test_cli_overdue_and_status_agree_at_the_boundary(
    issued: Engine, runner: CliRunner, cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    due = _due_at(issued)
    for at, late in ((due, False), (due + timedelta(seconds=1), True)):
        monkeypatch.setenv("SAMPLELOANS_NOW", to_iso(at))
        listed = runner.invoke(app, ["--as", COMPLIANCE, "overdue", "--json"])
        assert listed.exit_code == 0, listed.output
        assert ('"L-1"' in listed.stdout) is late
        status = runner.invoke(app, ["--as", COMPLIANCE, "status", "--loan", "L-1", "--json"])
        assert status.exit_code == 0, status.output
        assert f'"overdue": {"true" if late else "false"}' in status.stdout, status.stdout
