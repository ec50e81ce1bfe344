"""Every refusal of the services, table-driven: exact error class, message, nothing written."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from sampleloans import db
from sampleloans.errors import (
    Conflict,
    InvalidInput,
    NoSuchRecord,
    PermissionDenied,
    RecordConflict,
    RuleViolation,
)
from sampleloans.ledger import store
from sampleloans.services import agreements, incidents, loans, samples
from sampleloans.units import parse_mass_ug as mass
from tests.conftest import COMPLIANCE, CURATOR, NOW, OU_PI, UOC_PI, StartFrom, fingerprint
from tests.factories import (
    approved_loan,
    draft_agreement,
    issued_loan,
    received_loan,
    signed_agreement,
)

S112 = "CE5C0200YJFM00112"
S307 = "CE5C0300YJFM00307"
BIG = "CE5C0100YJFM00201"
Run = Callable[..., Any]


@dataclass(frozen=True)
class Case:
    """One refusal: build the state, call one service, expect one error."""

    setup: Callable[[Run], Any]
    service: Callable[..., Any]
    kwargs: dict[str, Any]
    error: type[Exception]
    match: str
    actor: str = CURATOR
    now: datetime = NOW
    extra: dict[str, Any] = field(default_factory=dict)


def nothing(_run: Run) -> None:
    """The fixture's ledger as it is."""


def approved_pending(run: Run) -> None:
    draft_agreement(run)
    approved_loan(run)


def approved_then_ended(status: str) -> Callable[[Run], None]:
    def build(run: Run) -> None:
        signed_agreement(run)
        approved_loan(run)
        run(agreements.end_agreement, number="AG-OU", status=status, reason="policy")

    return build


def approved_two_samples_small_agreement(run: Run) -> None:
    signed_agreement(run, max_mass="30 mg")
    approved_loan(run, samples=(S112, S307))


def approved_then_frozen(run: Run) -> None:
    signed_agreement(run)
    approved_loan(run)
    run(incidents.report_incident, sample=S112, incident_kind="damage", description="vial cracked")


def overdue_loan(run: Run) -> None:
    signed_agreement(run)
    approved_loan(run, number="L-1", loan_period="P1M")
    run(loans.issue_loan, number="L-1")
    approved_loan(run, number="L-2", samples=(S307,))


def overdue_inventory(run: Run) -> None:
    signed_agreement(run, inventory_interval="P1M")
    issued_loan(run, number="L-1")
    approved_loan(run, number="L-2", samples=(S307,))


def signed(run: Run) -> None:
    signed_agreement(run)


def signed_no_destructive(run: Run) -> None:
    signed_agreement(run, destructive=False)
    received_loan(run)


def issued(run: Run) -> None:
    signed_agreement(run)
    issued_loan(run)


def received(run: Run) -> None:
    signed_agreement(run)
    received_loan(run)


def returning(run: Run) -> None:
    received(run)
    run(loans.release_return, number="L-1", container="N2 box", seal_number="S-2")


def extended_once_of_one(run: Run) -> None:
    signed_agreement(run, max_extensions=1)
    issued_loan(run)
    run(loans.extend_loan, number="L-1", period="P1M", approver=CURATOR, reason="first")


def received_all_lost_incident_open(run: Run) -> None:
    received(run)
    run(
        incidents.report_incident,
        sample=S112,
        incident_kind="loss",
        description="vial lost in the lab",
        mass_lost_ug=mass("20 mg"),
    )


def approved(run: Run) -> None:
    signed_agreement(run)
    approved_loan(run)


def requested(run: Run) -> None:
    signed_agreement(run)
    run(loans.request_loan, number="L-1", agreement="AG-OU", pi=OU_PI, samples=[S112])


def moved_later(run: Run) -> None:
    run(
        samples.move_sample,
        code=BIG,
        storage_location="NAOC N2 cabinet D",
        now=NOW + timedelta(days=2),
    )


REQUEST = {"number": "L-1", "agreement": "AG-OU", "pi": OU_PI}
EXTEND = {"number": "L-1", "approver": CURATOR, "reason": "more beam time"}
RETURN = {"number": "L-1", "seal_intact": True, "condition": "pristine"}
REGISTER = {
    "code": S112,
    "mission": "CE-5",
    "mass_ug": mass("1 mg"),
    "origin": "scoop",
    "material_type": "regolith",
    "physical_form": "powder",
    "purpose_class": "research",
    "storage_location": "NAOC N2 cabinet C",
}

