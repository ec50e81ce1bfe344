"""Read services behind custody history, balance, overdue and status."""

from datetime import timedelta

import pytest

from sampleloans.errors import InvalidInput, NotFound, PermissionDenied
from sampleloans.services import incidents, loans, samples
from sampleloans.services.history import record_history
from sampleloans.services.standing import loan_status, mass_balance, overdue
from sampleloans.units import parse_mass_ug as mass
from tests.conftest import COMPLIANCE, CURATOR, NOW, OU_PI, UOC_PI, Run
from tests.factories import LATER, received_loan, signed_agreement

PARENT = "CE5C0100YJFM00201"
CHILD = f"{PARENT}-01"


@pytest.fixture
def lineage_loan(run: Run) -> str:
    """The 1 g soil split into -01 (100 mg) and -02 (50 mg), -01 lent to OU, part consumed."""
    run(
        samples.split_sample,
        parent=PARENT,
        children=[("-01", mass("100 mg")), ("-02", mass("50 mg"))],
        loss_ug=mass("1 mg"),
    )
    signed_agreement(run)
    received_loan(run, samples=(CHILD,))
    run(
        loans.consume,
        now=LATER,
        number="L-1",
        sample=CHILD,
        technique="SIMS",
        mass_ug=mass("2.5 mg"),
        destructive=True,
    )
    run(
        loans.borrower_split,
        now=LATER + timedelta(days=1),
        number="L-1",
        parent=CHILD,
        child=f"{CHILD}-G1",
        mass_ug=mass("10 mg"),
    )
    return "L-1"


def test_sample_history_covers_the_whole_lineage(run: Run, lineage_loan: str) -> None:
    history = run(record_history, actor=COMPLIANCE, now=LATER + timedelta(days=2), sample=CHILD)
    assert history.codes == (PARENT, CHILD, f"{CHILD}-G1", f"{PARENT}-02")
    kinds = [e.kind for e in history.entries]
    assert kinds[0] == "sample.registered"
    assert "sample.split" in kinds and "loan.shipped" in kinds and "loan.split" in kinds
    assert [e.seq for e in history.entries] == sorted(e.seq for e in history.entries)
    shipped = next(e for e in history.entries if e.kind == "loan.shipped")
    assert "NAOC → OU" in shipped.description and "seal S-1" in shipped.description
    consumed = next(e for e in history.entries if e.kind == "loan.consumed")
    assert consumed.description.startswith("2.500 mg of CE5C0100YJFM00201-01 consumed")


def test_history_marks_corrections(run: Run, lineage_loan: str) -> None:
    later = LATER + timedelta(days=2)
    history = run(record_history, actor=CURATOR, now=later, loan="L-1")
    shipped = next(e for e in history.entries if e.kind == "loan.shipped")
    run(
        incidents.record_correction,
        now=later,
        corrects_seq=shipped.seq,
        text="container was N2 box 7",
    )
    history = run(record_history, actor=CURATOR, now=later, loan="L-1")
    corrected = next(e for e in history.entries if e.seq == shipped.seq)
    assert isinstance(history.entries, tuple)  # record_history gives a tuple, not a stream
    note = history.entries[-1]
    assert note.kind == "event.corrected" and note.corrects_seq == shipped.seq
    assert corrected.corrected_by == (note.seq,)


def test_as_of_replays_the_earlier_state(run: Run, lineage_loan: str) -> None:
    now = LATER + timedelta(days=2)
    history = run(record_history, actor=OU_PI, now=now, loan="L-1", as_of=NOW + timedelta(days=1))
    assert all(e.occurred_at <= NOW + timedelta(days=1) for e in history.entries)
    assert "loan.consumed" not in [e.kind for e in history.entries]
    assert history.state is not None  # as of a moment: the replayed state comes with it
    (child,) = history.state.samples
    assert (child.code, child.custody_state, child.custodian) == (CHILD, "held", "OU")
    assert child.on_loan_ug == mass("100 mg") and child.consumed_ug == 0
    (loan_state,) = history.state.loans
    assert loan_state.items[0].held_ug == mass("100 mg")


def test_history_access_and_arguments(run: Run, lineage_loan: str) -> None:
    with pytest.raises(NotFound, match=r"^loan 'L-1': no such loan among the records you may read"):
        run(record_history, actor=UOC_PI, loan="L-1")
    with pytest.raises(InvalidInput, match="exactly one"):
        run(record_history, actor=COMPLIANCE, loan="L-1", sample=CHILD)
    with pytest.raises(NotFound):
        run(record_history, actor=COMPLIANCE, institution="NOPE")


def test_balances_match_the_ledger(run: Run, lineage_loan: str) -> None:
    now = LATER + timedelta(days=2)
    loan_balance = run(mass_balance, actor=OU_PI, now=now, loan="L-1")
    parent_item = next(i for i in loan_balance.items if i.sample_code == CHILD)
    assert parent_item.issued_ug == mass("100 mg")
    assert parent_item.consumed_ug == mass("2.5 mg")
    assert parent_item.split_ug == mass("10 mg")
    assert parent_item.held_ug == mass("100 mg") - mass("2.5 mg") - mass("10 mg")
    assert loan_balance.item_total is not None
    assert all(i.balanced for i in loan_balance.items) and loan_balance.item_total.balanced
    lineage = run(mass_balance, actor=COMPLIANCE, now=now, sample=f"{PARENT}-02")
    root = lineage.samples[0]
    assert root.code == PARENT and root.split_ug == mass("150 mg") and root.lost_ug == mass("1 mg")
    assert root.vault_ug == mass("1000 mg") - mass("151 mg")
    assert lineage.sample_total is not None and lineage.sample_total.balanced
    with pytest.raises(PermissionDenied):
        run(mass_balance, actor=OU_PI, now=now)


def test_overdue_and_status(run: Run, lineage_loan: str) -> None:
    late = NOW + timedelta(days=365 + 10)
    rows = run(overdue, actor=COMPLIANCE, now=late)
    assert [(r.loan_number, r.what, r.days_late) for r in rows] == [
        ("L-1", "inventory", 10),
        ("L-1", "return", 10),
    ]
    assert run(overdue, actor=UOC_PI, now=late) == []
    (standing,) = run(loan_status, actor=OU_PI, now=late)
    assert standing.days_left == -10
    assert "return overdue by 10 days" in standing.obligations
    assert "inventory overdue by 10 days" in standing.obligations
    with pytest.raises(InvalidInput, match="give --loan"):
        run(loan_status, actor=COMPLIANCE, now=late)
    with pytest.raises(NotFound):
        run(loan_status, actor=UOC_PI, now=late, loan="L-1")
