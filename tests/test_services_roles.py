"""T6 at service level: every write service × every role, and researchers' read scope.

Only curators write, except what happens in the borrower's lab (receipt, consumption, a split,
an incident, the inventory), which the loan's own institution records too; every refusal is
`PermissionDenied` (another institution's loan: `NotFound`) with nothing written. Researchers
from another institution are refused or filtered by every list/show read service.
"""

import inspect
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from sampleloans.errors import NotFound, PermissionDenied
from sampleloans.services import (
    agreements,
    catalog,
    history,
    incidents,
    loan_views,
    loans,
    reference,
    samples,
    standing,
)
from tests.conftest import BROWN_PI, COMPLIANCE, CURATOR, NOW, OU_PI, UOC_PI, StartFrom, fingerprint
from tests.factories import draft_agreement, received_loan, signed_agreement

S112 = "CE5C0200YJFM00112"
BIG = "CE5C0100YJFM00201"
Run = Callable[..., Any]
ROLES = {"curator": CURATOR, "compliance": COMPLIANCE, "researcher": OU_PI, "outsider": UOC_PI}


def base(run: Run) -> None:
    """A signed OU agreement, a received OU loan L-1, a pending UoC agreement, an incident."""
    signed_agreement(run, "OU")
    draft_agreement(run, "UoC", number="AG-UoC")
    received_loan(run)
    run(incidents.report_incident, sample=BIG, incident_kind="damage", description="vial cracked")


def brown_deactivated(run: Run) -> None:
    base(run)
    run(reference.deactivate_person, email=BROWN_PI, reason="left")


def requested_l2(run: Run) -> None:
    base(run)
    run(
        loans.request_loan, number="L-2", agreement="AG-OU", pi=OU_PI, samples=["CE5C0300YJFM00307"]
    )


def approved_l2(run: Run) -> None:
    requested_l2(run)
    run(loans.approve_loan, number="L-2")


def issued_l2(run: Run) -> None:
    approved_l2(run)
    run(loans.issue_loan, number="L-2")


def shipped_l2(run: Run) -> None:
    issued_l2(run)
    run(loans.ship_loan, number="L-2", container="box", seal_number="S-9")


def returning(run: Run) -> None:
    base(run)
    run(loans.release_return, number="L-1", container="box", seal_number="S-2")


def returned(run: Run) -> None:
    returning(run)
    run(
        loans.accept_return,
        number="L-1",
        seal_intact=True,
        condition="ok",
        weighed_ug={S112: 20_000},
    )


def settled(run: Run) -> None:
    returned(run)
    run(loans.settle_loan, number="L-1", obligations="report filed")


def incident_seq(run: Run) -> int:
    def read(session: Any, _ctx: Any) -> int:
        from sqlmodel import select

        from sampleloans.models import Incident

        return session.exec(select(Incident.seq)).first()

    return run(read)


