"""The catalog read services: what each role sees, sorting, and the derived fields."""

import pytest

from sampleloans.errors import InvalidInput, NotFound, PermissionDenied
from sampleloans.services import catalog, loans, samples
from sampleloans.units import parse_mass_ug as mass
from tests.conftest import COMPLIANCE, CURATOR, OU_PI, UOC_PI, Run
from tests.factories import issued_loan, received_loan, signed_agreement

OU_SAMPLE = "CE5C0200YJFM00112"


def test_list_samples_sorted_with_masses_for_staff(run: Run) -> None:
    rows = run(catalog.list_samples, actor=COMPLIANCE)
    codes = [r.code for r in rows]
    assert codes == sorted(codes)
    assert OU_SAMPLE in codes and "CE5C0400YJFM00505" in codes
    row = next(r for r in rows if r.code == OU_SAMPLE)
    assert (row.initial_mass_ug, row.vault_ug, row.custody_state) == (20_000, 20_000, "vault")
    assert row.custodian == "NAOC" and row.loan_number is None


def test_list_samples_filters_by_state_and_mission(run: Run) -> None:
    signed_agreement(run)
    issued_loan(run)
    on_loan = run(catalog.list_samples, state="on-loan")
    assert [r.code for r in on_loan] == [OU_SAMPLE]
    assert on_loan[0].custody_state == "issued" and on_loan[0].on_loan_ug == 20_000
    assert OU_SAMPLE not in [r.code for r in run(catalog.list_samples, state="vault")]
    assert run(catalog.list_samples, mission="CE-6") == []
    with pytest.raises(InvalidInput, match=r"^--state: 'away' is not one of vault, on-loan"):
        run(catalog.list_samples, state="away")


def test_researcher_sees_only_samples_on_own_loans(run: Run) -> None:
    assert run(catalog.list_samples, actor=OU_PI) == []
    signed_agreement(run)
    issued_loan(run)
    assert [r.code for r in run(catalog.list_samples, actor=OU_PI)] == [OU_SAMPLE]
    assert run(catalog.list_samples, actor=UOC_PI) == []
    assert run(catalog.show_sample, code=OU_SAMPLE, actor=OU_PI).loan_number == "L-1"
    with pytest.raises(
        NotFound, match=rf"^sample '{OU_SAMPLE}': no such sample among the records you"
    ):
        run(catalog.show_sample, code=OU_SAMPLE, actor=UOC_PI)
    with pytest.raises(
        NotFound, match=r"^sample 'CE5C0400YJFM00505': no such sample among the rec"
    ):
        run(catalog.show_sample, code="CE5C0400YJFM00505", actor=OU_PI)


def test_show_sample_children_and_unknown(run: Run) -> None:
    run(
        samples.split_sample,
        parent="CE5C0400YJFM00505",
        children=[("-G2", 5_000), ("-G1", 20_000)],
        loss_ug=100,
    )
    view = run(catalog.show_sample, code="CE5C0400YJFM00505")
    assert view.children == ("CE5C0400YJFM00505-G1", "CE5C0400YJFM00505-G2")
    assert view.vault_ug + view.split_ug + view.lost_ug == view.initial_mass_ug
    assert run(catalog.show_sample, code="CE5C0400YJFM00505-G1").parent_code == "CE5C0400YJFM00505"
    with pytest.raises(NotFound, match="sample 'NOPE': no such sample"):
        run(catalog.show_sample, code="NOPE")


