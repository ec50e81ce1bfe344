"""Issue 12 §6: write services return the envelope and the rows they changed; the commands
print from that result (no read after the write) and print exactly what they printed before."""

from typing import Any

import pytest
from sqlalchemy import Engine, func
from sqlmodel import select
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.models import Agreement, LedgerEvent, Loan, Sample
from sampleloans.services import agreements, loans, samples
from sampleloans.services.results import AgreementWritten, LoanWritten, SamplesWritten
from sampleloans.units import parse_mass_ug as mass
from tests.conftest import CURATOR, Run
from tests.factories import approved_loan, draft_agreement, received_loan, signed_agreement

SAMPLE = "CE5C0200YJFM00112"
ENGINE: list[Any] = []  # the test's ledger, for `cli` to read the head


@pytest.fixture(autouse=True)
def _remember_engine(engine: Engine) -> None:
    ENGINE[:] = [engine]


def stored(engine: Any, model: type, key: Any) -> Any:
    """A row as a fresh transaction reads it back (not the service's own instance)."""
    with db.transaction(engine, write=False) as session:
        row = session.get(model, key)
        assert row is not None
        session.expunge(row)
        return row


def test_issue_returns_the_envelope_the_loan_and_its_items(run: Run, engine: Engine) -> None:
    signed_agreement(run)
    approved_loan(run)
    result = run(loans.issue_loan, number="L-1")
    assert isinstance(result, LoanWritten)
    assert result.envelope.kind == "loan.issued" and result.seq == result.envelope.seq
    assert result.loan.number == "L-1" and result.loan.status == "issued"
    assert result.loan.due_at == stored(engine, Loan, "L-1").due_at
    assert [(i.sample_code, i.issued_ug, i.state) for i in result.items] == [
        (SAMPLE, mass("20 mg"), "issued")
    ]


def test_extend_recall_and_accept_return_carry_the_loan_after_the_event(
    run: Run, engine: Engine
) -> None:
    signed_agreement(run)
    received_loan(run)
    before = stored(engine, Loan, "L-1").due_at
    extended = run(
        loans.extend_loan, number="L-1", period="P6M", approver=CURATOR, reason="downtime"
    )
    assert extended.envelope.kind == "loan.extended"
    assert extended.loan.due_at == stored(engine, Loan, "L-1").due_at != before
    recalled = run(loans.recall_loan, number="L-1", due_at=before, reason="audit of the collection")
    assert recalled.envelope.kind == "loan.recalled" and recalled.loan.due_at == before
    run(loans.release_return, number="L-1", container="N2 box", seal_number="S-2")
    accepted = run(
        loans.accept_return,
        number="L-1",
        seal_intact=True,
        condition="pristine",
        weighed_ug={SAMPLE: mass("20 mg")},
    )
    assert accepted.envelope.kind == "loan.received"
    assert accepted.loan.status == "returned" == stored(engine, Loan, "L-1").status
    assert [(i.sample_code, i.returned_ug, i.state) for i in accepted.items] == [
        (SAMPLE, mass("20 mg"), "returned")
    ]


def test_splits_carry_the_new_samples(run: Run, engine: Engine) -> None:
    parent = "CE5C0400YJFM00505"
    made = run(samples.split_sample, parent=parent, children=[("-G1", mass("5 mg"))])
    assert isinstance(made, SamplesWritten) and made.envelope.kind == "sample.split"
    assert [(s.code, s.initial_mass_ug, s.parent_code) for s in made.samples] == [
        (f"{parent}-G1", mass("5 mg"), parent)
    ]
    signed_agreement(run)
    received_loan(run)
    piece = run(loans.borrower_split, number="L-1", parent=SAMPLE, child="-B1", mass_ug=1000)
    (child,) = piece.samples
    assert piece.envelope.kind == "loan.split"
    assert (child.code, child.custody_state) == (f"{SAMPLE}-B1", "held")
    assert stored(engine, Sample, child.code).initial_mass_ug == 1000


def test_agreement_services_carry_the_agreement(run: Run, engine: Engine) -> None:
    draft_agreement(run)
    signed = run(agreements.sign_agreement, number="AG-OU", signed_by="LESEC and OU")
    assert isinstance(signed, AgreementWritten) and signed.envelope.kind == "agreement.signed"
    assert signed.agreement.status == "signed"
    assert signed.agreement.expires_at == stored(engine, Agreement, "AG-OU").expires_at
    ended = run(agreements.end_agreement, number="AG-OU", status="terminated", reason="audit")
    assert ended.agreement.status == "terminated"


def cli(runner: CliRunner, *args: str) -> str:
    """Run one command as the curator; its stdout (it must succeed), with the number of the
    event it wrote replaced by SEQ (the head, read apart)."""
    result = runner.invoke(app, ["--as", CURATOR, *args])
    assert result.exit_code == 0, result.output
    with db.transaction(ENGINE[0], write=False) as session:
        seq = session.exec(select(func.max(LedgerEvent.seq))).one()
    return result.stdout.strip().replace(f"event {seq}", "event SEQ")


def test_cli_prints_the_same_lines_from_the_results(
    run: Run, runner: CliRunner, cli_env: dict[str, str]
) -> None:
    draft_agreement(run)
    assert cli(runner, "agreements", "sign", "AG-OU", "--signed-by", "LESEC and OU") == (
        "Signed agreement AG-OU; in force until 2030-04-01 09:00 UTC; event SEQ."
    )
    approved_loan(run)
    assert cli(runner, "loans", "issue", "L-1") == (
        "Loan L-1 issued: 1 sample, 20.000 mg left the vault; due 2026-04-01 09:00 UTC (event SEQ)."
    )
    run(loans.ship_loan, number="L-1", container="N2 box", seal_number="S-1")
    run(loans.receive_loan, number="L-1", seal_intact=True, condition="pristine")
    assert cli(
        runner, "loans", "split", "L-1", "--sample", SAMPLE, "--child=-B1", "--mass", "1 mg"
    ) == (f"Loan L-1: {SAMPLE}-B1 (1.000 mg) split from {SAMPLE} (event SEQ).")
    extend = ["--period", "P6M", "--approver", CURATOR, "--reason", "downtime"]
    assert cli(runner, "loans", "extend", "L-1", *extend) == (
        "Loan L-1 extended; now due 2026-10-01 09:00 UTC (event SEQ)."
    )
    recall = ["--due", "2026-01-15T00:00:00Z", "--reason", "audit"]
    assert cli(runner, "loans", "recall", "L-1", *recall) == (
        "Loan L-1 recalled; due back 2026-01-15 00:00 UTC (event SEQ)."
    )
    run(
        loans.release_return,
        number="L-1",
        container="N2 box",
        seal_number="S-2",
        samples=[SAMPLE],
    )
    weighed = ["--weighed", f"{SAMPLE}=19mg"]
    assert cli(
        runner, "loans", "accept-return", "L-1", "--seal-intact", "--condition", "ok", *weighed
    ) == (
        "Loan L-1 return accepted; a partial return: the borrower still holds the other "
        "samples (event SEQ)."
    )
    parent = "CE5C0400YJFM00505"
    assert cli(runner, "samples", "split", parent, "--child", "-G1=5mg", "--loss", "0.1mg") == (
        f"Split {parent} into {parent}-G1 (5.000 mg); loss 100 µg; event SEQ."
    )