CASES: dict[str, Case] = {
    "issue-agreement-pending": Case(
        approved_pending, loans.issue_loan, {"number": "L-1"}, RuleViolation, r"is not signed"
    ),
    "issue-agreement-expired": Case(
        approved_then_ended("expired"),
        loans.issue_loan,
        {"number": "L-1"},
        RuleViolation,
        r"not in force on .*: in force from .* until .* \(expired\)",
    ),
    "issue-agreement-terminated": Case(
        approved_then_ended("terminated"),
        loans.issue_loan,
        {"number": "L-1"},
        RuleViolation,
        r"not in force on .*: in force from .* until .* \(terminated\)",
    ),
    "issue-beyond-max-total-mass": Case(
        approved_two_samples_small_agreement,
        loans.issue_loan,
        {"number": "L-1"},
        RuleViolation,
        r"allows 30\.000 mg in total; 0 µg already issued \+ 40\.000 mg now would exceed it",
    ),
    "request-permanent-sample": Case(
        signed,
        loans.request_loan,
        {**REQUEST, "samples": ["CE5C0900YJFM00001"]},
        RuleViolation,
        r"CE5C0900YJFM00001 is permanent storage material, which is never lent",
    ),
    "request-backup-sample": Case(
        signed,
        loans.request_loan,
        {**REQUEST, "samples": ["CE5C0900YJFM00002"]},
        RuleViolation,
        r"CE5C0900YJFM00002 is backup storage material",
    ),
    "issue-frozen-sample": Case(
        approved_then_frozen,
        loans.issue_loan,
        {"number": "L-1"},
        Conflict,
        rf"sample {S112} is frozen by open incident \d+; resolve it first \('incidents resolve ",
    ),
    "issue-while-overdue-loan": Case(
        overdue_loan,
        loans.issue_loan,
        {"number": "L-2"},
        RuleViolation,
        r"OU cannot be issued new material while loan L-1 was due 2025-05-01",
        now=NOW + timedelta(days=45),
    ),
    "issue-while-overdue-inventory": Case(
        overdue_inventory,
        loans.issue_loan,
        {"number": "L-2"},
        RuleViolation,
        r"while the inventory of loan L-1 was due 2025-05-01",
        now=NOW + timedelta(days=45),
    ),
    "request-purpose-not-allowed": Case(
        signed,
        loans.request_loan,
        {**REQUEST, "samples": [S112], "purpose_class": "public_welfare"},
        RuleViolation,
        r"purpose: agreement AG-OU allows research use, not public-welfare",
    ),
    "request-period-too-long": Case(
        signed,
        loans.request_loan,
        {**REQUEST, "samples": [S112], "loan_period": "P2Y"},
        RuleViolation,
        r"2 years is longer than agreement AG-OU allows \(1 year\)",
    ),
    "split-more-than-vault": Case(
        nothing,
        samples.split_sample,
        {"parent": S112, "children": [("-01", mass("15 mg"))], "loss_ug": mass("6 mg")},
        RuleViolation,
        r"add up to 21\.000 mg but only 20\.000 mg is in the vault",
    ),
    "split-sample-on-loan": Case(
        issued,
        samples.split_sample,
        {"parent": S112, "children": [("-01", mass("1 mg"))]},
        Conflict,
        rf"sample {S112} is on loan L-1; record its return before splitting",
    ),
    "register-more-than-the-mission-returned": Case(
        nothing,
        samples.register_sample,
        {**REGISTER, "code": "CE5C0000HUGE", "mass_ug": mass("1732 g")},
        InvalidInput,
        r"mass: 1,?732\.?0* g is more than CE-5 returned in all \(1,?731\.?0* g\); check the unit",
    ),
    "register-duplicate-code": Case(
        nothing,
        samples.register_sample,
        REGISTER,
        RecordConflict,
        rf"sample {S112} is already registered",
    ),
    "request-duplicate-loan-number": Case(
        requested,
        loans.request_loan,
        {**REQUEST, "samples": [S307]},
        RecordConflict,
        r"loan L-1 already exists",
    ),
    "consume-destructive-forbidden": Case(
        signed_no_destructive,
        loans.consume,
        {
            "number": "L-1",
            "sample": S112,
            "technique": "SIMS",
            "mass_ug": mass("1 mg"),
            "destructive": True,
        },
        RuleViolation,
        r"agreement AG-OU does not allow destructive use",
    ),
    "consume-more-than-held": Case(
        received,
        loans.consume,
        {
            "number": "L-1",
            "sample": S112,
            "technique": "SIMS",
            "mass_ug": mass("20.001 mg"),
            "destructive": False,
        },
        RuleViolation,
        r"cannot consume 20\.001 mg of .*: the borrower holds only 20\.000 mg on loan L-1",
    ),
    "accept-return-shortfall": Case(
        returning,
        loans.accept_return,
        {**RETURN, "weighed_ug": {S112: mass("19 mg")}},
        RuleViolation,
        r"record the missing 1\.000 mg as a loss first",
    ),
    "accept-return-excess": Case(
        returning,
        loans.accept_return,
        {**RETURN, "weighed_ug": {S112: mass("21 mg")}},
        RuleViolation,
        r"weighs 21\.000 mg, more than the 20\.000 mg issued; a return never brings back more",
    ),
    "extend-beyond-max-count": Case(
        extended_once_of_one,
        loans.extend_loan,
        {**EXTEND, "period": "P1M"},
        RuleViolation,
        r"has used 1 of the 1 extension agreement AG-OU allows",
    ),
    "extend-beyond-max-length": Case(
        issued,
        loans.extend_loan,
        {**EXTEND, "period": "P7M"},
        RuleViolation,
        r"7 months is longer than one extension may be under agreement AG-OU \(6 months\)",
    ),
    "recall-due-in-the-past": Case(
        issued,
        loans.recall_loan,
        {"number": "L-1", "due_at": NOW - timedelta(days=1), "reason": "needed"},
        RuleViolation,
        r"a recall must give the borrower a due date after the recall",
    ),
    "settle-with-mass-held": Case(
        received,
        loans.settle_loan,
        {"number": "L-1", "obligations": "none"},
        RuleViolation,
        r"loan L-1 still has 20\.000 mg held by the borrower",
    ),
    "settle-with-open-incident": Case(
        received_all_lost_incident_open,
        loans.settle_loan,
        {"number": "L-1", "obligations": "none"},
        Conflict,
        rf"incident \d+ on {S112} is open; resolve it first",
    ),
    "close-before-settle": Case(
        received,
        loans.close_loan,
        {"number": "L-1"},
        Conflict,
        r"loan L-1 is received by the borrower; cannot close: settle it first",
    ),
    "ship-before-issue": Case(
        approved,
        loans.ship_loan,
        {"number": "L-1", "container": "box", "seal_number": "S-1"},
        Conflict,
        r"loan L-1 is approved; cannot ship: issue it first",
    ),
    "receive-before-ship": Case(
        issued,
        loans.receive_loan,
        {"number": "L-1", "seal_intact": True, "condition": "pristine"},
        Conflict,
        r"loan L-1 is issued; cannot receive: ship it first",
    ),
    "approve-twice": Case(
        approved,
        loans.approve_loan,
        {"number": "L-1"},
        Conflict,
        r"loan L-1 is approved; cannot approve",
    ),
    "occurred-at-in-the-future": Case(
        requested,
        loans.approve_loan,
        {"number": "L-1", "occurred_at": NOW + timedelta(hours=1)},
        RuleViolation,
        r"time: 2025-04-01T10:00:00Z is in the future",
    ),
    "occurred-at-before-sample-previous-event": Case(
        moved_later,
        samples.split_sample,
        {"parent": BIG, "children": [("-01", mass("1 mg"))], "occurred_at": NOW + timedelta(1)},
        RuleViolation,
        rf"is before the previous event of sample {BIG}",
        now=NOW + timedelta(days=3),
    ),
    "unknown-person-acting": Case(
        nothing,
        samples.move_sample,
        {"code": BIG, "storage_location": "elsewhere"},
        PermissionDenied,
        r"'nobody@nowhere\.example' is not a registered person",
        actor="nobody@nowhere.example",
    ),
    "researcher-attests-other-institution": Case(
        received,
        loans.attest_inventory,
        {"number": "L-1"},
        NoSuchRecord,  # another institution's loan reads as a missing one
        r"^loan 'L-1': no such loan among the records you may read",
        actor=UOC_PI,
    ),
    "compliance-officer-attests": Case(
        received,
        loans.attest_inventory,
        {"number": "L-1"},
        PermissionDenied,
        rf"{COMPLIANCE} may not attest inventories of loan L-1",
        actor=COMPLIANCE,
    ),
}

