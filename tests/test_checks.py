"""Each invariant check on a hand-built snapshot: a broken row is reported, a good one is not."""

from collections.abc import Callable
from datetime import UTC, datetime
from types import SimpleNamespace as Row

import pytest

from sampleloans.errors import Conflict
from sampleloans.ledger import checks
from sampleloans.ledger.checks import ItemFigures, SampleFigures, Snapshot, Violation
from sampleloans.vocab import state_words


def sample(code: str = "S1", **kw: object) -> Row:
    values = {
        "code": code,
        "initial_mass_ug": 100,
        "vault_ug": 100,
        "on_loan_ug": 0,
        "split_ug": 0,
        "consumed_ug": 0,
        "lost_ug": 0,
        "transferred_ug": 0,
        "custody_state": "vault",
        "loan_number": None,
        "purpose_class": "research",
        "frozen": False,
    }
    values.update(kw)
    return Row(**values)


def item(code: str = "S1", loan: str = "L-1", **kw: object) -> Row:
    values = {
        "loan_number": loan,
        "sample_code": code,
        "issued_ug": 100,
        "held_ug": 100,
        "consumed_ug": 0,
        "returned_ug": 0,
        "transferred_ug": 0,
        "split_ug": 0,
        "lost_ug": 0,
        "state": "held",
    }
    values.update(kw)
    return Row(**values)


def on_loan(code: str = "S1", loan: str = "L-1", **kw: object) -> Row:
    values: dict[str, object] = {
        "vault_ug": 0,
        "on_loan_ug": 100,
        "custody_state": "held",
        "loan_number": loan,
    }
    values.update(kw)
    return sample(code, **values)


GOOD_SAMPLES: list[SampleFigures] = [
    sample(),
    sample("S2", vault_ug=40, split_ug=50, consumed_ug=0, lost_ug=10),
    on_loan("S3", loan="L-1"),
]


def good_snapshot() -> Snapshot:
    return Snapshot(
        samples=[
            sample("P", vault_ug=60, split_ug=30, lost_ug=10),
            sample("P-01", initial_mass_ug=30, vault_ug=30),
            on_loan("S3", loan="L-1", on_loan_ug=70, consumed_ug=30),
        ],
        children={"P": [sample("P-01", initial_mass_ug=30, vault_ug=30)]},
        items=[item("S3", "L-1", held_ug=70, consumed_ug=30)],
        loans=[Row(number="L-1", status="received"), Row(number="L-0", status="closed")],
        agreements=[Row(number="AG", max_total_mass_ug=100)],
        open_incident_samples=set(),
        agreement_issued_ug={"AG": 100},
    )


@pytest.mark.parametrize("check", checks.ALL_CHECKS, ids=lambda c: c.__name__)
def test_every_check_is_silent_on_a_good_snapshot(
    check: Callable[[Snapshot], list[Violation]],
) -> None:
    assert check(good_snapshot()) == []


def test_run_checks_is_silent_on_a_good_snapshot_and_reports_every_break() -> None:
    assert checks.run_checks(good_snapshot()) == []
    broken = good_snapshot()
    broken.samples[0].vault_ug -= 1  # conservation
    broken.items[0].held_ug += 1  # item balance and custody
    broken.agreement_issued_ug["AG"] = 101  # agreement mass
    names = {v.check for v in checks.run_checks(broken)}
    assert names == {"mass_conservation", "loan_item_balance", "custody", "agreement_terms"}


@pytest.mark.parametrize(
    "row",
    [
        sample(vault_ug=99),
        sample(vault_ug=101),
        sample(vault_ug=110, lost_ug=-10),
        sample(vault_ug=50, on_loan_ug=50, consumed_ug=1),
    ],
)
def test_sample_conservation(row: SampleFigures) -> None:
    assert checks.check_sample_conservation(Snapshot(samples=GOOD_SAMPLES)) == []
    (violation,) = checks.check_sample_conservation(Snapshot(samples=[row]))
    assert violation.check == "mass_conservation"
    assert violation.record == "sample S1"
    assert f"vault {row.vault_ug}" in violation.message


def test_split_balance() -> None:
    parent = sample("P", vault_ug=50, split_ug=50)
    good = Snapshot(samples=[parent], children={"P": [sample("P-1", initial_mass_ug=50)]})
    assert checks.check_split_balance(good) == []
    bad = Snapshot(samples=[parent], children={"P": [sample("P-1", initial_mass_ug=49)]})
    (violation,) = checks.check_split_balance(bad)
    assert violation.check == "split_balance"
    assert "split 50 µg but its children's initial masses add up to 49 µg" in violation.message
    (orphan,) = checks.check_split_balance(Snapshot(samples=[parent]))
    assert "add up to 0 µg" in orphan.message


@pytest.mark.parametrize(
    "row",
    [
        item(held_ug=99),
        item(held_ug=90, consumed_ug=5, returned_ug=5, lost_ug=1),
        item(held_ug=110, consumed_ug=-10),
        item(held_ug=0, transferred_ug=50, split_ug=49),
    ],
)
def test_item_balance(row: ItemFigures) -> None:
    good: list[ItemFigures] = [
        item(),
        item(
            "S2",
            held_ug=0,
            consumed_ug=10,
            returned_ug=60,
            transferred_ug=5,
            split_ug=20,
            lost_ug=5,
        ),
    ]
    assert checks.check_item_balance(Snapshot(items=good)) == []
    (violation,) = checks.check_item_balance(Snapshot(items=[row]))
    assert violation.check == "loan_item_balance"
    assert violation.record == "loan L-1 item S1"


