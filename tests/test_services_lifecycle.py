"""The whole loan lifecycle at service level, asserting the projections after each step."""

from datetime import timedelta
from typing import Any

import pytest
from dateutil.relativedelta import relativedelta
from sqlalchemy import Engine
from sqlmodel import Session, SQLModel, select

from sampleloans.errors import RuleViolation
from sampleloans.models import (
    Agreement,
    Consumption,
    Extension,
    Incident,
    Inventory,
    LedgerEvent,
    Loan,
    LoanItem,
    Note,
    Sample,
    Shipment,
    Weighing,
)
from sampleloans.services import agreements, incidents, loans, samples
from sampleloans.services.verify import verify
from sampleloans.units import parse_mass_ug as mass
from tests.conftest import CURATOR, NOW, OU_PI, Run
from tests.factories import draft_agreement, issued_loan, received_loan, signed_agreement

S112 = "CE5C0200YJFM00112"
S307 = "CE5C0300YJFM00307"
BIG = "CE5C0100YJFM00201"  # 1000 mg


def row(engine: Engine, model: type, key: Any) -> Any:
    """One projection row, read in its own session."""
    with Session(engine) as session:
        found = session.get(model, key)
        assert found is not None, f"{model.__name__} {key} missing"
        session.expunge(found)
        return found


def rows(engine: Engine, model: type[SQLModel], **where: Any) -> list[Any]:
    """Projection rows matching equality filters."""
    with Session(engine) as session:
        query = select(model)
        for column, value in where.items():
            query = query.where(getattr(model, column) == value)
        found = list(session.exec(query).all())
        for item in found:
            session.expunge(item)
        return found


def event_count(engine: Engine) -> int:
    with Session(engine) as session:
        return len(session.exec(select(LedgerEvent.seq)).all())


def test_register_sample_puts_it_in_the_curators_vault(engine: Engine, run: Run) -> None:
    run(
        samples.register_sample,
        code="CE6C0100YJFM00001",
        mission="CE-6",
        mass_ug=mass("12.5 mg"),
        origin="scoop",
        material_type="regolith",
        physical_form="powder",
        purpose_class="research",
        storage_location="NAOC N2 cabinet E",
    )
    sample = row(engine, Sample, "CE6C0100YJFM00001")
    assert sample.initial_mass_ug == sample.vault_ug == 12_500
    assert sample.custodian == "NAOC"
    assert sample.custody_state == "vault"
    assert sample.registered_at == NOW
    assert verify(engine).ok


def test_split_without_loss_moves_mass_to_children(engine: Engine, run: Run) -> None:
    run(
        samples.split_sample,
        parent=BIG,
        children=[("-01", mass("20 mg")), (f"{BIG}-02", mass("30 mg"))],
    )
    parent = row(engine, Sample, BIG)
    assert parent.vault_ug == mass("1000 mg") - mass("50 mg")
    assert parent.split_ug == mass("50 mg")
    assert parent.lost_ug == 0
    first, second = row(engine, Sample, f"{BIG}-01"), row(engine, Sample, f"{BIG}-02")
    assert (first.initial_mass_ug, first.vault_ug) == (mass("20 mg"), mass("20 mg"))
    assert (second.initial_mass_ug, second.vault_ug) == (mass("30 mg"), mass("30 mg"))
    assert first.parent_code == BIG and first.custodian == "NAOC"
    assert first.material_type == parent.material_type
    assert verify(engine).ok


def test_split_with_processing_loss_records_the_loss(engine: Engine, run: Run) -> None:
    run(
        samples.split_sample,
        parent=BIG,
        children=[("-G1", mass("100 mg"))],
        loss_ug=mass("1.5 mg"),
    )
    parent = row(engine, Sample, BIG)
    assert parent.vault_ug == mass("1000 mg") - mass("100 mg") - mass("1.5 mg")
    assert parent.split_ug == mass("100 mg")
    assert parent.lost_ug == mass("1.5 mg")
    assert row(engine, Sample, f"{BIG}-G1").vault_ug == mass("100 mg")
    assert verify(engine).ok