# name: (setup, service, kwargs or a function of run giving kwargs)
WRITES: dict[str, tuple[Callable[[Run], Any], Callable[..., Any], Any]] = {
    "add_mission": (base, reference.add_mission, {"code": "CE-7", "name": "Chang'e-7"}),
    "add_institution": (
        base,
        reference.add_institution,
        {
            "short_name": "NEW",
            "name": "New U",
            "country": "Chile",
            "city": "Santiago",
            "institution_kind": "borrower",
        },
    ),
    "add_person": (
        base,
        reference.add_person,
        {"email": "new@open.example", "name": "New", "institution": "OU", "role": "researcher"},
    ),
    "deactivate_person": (
        base,
        reference.deactivate_person,
        {"email": BROWN_PI, "reason": "left"},
    ),
    "reactivate_person": (
        brown_deactivated,
        reference.reactivate_person,
        {"email": BROWN_PI, "reason": "back"},
    ),
    "change_role": (
        base,
        reference.change_role,
        {"email": COMPLIANCE, "role": "curator", "reason": "promoted"},
    ),
    "rename_person": (
        base,
        reference.rename_person,
        {"email": BROWN_PI, "name": "Renamed Person", "reason": "typo"},
    ),
    "rename_institution": (
        base,
        reference.rename_institution,
        {"short_name": "OU", "name": "The Open University (renamed)", "reason": "typo"},
    ),
    "change_institution_place": (
        base,
        reference.change_institution_place,
        {"short_name": "OU", "city": "Milton Keynes", "country": "UK", "reason": "typo"},
    ),
    "register_sample": (
        base,
        samples.register_sample,
        {
            "code": "CE5C0000NEW",
            "mission": "CE-5",
            "mass_ug": 1000,
            "origin": "scoop",
            "material_type": "regolith",
            "physical_form": "powder",
            "purpose_class": "research",
            "storage_location": "NAOC N2 cabinet C",
        },
    ),
    "split_sample": (
        base,
        samples.split_sample,
        {"parent": "CE5C0500YJFM00415", "children": [("-01", 1000)]},
    ),
    "move_sample": (
        base,
        samples.move_sample,
        {"code": "CE5C0500YJFM00415", "storage_location": "shelf"},
    ),
    "create_agreement": (
        base,
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
    "sign_agreement": (base, agreements.sign_agreement, {"number": "AG-UoC", "signed_by": "x"}),
    "end_agreement": (
        base,
        agreements.end_agreement,
        {"number": "AG-UoC", "status": "terminated", "reason": "withdrawn"},
    ),
    "request_loan": (
        base,
        loans.request_loan,
        {"number": "L-2", "agreement": "AG-OU", "pi": OU_PI, "samples": ["CE5C0300YJFM00307"]},
    ),
    "approve_loan": (
        requested_l2,
        loans.approve_loan,
        {"number": "L-2"},
    ),
    "issue_loan": (approved_l2, loans.issue_loan, {"number": "L-2"}),
    "ship_loan": (
        issued_l2,
        loans.ship_loan,
        {"number": "L-2", "container": "box", "seal_number": "S-9"},
    ),
    "receive_loan": (
        shipped_l2,
        loans.receive_loan,
        {"number": "L-2", "seal_intact": True, "condition": "ok"},
    ),
    "consume": (
        base,
        loans.consume,
        {
            "number": "L-1",
            "sample": S112,
            "technique": "SIMS",
            "mass_ug": 1000,
            "destructive": True,
        },
    ),
    "borrower_split": (
        base,
        loans.borrower_split,
        {"number": "L-1", "parent": S112, "child": "-G1", "mass_ug": 1000},
    ),
    "release_return": (
        base,
        loans.release_return,
        {"number": "L-1", "container": "box", "seal_number": "S-2"},
    ),
    "accept_return": (
        returning,
        loans.accept_return,
        {"number": "L-1", "seal_intact": True, "condition": "ok", "weighed_ug": {S112: 20_000}},
    ),
    "extend_loan": (
        base,
        loans.extend_loan,
        {"number": "L-1", "period": "P1M", "approver": CURATOR, "reason": "beam time"},
    ),
    "recall_loan": (
        base,
        loans.recall_loan,
        {"number": "L-1", "due_at": NOW + timedelta(days=30), "reason": "audit"},
    ),
    "attest_inventory": (base, loans.attest_inventory, {"number": "L-1"}),
    "settle_loan": (returned, loans.settle_loan, {"number": "L-1", "obligations": "filed"}),
    "close_loan": (settled, loans.close_loan, {"number": "L-1"}),
    "withdraw_loan": (approved_l2, loans.withdraw_loan, {"number": "L-2", "reason": "declined"}),
    "report_incident": (
        base,
        incidents.report_incident,
        {"sample": S112, "incident_kind": "loss", "description": "gone"},  # held on OU's L-1
    ),
    "resolve_incident": (
        base,
        incidents.resolve_incident,
        lambda run: {"incident_seq": incident_seq(run), "resolution": "checked"},
    ),
    "record_correction": (
        base,
        incidents.record_correction,
        {"corrects_seq": 2, "text": "note"},
    ),
}


LAB = {"receive_loan", "consume", "borrower_split", "report_incident", "attest_inventory"}
"""What happens in the borrower's lab: its own researchers record it too (issue 14 point 6)."""


def allowed(name: str, role: str) -> bool:
    return role == "curator" or (name in LAB and role == "researcher")


def test_matrix_covers_every_write_service() -> None:
    found = set()
    for module in (reference, samples, agreements, loans, incidents):
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if fn.__module__ == module.__name__ and not name.startswith("_"):
                source = inspect.getsource(fn)
                appends = (" append(\n", "return append(", " = append(", "_ship(")
                if any(call in source for call in appends):
                    found.add(name)
    assert found == set(WRITES)


@pytest.mark.parametrize("role", sorted(ROLES))
@pytest.mark.parametrize("name", sorted(WRITES))
def test_write_service_role_matrix(
    name: str, role: str, run: Run, db_path: Any, start_from: StartFrom
) -> None:
    setup, service, kwargs = WRITES[name]
    start_from(setup)
    if callable(kwargs):
        kwargs = kwargs(run)
    now = NOW + timedelta(hours=1)
    before = fingerprint(db_path)
    if allowed(name, role):
        written = run(service, actor=ROLES[role], now=now, **kwargs)
        envelope = getattr(written, "envelope", written)  # a result carries its envelope
        assert envelope is not None
        assert envelope.actor == ROLES[role]
        assert fingerprint(db_path) != before
    else:
        # a researcher elsewhere meets another institution's loan as a missing one
        outsider_lab = name in LAB and role == "outsider"
        with pytest.raises(NotFound if outsider_lab else PermissionDenied):
            run(service, actor=ROLES[role], now=now, **kwargs)
        assert fingerprint(db_path) == before


# --- reads: a researcher from another institution (UoC) never sees OU's records ----------------

REFUSED_READS: dict[str, tuple[Callable[..., Any], dict[str, Any]]] = {
    "show_sample": (catalog.show_sample, {"code": S112}),
    "sample_tree": (catalog.sample_tree, {"code": S112}),
    "show_institution": (catalog.show_institution, {"short_name": "OU"}),
    "list_people-OU": (catalog.list_people, {"institution": "OU"}),
    "show_person": (catalog.show_person, {"email": OU_PI}),
    "list_agreements-OU": (catalog.list_agreements, {"institution": "OU"}),
    "show_agreement": (catalog.show_agreement, {"number": "AG-OU"}),
    "list_loans-OU": (loan_views.list_loans, {"institution": "OU"}),
    "loan_detail": (loan_views.loan_detail, {"number": "L-1"}),
    "history-loan": (history.record_history, {"loan": "L-1"}),
    "history-sample": (history.record_history, {"sample": S112}),
    "history-institution": (history.record_history, {"institution": "OU"}),
    "mass_balance-loan": (standing.mass_balance, {"loan": "L-1"}),
    "mass_balance-sample": (standing.mass_balance, {"sample": S112}),
    "mass_balance-all": (standing.mass_balance, {}),
    "overdue-OU": (standing.overdue, {"institution": "OU"}),
    "loan_status-loan": (standing.loan_status, {"loan": "L-1"}),
    "loan_status-OU": (standing.loan_status, {"institution": "OU"}),
}


def mentions_ou(value: Any) -> bool:
    text = repr(value)
    return any(marker in text for marker in ("'OU'", "L-1", OU_PI, S112, "AG-OU"))


FILTERED_READS: dict[str, tuple[Callable[..., Any], dict[str, Any]]] = {
    "list_samples": (catalog.list_samples, {}),
    "list_institutions": (catalog.list_institutions, {}),
    "list_people": (catalog.list_people, {}),
    "list_agreements": (catalog.list_agreements, {}),
    "list_loans": (loan_views.list_loans, {}),
    "list_incidents": (loan_views.list_incidents, {}),
    "overdue": (standing.overdue, {}),
    "loan_status": (standing.loan_status, {}),
}


def ou_history(run: Run) -> None:
    base(run)
    run(
        incidents.report_incident,
        sample=S112,
        incident_kind="damage",
        description="vial scratched",
    )


@pytest.mark.parametrize("name", sorted(REFUSED_READS))
def test_outsider_is_refused(name: str, run: Run, start_from: StartFrom) -> None:
    start_from(ou_history)
    fn, kwargs = REFUSED_READS[name]
    if name == "mass_balance-all":  # collection-wide: staff only, own researchers too are refused
        with pytest.raises(PermissionDenied):
            run(fn, actor=UOC_PI, **kwargs)
        return
    assert run(fn, actor=OU_PI, **kwargs) is not None  # the own institution may read it
    # another institution's record reads as a missing one: nothing says it exists
    with pytest.raises(NotFound, match="among the records you may read"):
        run(fn, actor=UOC_PI, **kwargs)


@pytest.mark.parametrize("name", sorted(FILTERED_READS))
def test_outsider_sees_nothing_of_other_institutions(
    name: str, run: Run, start_from: StartFrom
) -> None:
    start_from(ou_history)
    fn, kwargs = FILTERED_READS[name]
    staff_view = run(fn, actor=COMPLIANCE, **kwargs) if name != "loan_status" else None
    own_view = run(fn, actor=OU_PI, **kwargs)
    outsider_view = run(fn, actor=UOC_PI, **kwargs)
    assert not mentions_ou(outsider_view), outsider_view
    if name not in ("overdue", "loan_status"):  # L-1 is not overdue; staff need --institution
        assert mentions_ou(own_view) and mentions_ou(staff_view)