@pytest.mark.parametrize(
    "samples_,items_,expected",
    [
        ([sample(custody_state="lent")], [], "unknown state lent"),
        (
            [on_loan(on_loan_ug=200)],
            [item(loan="L-1"), item(loan="L-2")],
            "on more than one loan (L-1, L-2)",
        ),
        ([on_loan(on_loan_ug=90)], [item()], "90 µg on loan but its loan items hold 100 µg"),
        (
            [on_loan(loan="L-9")],
            [item()],
            "custody says held by the borrower on L-9, which disagrees with loan L-1 (held by the "
            "borrower)",
        ),
        (
            [on_loan(custody_state="in_transit")],
            [item()],
            "custody says on its way to the borrower on L-1, which disagrees",
        ),
        ([on_loan(on_loan_ug=0)], [], "held by the borrower but on no active loan"),
        ([sample()], [item(held_ug=100)], "0 µg on loan but its loan items hold 100 µg"),
    ],
)
def test_custody(samples_: list[SampleFigures], items_: list[ItemFigures], expected: str) -> None:
    good = Snapshot(
        samples=[sample(), on_loan("S3")],
        items=[item("S3"), item("S1", loan="L-0", state="returned", held_ug=0, returned_ug=100)],
    )
    assert checks.check_custody(good) == []
    violations = checks.check_custody(Snapshot(samples=samples_, items=items_))
    assert violations, expected
    assert all(v.check == "custody" for v in violations)
    assert any(expected in v.message for v in violations), [v.message for v in violations]


@pytest.mark.parametrize("purpose", ["permanent", "backup"])
def test_never_lent(purpose: str) -> None:
    good = Snapshot(
        samples=[sample(purpose_class=purpose), sample("S2")],
        items=[item("S2"), item("S1", issued_ug=0, held_ug=0, state="requested")],
    )
    assert checks.check_never_lent(good) == []
    bad = Snapshot(samples=[sample(purpose_class=purpose)], items=[item()])
    (violation,) = checks.check_never_lent(bad)
    assert violation.check == "never_lent"
    assert f"sample S1 is {purpose} storage but was issued on loan L-1" == violation.message


@pytest.mark.parametrize(
    "frozen,open_incident,broken",
    [(False, False, False), (True, True, False), (True, False, True), (False, True, True)],
)
def test_frozen(frozen: bool, open_incident: bool, broken: bool) -> None:
    snapshot = Snapshot(
        samples=[sample(frozen=frozen)], open_incident_samples={"S1"} if open_incident else set()
    )
    violations = checks.check_frozen(snapshot)
    assert len(violations) == int(broken)
    if broken:
        assert violations[0].check == "incident_freeze"
        assert f"frozen={frozen} but open incident={open_incident}" in violations[0].message


@pytest.mark.parametrize("issued,broken", [(0, False), (100, False), (101, True), (10**9, True)])
def test_agreement_mass(issued: int, broken: bool) -> None:
    snapshot = Snapshot(
        agreements=[Row(number="AG", max_total_mass_ug=100)],
        agreement_issued_ug={"AG": issued},
    )
    violations = checks.check_agreement_mass(snapshot)
    assert len(violations) == int(broken)
    if broken:
        assert violations[0].check == "agreement_terms"
        assert f"{issued} µg issued, more than its maximum 100 µg" in violations[0].message


@pytest.mark.parametrize(
    "status,held,broken",
    [
        ("received", 100, False),
        ("settled", 0, False),
        ("closed", 0, False),
        ("settled", 1, True),
        ("closed", 100, True),
    ],
)
def test_closed_loans(status: str, held: int, broken: bool) -> None:
    snapshot = Snapshot(
        loans=[Row(number="L-1", status=status)],
        items=[item(held_ug=held), item("S2", held_ug=0, returned_ug=100)],
    )
    violations = checks.check_closed_loans(snapshot)
    assert len(violations) == int(broken)
    if broken:
        assert violations[0].check == "loan_closure"
        said = f"loan L-1 is {state_words(status)} with {held} µg unaccounted"
        assert violations[0].message == said


@pytest.mark.parametrize(
    "action,allowed",
    [
        ("approve", "requested"),
        ("issue", "approved"),
        ("ship", "issued"),
        ("receive", "in_transit"),
        ("close", "settled"),
    ],
)
def test_require_loan_transition(action: str, allowed: str) -> None:
    issued_at = datetime(2025, 5, 1, tzinfo=UTC)  # a loan that went out (not one withdrawn)
    allowed_loan = Row(number="L-1", status=allowed, issued_at=None, last_event_at=None)
    checks.require_loan_transition(allowed_loan, action)
    for status in ("requested", "approved", "issued", "in_transit", "received", "closed"):
        if status in checks.LOAN_TRANSITIONS[action]:
            continue
        loan = Row(number="L-1", status=status, issued_at=issued_at, last_event_at=issued_at)
        with pytest.raises(Conflict, match=f"loan L-1 is {state_words(status)}; cannot"):
            checks.require_loan_transition(loan, action)


def test_every_check_is_listed_in_all_checks() -> None:
    defined = {
        name for name in dir(checks) if name.startswith("check_") and name != "check_touched"
    }
    assert defined == {c.__name__ for c in checks.ALL_CHECKS}