WRITE_SERVICES: dict[str, tuple[Callable[[Run], Any], Callable[..., Any], dict[str, Any]]] = {
    "register": (nothing, samples.register_sample, {**REGISTER, "code": "CE5C0000NEW"}),
    "split": (nothing, samples.split_sample, {"parent": BIG, "children": [("-01", 1000)]}),
    "move": (nothing, samples.move_sample, {"code": BIG, "storage_location": "shelf"}),
    "create-agreement": (
        nothing,
        agreements.create_agreement,
        {
            "number": "AG-X",
            "institution": "OU",
            "term": "P5Y",
            "max_total_mass_ug": 1000,
            "allowed_purposes": ["research"],
            "max_loan_period": "P1Y",
        },
    ),
    "request": (signed, loans.request_loan, {**REQUEST, "samples": [S112]}),
    "approve": (requested, loans.approve_loan, {"number": "L-1"}),
    "issue": (approved, loans.issue_loan, {"number": "L-1"}),
    "consume": (
        received,
        loans.consume,
        {"number": "L-1", "sample": S112, "technique": "x", "mass_ug": 1, "destructive": False},
    ),
    "extend": (issued, loans.extend_loan, {**EXTEND, "period": "P1M"}),
    "settle": (received, loans.settle_loan, {"number": "L-1", "obligations": "none"}),
    "incident": (
        nothing,
        incidents.report_incident,
        {"sample": BIG, "incident_kind": "loss", "description": "gone"},
    ),
    "correction": (nothing, incidents.record_correction, {"corrects_seq": 2, "text": "note"}),
}