def test_agreement_create_sign_expire_terminate(engine: Engine, run: Run) -> None:
    # at NOW, before the OU steps later on: the recording clock never goes back
    draft_agreement(run, "UoC")
    run(agreements.end_agreement, number="AG-UoC", status="terminated", reason="withdrawn")
    assert row(engine, Agreement, "AG-UoC").status == "terminated"
    draft_agreement(run, "OU")
    pending = row(engine, Agreement, "AG-OU")
    assert pending.status == "pending" and pending.signed_at is None
    assert pending.allowed_purposes == "research"
    signed_at = NOW + timedelta(days=1)
    run(
        agreements.sign_agreement,
        number="AG-OU",
        signed_by="LESEC and OU",
        now=signed_at + timedelta(hours=1),
        occurred_at=signed_at,
    )
    signed = row(engine, Agreement, "AG-OU")
    assert signed.status == "signed"
    assert signed.signed_at == signed_at
    assert signed.expires_at == signed_at + relativedelta(years=5)
    assert signed.signed_by == "LESEC and OU"
    later = NOW + timedelta(days=10)
    run(agreements.end_agreement, number="AG-OU", status="expired", reason="term over", now=later)
    ended = row(engine, Agreement, "AG-OU")
    assert (ended.status, ended.ended_at, ended.end_reason) == ("expired", later, "term over")

    assert verify(engine).ok


