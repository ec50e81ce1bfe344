"""A loan step's neighbours read with the writers' lock (issue 14, Performance: 8 concurrent
PostgreSQL writers against a raw psycopg loop).

On PostgreSQL a long-lived writer's loan step declares, before its transaction begins, what it
will read of the loan besides the loan (its agreement, items and samples, the PI and their
institution, the shipments in transit and their events, the institution's loans out, the mass
issued under the agreement: `services/loans.NEIGHBOURS`); they come in the lock's own pipeline
and the command answers from them. These tests play the same steps on both engines, one
long-lived engine each, and require the same outcome step by step: every refusal that depends
on those reads says the same, a deactivation committed by another process before is seen, and
two steps in one transaction do not answer the second from the first one's reads.
"""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine
from sqlmodel import Session
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.errors import SampleLoansError
from sampleloans.services import loans, samples
from sampleloans.services.reference import deactivate_person, reactivate_person
from sampleloans.services.verify import verify
from tests.conftest import ctx_for
from tests.pgcluster import DEMO_LEDGER_ID

T0 = datetime(2026, 4, 28, 9, 0, tzinfo=UTC)
PI = "muenker@uni-koeln.example"
SAMPLE = "CE5C0000YJYX048"  # 17.6 mg in the vault of the demo
HEAVY = "CE5C0100YJFM00201"  # 400 mg: more than AG-2025-UoC has left (164.8 mg)
Step = Callable[[Session, datetime], object]


def _step(service: Callable[..., object], **arguments: Any) -> Step:
    """A service call as a step of the scenario, at the step's time."""

    def run(session: Session, when: datetime) -> object:
        return service(session, ctx_for(now=when), **arguments)

    return run


def _people(service: Callable[..., object], reason: str) -> Step:
    """The PI deactivated or reactivated (by another process on PostgreSQL: its own engine)."""

    def run(session: Session, when: datetime) -> object:
        return service(session, ctx_for(now=when), email=PI, reason=reason)

    return run


SCENARIO: list[tuple[str, list[Step]]] = [
    # each entry: one transaction of the long-lived writer (several steps: one transaction)
    ("request heavy", [_step(loans.request_loan, number="L-T-HEAVY", agreement="AG-2025-UoC",
                             pi=PI, samples=[HEAVY])]),
    ("approve heavy", [_step(loans.approve_loan, number="L-T-HEAVY")]),
    ("issue heavy", [_step(loans.issue_loan, number="L-T-HEAVY")]),
    ("request", [_step(loans.request_loan, number="L-T-A", agreement="AG-2025-UoC", pi=PI,
                       samples=[SAMPLE])]),
    ("approve", [_step(loans.approve_loan, number="L-T-A")]),
    ("issue while L-2025-UoC is overdue", [_step(loans.issue_loan, number="L-T-A")]),
    ("issue", [_step(loans.issue_loan, number="L-T-A")]),
    ("ship", [_step(loans.ship_loan, number="L-T-A", container="box", seal_number="S-1")]),
    ("PI deactivated", [_people(deactivate_person, "left")]),
    ("receive, the PI deactivated", [_step(loans.receive_loan, number="L-T-A",
                                           seal_intact=True, condition="good")]),
    ("PI reactivated", [_people(reactivate_person, "back")]),
    ("receive and consume in one transaction", [
        _step(loans.receive_loan, number="L-T-A", seal_intact=True, condition="good"),
        _step(loans.consume, number="L-T-A", sample=SAMPLE, technique="x", mass_ug=1,
              destructive=True)]),
    ("consume more than held", [_step(loans.consume, number="L-T-A", sample=SAMPLE,
                                      technique="x", mass_ug=17_600, destructive=True)]),
    ("release the return", [_step(loans.release_return, number="L-T-A", container="box",
                                  seal_number="S-2")]),
    ("accept short", [_step(loans.accept_return, number="L-T-A", seal_intact=True,
                            condition="good", weighed_ug={SAMPLE: 17_000})]),
    ("accept", [_step(loans.accept_return, number="L-T-A", seal_intact=True, condition="good",
                      weighed_ug={SAMPLE: 17_599})]),
]  # fmt: skip
OVERDUE_AT = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)  # L-2025-UoC was due on 2026-10-25
"""When the "issue while overdue" step is tried (refused: nothing recorded, the clock holds)."""


