"""Planted bugs: each deliberate defect must make the T1 state machine fail.

A check that never fails proves nothing; these tests plant the three defects docs/reliability.md
names (a skipped mass decrement, a double loan, a write without its event) and expect the
state machine to raise, and each asserts which check caught it. The runs are focused: every
example starts with a loan the borrower holds (so consumption, borrower splits, losses on loan
and requests for samples already out are possible from the first step), a few examples are
enough, and shrinking is switched off so that each run stops at the first failure.
"""

from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from sampleloans.ledger import apply as apply_module
from sampleloans.ledger import store
from sampleloans.ledger.unit import unit_for
from sampleloans.models import LoanItem, Sample
from sampleloans.services import loans
from sampleloans.services import samples as samples_service
from tests.test_state_machine import LifecycleMachine, run_machine

pytestmark = pytest.mark.planted_bug
EXAMPLES, STEPS = 25, 30


class FocusedMachine(LifecycleMachine):
    """The T1 machine, starting every example with a received loan under agreement AG-1."""

    START_WITH_RECEIVED_LOAN = True


def expect_caught(*errors: type[BaseException]) -> str:
    """Run the state machine and return the message of the failure it must report."""
    with pytest.raises((AssertionError, BaseExceptionGroup, *errors)) as caught:
        run_machine(FocusedMachine, EXAMPLES, STEPS, shrink=False)
    message = str(caught.value)
    print(f"caught: {type(caught.value).__name__}: {message[:300]}")
    return message


def test_skipped_mass_decrement_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """(a) consumption, borrower splits and losses on loan no longer leave the borrower's hands."""

    def lazy_use_up(sample: Sample, item: LoanItem, mass_ug: int, column: str) -> None:
        setattr(item, f"{column}_ug", getattr(item, f"{column}_ug") + mass_ug)

    monkeypatch.setattr(apply_module, "_use_up", lazy_use_up)
    message = expect_caught()
    # store.append's own checks refuse the unbalanced write, which the model did not expect.
    assert "model expected success" in message
    assert "issued" in message and "held" in message  # the loan_item_balance violation


def test_double_loan_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """(b) `_lendable` lets samples already on loan (or frozen, or never-lent) through."""
    monkeypatch.setattr(loans, "_lendable", lambda session, sample, at=None: None)
    message = expect_caught()
    # A request (or an issue) for a sample on loan, frozen or never lent went through.
    assert "model expected a refusal" in message
    assert "request_loan(" in message or "issue_loan(" in message


def test_write_without_event_row_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """(c1) an append that applies the projection but stores no LedgerEvent row."""

    def silent_append(session: Any, ctx: store.Context, event: Any, **kw: Any) -> Any:
        seq, _ = store.head(session)
        envelope = store.Envelope(
            seq=seq + 1,
            kind=event.kind,
            occurred_at=kw.get("occurred_at") or ctx.now,
            recorded_at=ctx.now,
            actor=ctx.actor,
            os_user=ctx.os_user,
            corrects_seq=kw.get("corrects_seq"),
            reason=kw.get("reason"),
        )
        unit = unit_for(session)
        apply_module.apply(unit, envelope, event)
        unit.flush()
        return envelope

    for module in (samples_service, loans):
        monkeypatch.setattr(module, "append", silent_append)
    message = expect_caught(IntegrityError)
    # Either the schema's foreign keys refuse the orphaned projection rows, or the machine's
    # event-count check sees a success with no new event.
    assert "FOREIGN KEY" in message or "new event(s), expected 1" in message


def test_projection_changed_without_event_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """(c2) a service that edits a projection directly instead of appending an event."""

    def move_directly(session: Any, ctx: store.Context, *, code: str, **kw: Any) -> None:
        sample = session.get(Sample, code)
        if sample is None or sample.custody_state != "vault":
            from sampleloans.errors import Conflict

            raise Conflict(f"sample {code} is not in the vault")
        sample.storage_location = kw["storage_location"]
        session.add(sample)

    monkeypatch.setattr(samples_service, "move_sample", move_directly)
    message = expect_caught()
    # Either a move succeeded without its event, or a back- or forward-dated move (which the
    # real service refuses) went through because the direct edit skips the time checks.
    assert "0 new event(s), expected 1" in message or (
        "move_directly" in message and "model expected a refusal" in message
    )