def test_full_loan_lifecycle(engine: Engine, run: Run) -> None:
    signed_agreement(run, "OU")
    run(
        loans.request_loan,
        number="L-1",
        agreement="AG-OU",
        pi=OU_PI,
        samples=[S307, S112],
        loan_period="P6M",
    )
    loan = row(engine, Loan, "L-1")
    assert (loan.status, loan.institution, loan.loan_period) == ("requested", "OU", "P6M")
    assert [i.sample_code for i in rows(engine, LoanItem, loan_number="L-1")] == [S112, S307]

    run(loans.approve_loan, number="L-1")
    loan = row(engine, Loan, "L-1")
    assert (loan.status, loan.approved_by) == ("approved", CURATOR)

    run(loans.issue_loan, number="L-1")
    loan = row(engine, Loan, "L-1")
    assert loan.status == "issued"
    assert loan.issued_at == NOW
    assert loan.due_at == NOW + relativedelta(months=6)
    assert loan.next_inventory_due_at == NOW + relativedelta(years=1)
    for code in (S112, S307):
        sample = row(engine, Sample, code)
        assert (sample.vault_ug, sample.on_loan_ug) == (0, mass("20 mg"))
        assert (sample.custody_state, sample.loan_number, sample.custodian) == (
            "issued",
            "L-1",
            "NAOC",
        )
        item = row(engine, LoanItem, ("L-1", code))
        assert (item.issued_ug, item.held_ug, item.state) == (
            mass("20 mg"),
            mass("20 mg"),
            "issued",
        )

    shipped_at = NOW + timedelta(days=1)
    run(loans.ship_loan, number="L-1", container="N2 box", seal_number="S-1", now=shipped_at)
    assert row(engine, Loan, "L-1").status == "in_transit"
    assert row(engine, Sample, S112).custody_state == "in_transit"
    (shipment,) = rows(engine, Shipment, loan_number="L-1")
    assert (shipment.sender, shipment.receiver, shipment.direction) == ("NAOC", "OU", "outbound")

    received_at = NOW + timedelta(days=5)
    run(
        loans.receive_loan,
        number="L-1",
        seal_intact=True,
        condition="pristine",
        weighed_ug={S112: mass("19.9 mg")},
        now=received_at,
    )
    assert row(engine, Loan, "L-1").status == "received"
    sample = row(engine, Sample, S112)
    assert (sample.custody_state, sample.custodian) == ("held", "OU")
    weighing = row(engine, Weighing, (shipment.seq + 1, S112))
    assert (weighing.expected_ug, weighing.weighed_ug) == (mass("20 mg"), mass("19.9 mg"))
    # The discrepancy is recorded, not applied: the ledger balance stays until explained.
    assert row(engine, LoanItem, ("L-1", S112)).held_ug == mass("20 mg")
    assert row(engine, Weighing, (shipment.seq + 1, S307)).weighed_ug == mass("20 mg")

    use_at = NOW + timedelta(days=10)
    run(
        loans.consume,
        number="L-1",
        sample=S112,
        technique="SEM imaging",
        mass_ug=mass("0.1 mg"),
        destructive=False,
        now=use_at,
    )
    run(
        loans.consume,
        number="L-1",
        sample=S307,
        technique="SIMS",
        mass_ug=mass("3 mg"),
        destructive=True,
        now=use_at,
    )
    uses = sorted(rows(engine, Consumption, loan_number="L-1"), key=lambda c: c.seq)
    assert [(c.sample_code, c.destructive, c.mass_ug) for c in uses] == [
        (S112, False, mass("0.1 mg")),
        (S307, True, mass("3 mg")),
    ]
    item112 = row(engine, LoanItem, ("L-1", S112))
    assert (item112.held_ug, item112.consumed_ug) == (mass("19.9 mg"), mass("0.1 mg"))
    assert row(engine, Sample, S307).consumed_ug == mass("3 mg")

    run(
        loans.borrower_split,
        number="L-1",
        parent=S307,
        child="-A",
        mass_ug=mass("5 mg"),
        now=use_at,
    )
    child_code = f"{S307}-A"
    child = row(engine, Sample, child_code)
    assert (child.on_loan_ug, child.custody_state, child.custodian, child.parent_code) == (
        mass("5 mg"),
        "held",
        "OU",
        S307,
    )
    child_item = row(engine, LoanItem, ("L-1", child_code))
    assert (child_item.source, child_item.issued_ug) == ("borrower_split", mass("5 mg"))
    parent_item = row(engine, LoanItem, ("L-1", S307))
    assert parent_item.held_ug == mass("20 mg") - mass("3 mg") - mass("5 mg")
    assert parent_item.split_ug == mass("5 mg")

    run(
        loans.extend_loan,
        number="L-1",
        period="P3M",
        approver=CURATOR,
        reason="beam time moved",
        now=use_at,
    )
    loan = row(engine, Loan, "L-1")
    assert loan.due_at == NOW + relativedelta(months=6) + relativedelta(months=3)
    assert loan.extensions_granted == 1
    (extension,) = rows(engine, Extension, loan_number="L-1")
    assert (extension.new_due_at, extension.reason) == (loan.due_at, "beam time moved")

    inventory_at = NOW + timedelta(days=60)
    run(loans.attest_inventory, number="L-1", actor=OU_PI, now=inventory_at)
    loan = row(engine, Loan, "L-1")
    assert loan.last_inventory_at == inventory_at
    assert loan.next_inventory_due_at == inventory_at + relativedelta(years=1)
    (inventory,) = rows(engine, Inventory, loan_number="L-1")
    assert inventory.held_ug == mass("19.9 mg") + mass("12 mg") + mass("5 mg")
    assert inventory.attested_by == OU_PI

    back_at = NOW + timedelta(days=90)
    run(loans.release_return, number="L-1", container="N2 box", seal_number="S-2", now=back_at)
    assert row(engine, Loan, "L-1").status == "return_in_transit"
    assert row(engine, Sample, child_code).custody_state == "return_in_transit"
    run(
        loans.accept_return,
        number="L-1",
        seal_intact=True,
        condition="pristine",
        weighed_ug={S112: mass("19.9 mg"), S307: mass("12 mg"), child_code: mass("5 mg")},
        now=back_at + timedelta(days=3),
    )
    assert row(engine, Loan, "L-1").status == "returned"
    expected_vault = {S112: mass("19.9 mg"), S307: mass("12 mg"), child_code: mass("5 mg")}
    for code, vault_ug in expected_vault.items():
        sample = row(engine, Sample, code)
        assert (sample.vault_ug, sample.on_loan_ug) == (vault_ug, 0)
        assert (sample.custody_state, sample.custodian, sample.loan_number) == (
            "vault",
            "NAOC",
            None,
        )
        item = row(engine, LoanItem, ("L-1", code))
        assert (item.held_ug, item.returned_ug, item.state) == (0, vault_ug, "returned")

    run(loans.settle_loan, number="L-1", obligations="results shared", now=back_at + timedelta(4))
    assert row(engine, Loan, "L-1").status == "settled"
    run(loans.close_loan, number="L-1", now=back_at + timedelta(days=5))
    loan = row(engine, Loan, "L-1")
    assert (loan.status, loan.closed_at) == ("closed", back_at + timedelta(days=5))
    assert verify(engine).ok