def _play(writer: Engine, other: Engine) -> dict[str, str]:
    """Each transaction of the scenario on `writer` (a deactivation on `other`): "ok", or the
    refusal's class and message."""
    outcomes = {}
    for minutes, (name, steps) in enumerate(SCENARIO):
        when = OVERDUE_AT if "overdue" in name else T0 + timedelta(minutes=minutes)
        engine = other if name.startswith("PI ") else writer
        try:
            with db.transaction(engine) as session:
                for step in steps:
                    step(session, when)
        except SampleLoansError as refusal:
            outcomes[name] = f"{type(refusal).__name__}: {refusal}"
        else:
            outcomes[name] = "ok"
    return outcomes


def _played(url: str) -> dict[str, str]:
    """The scenario on the ledger at `url`, which verifies after it."""
    writer, other = db.open_engine(url), db.open_engine(url)
    try:
        outcomes = _play(writer, other)
        assert verify(writer).problems == []
    finally:
        writer.dispose()
        other.dispose()
    return outcomes


def test_a_loans_steps_refuse_and_record_alike_on_both_engines(
    demo_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "demo"
    made = CliRunner().invoke(
        app,
        ["demo", "--dir", str(folder), "--ledger-id", DEMO_LEDGER_ID],
        env={"SAMPLELOANS_NOW": "2025-04-01T09:00:00Z"},
    )
    assert made.exit_code == 0, made.stderr
    on_sqlite = _played(db.url_for_path(folder / "ledger.db"))
    on_postgres = _played(demo_url)
    assert on_postgres == on_sqlite
    refused = {name: said for name, said in on_postgres.items() if said != "ok"}
    assert list(refused) == [
        "issue heavy",
        "issue while L-2025-UoC is overdue",
        "receive, the PI deactivated",
        "consume more than held",
        "accept short",
    ]
    # the figures come from the reads with the lock: the mass issued under the agreement, the
    # institution's loans out, the PI's standing, the item held
    assert "835.200 mg already issued + 400.000 mg now" in refused["issue heavy"]
    assert "while loan L-2025-UoC was due" in refused["issue while L-2025-UoC is overdue"]
    assert f"{PI} (by default) is deactivated" in refused["receive, the PI deactivated"]
    assert "holds only 17.599 mg" in refused["consume more than held"]


TAMPERED = [
    # a projection row edited behind the ledger's back (as the owner), and what the checks say
    ("UPDATE sample SET vault_ug = vault_ug + 1 WHERE code = 'CE5C0100YJFM00201'",
     "CE5C0100YJFM00201", "sample CE5C0100YJFM00201: initial"),
    ("UPDATE sample SET initial_mass_ug = initial_mass_ug + 1 "
     "WHERE code = 'CE5C0100YJFM00201-02'",
     "CE5C0100YJFM00201", "its children's initial masses"),
    ("UPDATE sample SET frozen = true WHERE code = 'CE5C0100YJFM00201'",
     "CE5C0100YJFM00201", "frozen=True but open incident=False"),
    ("UPDATE loan_item SET held_ug = held_ug + 1 WHERE sample_code = 'CE5C0100YJFM00201-01'",
     "CE5C0100YJFM00201-01", "item CE5C0100YJFM00201-01: issued"),
]  # fmt: skip


def _moved(
    engine: Engine, code: str, *, begun: bool, when: datetime = T0, to: str = "Shelf M"
) -> str:
    """A move of sample `code` in its own transaction: "ok" or the refusal. `begun`: the
    transaction begins before the move declares its reads, which then do not go with the lock
    (the checks read the database after the rows). A move to where the sample already is is
    refused, so a second move names another place (`to`)."""
    try:
        with db.transaction(engine) as session:
            if begun:
                session.connection()
            samples.move_sample(session, ctx_for(now=when), code=code, storage_location=to)
    except SampleLoansError as refusal:
        return f"{type(refusal).__name__}: {refusal}"
    return "ok"


@pytest.mark.parametrize(("tamper", "code", "said"), TAMPERED)
def test_a_moves_checks_answered_with_the_lock_refuse_as_the_databases_do(
    demo_url: str, tamper: str, code: str, said: str
) -> None:
    """A move's checks answer from what was read with the lock and the move's own rows: on a
    tampered sample, its children, its flag or its item they refuse exactly as the checks
    that read the database after the rows, and nothing is written."""
    engine = db.open_engine(demo_url)
    try:
        assert _moved(engine, code, begun=False) == "ok"  # untampered: recorded
        with psycopg.connect(demo_url, autocommit=True) as owner:
            owner.execute(tamper)
            before = owner.execute("SELECT count(*) FROM ledger_event").fetchone()
        with_the_lock = _moved(engine, code, begun=False, to="Shelf N")
        assert with_the_lock.startswith("RuleViolation: ") and said in with_the_lock
        assert _moved(engine, code, begun=True, to="Shelf N") == with_the_lock
        with psycopg.connect(demo_url) as reader:
            assert reader.execute("SELECT count(*) FROM ledger_event").fetchone() == before
    finally:
        engine.dispose()


def _figures(snapshot: Any) -> dict[str, Any]:
    """What the checks read of a snapshot, comparable across its sources."""
    sample_fields = ("code", "parent_code", "purpose_class", "custody_state", "loan_number",
                     "frozen", "initial_mass_ug", "vault_ug", "on_loan_ug", "split_ug",
                     "consumed_ug", "lost_ug", "transferred_ug")  # fmt: skip
    item_fields = ("loan_number", "sample_code", "state", "issued_ug", "held_ug", "consumed_ug",
                   "returned_ug", "transferred_ug", "split_ug", "lost_ug")  # fmt: skip

    def rows(found: list[Any], fields: tuple[str, ...]) -> list[tuple[Any, ...]]:
        return sorted(tuple(getattr(row, name) for name in fields) for row in found)

    return {
        "samples": rows(snapshot.samples, sample_fields),
        "children": {k: rows(v, sample_fields) for k, v in snapshot.children.items()},
        "items": rows(snapshot.items, item_fields),
        "loans": rows(snapshot.loans, ("number", "status")),
        "agreements": rows(snapshot.agreements, ("number", "max_total_mass_ug")),
        "open": sorted(snapshot.open_incident_samples),
        "issued": {k: v for k, v in snapshot.agreement_issued_ug.items() if v},
    }


def test_the_checks_answered_with_the_lock_see_what_the_database_holds_after_the_rows(
    demo_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At every step of a loan's round after its request (and a move), the snapshot the checks
    answer from (the rows read with the lock and the unit's own) equals the one read from the
    database once the unit's rows are written: samples, children, items, loans, agreements,
    open incidents and the mass issued."""
    from sampleloans.ledger import checks
    from sampleloans.ledger.unit import Unit

    answered = Unit._snapshot_in
    compared: list[str] = []

    def both(unit: Unit, scope: Any, touched: Any) -> Any:
        snapshot = answered(unit, scope, touched)
        if snapshot is not None:
            unit.flush()  # (for the comparison only: a round trip of its own)
            read = checks.build_snapshot(
                unit.connection,
                samples=touched.samples, loans=touched.loans, agreements=touched.agreements,
            )  # fmt: skip
            assert _figures(snapshot) == _figures(read)
            compared.append(",".join(sorted(touched.samples | touched.loans | touched.agreements)))
        return snapshot

    monkeypatch.setattr(Unit, "_snapshot_in", both)
    outcomes = _played(demo_url)
    assert set(outcomes.values()) <= {"ok"} | {o for o in outcomes.values() if "Violation" in o}
    engine = db.open_engine(demo_url)
    try:
        later = T0 + timedelta(days=1)
        assert _moved(engine, "CE5C0100YJFM00201", begun=False, when=later) == "ok"
    finally:
        engine.dispose()
    # each transaction's first step after a request (the consumption after the receipt, in
    # the same transaction, reads the database): approve ×2, issue (its agreement's mass too),
    # ship, receive, release, accept; then the move
    step = f"{SAMPLE},L-T-A"
    assert compared == [
        "L-T-HEAVY", "L-T-A", f"AG-2025-UoC,{step}", step, step, step, step, "CE5C0100YJFM00201"
    ]  # fmt: skip