# what happens in the borrower's lab its own researchers record too (issue 14 point 6): OU's
# PI may consume on OU's L-1; an incident on a vault sample answers as a missing sample
LAB_REFUSALS: dict[str, tuple[type[Exception], str] | None] = {
    "consume": None,
    "incident": (NoSuchRecord, rf"sample '{BIG}': no such sample among the records you may read"),
}
for _name, (_setup, _service, _kwargs) in WRITE_SERVICES.items():
    _lab = LAB_REFUSALS.get(
        _name, (PermissionDenied, rf"{OU_PI} is a researcher; only curators may")
    )
    if _lab is not None:  # None: allowed (tests/test_services_roles.py, test_i14_role_matrix.py)
        CASES[f"researcher-{_name}"] = Case(
            _setup, _service, _kwargs, _lab[0], _lab[1], actor=OU_PI
        )
    CASES[f"compliance-officer-{_name}"] = Case(
        _setup,
        _service,
        _kwargs,
        PermissionDenied,
        # a lab event (receive, consume, split) names the borrower's researchers too
        rf"{COMPLIANCE} is a compliance officer; only curators "
        rf"(and the borrowing institution's researchers )?may",
        actor=COMPLIANCE,
    )


def ledger_head(engine: Any) -> tuple[int, str]:
    with Session(engine) as session:
        return store.head(session)


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_refusal_writes_nothing(
    case: Case, engine: Engine, run: Run, db_path: Path, start_from: StartFrom
) -> None:
    start_from(case.setup)
    before, head_before = fingerprint(db_path), ledger_head(engine)
    with pytest.raises(case.error, match=case.match) as caught:
        run(case.service, actor=case.actor, now=case.now, **case.kwargs)
    assert type(caught.value) is case.error
    assert fingerprint(db_path) == before
    assert ledger_head(engine) == head_before


def test_a_refused_call_then_an_allowed_one_appends_exactly_one_event(
    engine: Engine, run: Run
) -> None:
    received(run)
    seq_before, _ = ledger_head(engine)
    with pytest.raises(RuleViolation):
        run(loans.settle_loan, number="L-1", obligations="none")
    assert ledger_head(engine)[0] == seq_before
    with db.transaction(engine) as session:
        assert store.head(session)[0] == seq_before
    run(loans.attest_inventory, number="L-1", actor=OU_PI)
    assert ledger_head(engine)[0] == seq_before + 1