def test_recall_brings_the_due_date_forward_but_never_later(engine: Engine, run: Run) -> None:
    signed_agreement(run, "OU")
    issued_loan(run)
    due = NOW + timedelta(days=20)
    run(loans.recall_loan, number="L-1", due_at=due, reason="lender needs it back")
    loan = row(engine, Loan, "L-1")
    assert (loan.due_at, loan.recalled_at) == (due, NOW)
    # a later due date is refused, not silently ignored (issue 10, item 20)
    with pytest.raises(RuleViolation, match="a recall can only bring the due date forward"):
        run(loans.recall_loan, number="L-1", due_at=NOW + timedelta(days=400), reason="again")
    assert row(engine, Loan, "L-1").due_at == due
    assert verify(engine).ok


def test_incident_with_mass_lost_freezes_then_resolve_and_settle(engine: Engine, run: Run) -> None:
    signed_agreement(run, "OU")
    received_loan(run)
    envelope = run(
        incidents.report_incident,
        sample=S112,
        incident_kind="loss",
        description="spilled during transfer",
        mass_lost_ug=mass("1.25 mg"),
    )
    sample = row(engine, Sample, S112)
    assert sample.frozen is True
    assert (sample.lost_ug, sample.on_loan_ug) == (mass("1.25 mg"), mass("18.75 mg"))
    item = row(engine, LoanItem, ("L-1", S112))
    assert (item.lost_ug, item.held_ug) == (mass("1.25 mg"), mass("18.75 mg"))
    incident = row(engine, Incident, envelope.seq)
    assert (incident.status, incident.loan_number, incident.kind) == ("open", "L-1", "loss")

    run(incidents.resolve_incident, incident_seq=envelope.seq, resolution="written off")
    assert row(engine, Sample, S112).frozen is False
    assert row(engine, Incident, envelope.seq).status == "resolved"

    run(
        loans.consume,
        number="L-1",
        sample=S112,
        technique="ICP-MS",
        mass_ug=mass("18.75 mg"),
        destructive=True,
    )
    item = row(engine, LoanItem, ("L-1", S112))
    assert (item.held_ug, item.state) == (0, "consumed")
    assert row(engine, Sample, S112).custody_state == "consumed"
    run(loans.settle_loan, number="L-1", obligations="data published")
    run(loans.close_loan, number="L-1")
    assert row(engine, Loan, "L-1").status == "closed"
    assert verify(engine).ok


def test_incident_in_the_vault_writes_off_vault_mass(engine: Engine, run: Run) -> None:
    run(
        incidents.report_incident,
        sample=BIG,
        incident_kind="damage",
        description="container dropped",
        mass_lost_ug=mass("2 mg"),
    )
    sample = row(engine, Sample, BIG)
    assert (sample.vault_ug, sample.lost_ug, sample.frozen) == (
        mass("1000 mg") - mass("2 mg"),
        mass("2 mg"),
        True,
    )
    assert verify(engine).ok


def test_correction_appends_a_note_and_leaves_the_event(engine: Engine, run: Run) -> None:
    before = event_count(engine)
    with Session(engine) as session:
        original = session.get(LedgerEvent, 5)
        assert original is not None
        original_hash, original_payload = original.hash, original.payload
    envelope = run(incidents.record_correction, corrects_seq=5, text="name misspelt")
    assert event_count(engine) == before + 1
    note = row(engine, Note, envelope.seq)
    assert (note.corrects_seq, note.text) == (5, "name misspelt")
    unchanged = row(engine, LedgerEvent, 5)
    assert (unchanged.hash, unchanged.payload) == (original_hash, original_payload)
    assert verify(engine).ok