def test_tree_from_root_includes_borrower_splits(run: Run) -> None:
    run(samples.split_sample, parent="CE5C0400YJFM00505", children=[("-G1", 20_000)])
    signed_agreement(run)
    received_loan(run, samples=("CE5C0400YJFM00505-G1",))
    run(
        loans.borrower_split,
        number="L-1",
        parent="CE5C0400YJFM00505-G1",
        child="-F1",
        mass_ug=mass("1 mg"),
    )
    root = run(catalog.sample_tree, code="CE5C0400YJFM00505-G1-F1", actor=COMPLIANCE)
    assert root.code == "CE5C0400YJFM00505"
    (g1,) = root.children
    assert (g1.code, g1.custody_state, g1.on_loan_ug) == ("CE5C0400YJFM00505-G1", "held", 19_000)
    (f1,) = g1.children
    assert (f1.code, f1.custodian, f1.loan_number) == ("CE5C0400YJFM00505-G1-F1", "OU", "L-1")
    own = run(catalog.sample_tree, code="CE5C0400YJFM00505-G1", actor=OU_PI)
    assert (own.code, [c.code for c in own.children]) == (g1.code, [f1.code])  # no ancestors
    with pytest.raises(NotFound):
        run(catalog.sample_tree, code="CE5C0400YJFM00505", actor=OU_PI)


def test_institutions_counts_and_access(run: Run) -> None:
    signed_agreement(run)
    issued_loan(run)
    rows = run(catalog.list_institutions, actor=CURATOR, kind="borrower")
    assert [r.short_name for r in rows] == sorted(r.short_name for r in rows)
    assert {r.kind for r in rows} == {"borrower"}
    ou = run(catalog.show_institution, short_name="OU", actor=OU_PI)
    assert (ou.people, ou.agreements, ou.loans) == (1, 1, 1)
    assert [r.short_name for r in run(catalog.list_institutions, actor=OU_PI)] == ["OU"]
    with pytest.raises(
        NotFound, match=r"^institution 'UoC': no such institution among the records you"
    ):
        run(catalog.show_institution, short_name="UoC", actor=OU_PI)
    with pytest.raises(NotFound, match="institution 'XX': no such institution"):
        run(catalog.show_institution, short_name="XX")


def test_people_filters_and_access(run: Run) -> None:
    staff = run(catalog.list_people, institution="NAOC")
    assert [p.email for p in staff] == [COMPLIANCE, CURATOR]
    researchers = run(catalog.list_people, role="researcher")
    assert [p.email for p in researchers][:1] == [OU_PI]
    assert {p.role for p in researchers} == {"researcher"}
    assert [p.email for p in run(catalog.list_people, actor=OU_PI)] == [OU_PI]
    assert run(catalog.show_person, email="Anand@Open.example", actor=OU_PI).institution == "OU"
    with pytest.raises(
        NotFound, match=r"^institution 'UoC': no such institution among the records you"
    ):
        run(catalog.list_people, institution="UoC", actor=OU_PI)
    with pytest.raises(
        NotFound, match=rf"^person '{CURATOR}': no such person among the records you"
    ):
        run(catalog.show_person, email=CURATOR, actor=OU_PI)


def test_agreements_in_force_and_issued_mass(run: Run) -> None:
    signed_agreement(run, "UoC")
    signed_agreement(run)
    issued_loan(run)
    rows = run(catalog.list_agreements)
    assert [a.number for a in rows] == ["AG-OU", "AG-UoC"]
    ou = run(catalog.show_agreement, number="AG-OU", actor=OU_PI)
    assert ou.in_force and ou.status == "signed" and ou.term == "P5Y"
    assert (ou.issued_ug, ou.max_total_mass_ug, ou.loans) == (20_000, 1_000_000, 1)
    assert ou.allowed_purposes == ("research",)
    assert [a.number for a in run(catalog.list_agreements, actor=OU_PI)] == ["AG-OU"]
    assert run(catalog.list_agreements, status="pending") == []
    with pytest.raises(
        NotFound, match=r"^agreement 'AG-UoC': no such agreement among the records you"
    ):
        run(catalog.show_agreement, number="AG-UoC", actor=OU_PI)
    with pytest.raises(
        NotFound, match=r"^institution 'UoC': no such institution among the records you"
    ):
        run(catalog.list_agreements, institution="UoC", actor=OU_PI)


def test_unregistered_reader_is_refused(run: Run) -> None:
    with pytest.raises(PermissionDenied, match=r"'nobody@x\.example' is not a registered person"):
        run(catalog.list_samples, actor="nobody@x.example")
