"""Build agreements and loans through the services (never raw SQL)."""

from datetime import timedelta

from sqlmodel import Session

from sampleloans.models import LoanItem
from sampleloans.services import agreements, incidents, loans
from sampleloans.services import samples as samples_service
from sampleloans.units import parse_mass_ug as mass
from tests.conftest import NOW, Run


def signed_agreement(
    run: Run,
    institution: str = "OU",
    *,
    number: str | None = None,
    max_mass: str = "1 g",
    destructive: bool = True,
    max_extensions: int = 2,
    inventory_interval: str = "P1Y",
) -> str:
    """Draft and sign an agreement; returns its number."""
    number = draft_agreement(
        run,
        institution,
        number=number,
        max_mass=max_mass,
        destructive=destructive,
        max_extensions=max_extensions,
        inventory_interval=inventory_interval,
    )
    run(agreements.sign_agreement, number=number, signed_by="LESEC and partner")
    return number


def draft_agreement(
    run: Run,
    institution: str = "OU",
    *,
    number: str | None = None,
    max_mass: str = "1 g",
    destructive: bool = True,
    max_extensions: int = 2,
    inventory_interval: str = "P1Y",
) -> str:
    """Draft an agreement (pending, not signed); returns its number."""
    number = number or f"AG-{institution}"
    run(
        agreements.create_agreement,
        number=number,
        institution=institution,
        term="P5Y",
        max_total_mass_ug=mass(max_mass),
        allowed_purposes=["research"],
        max_loan_period="P1Y",
        destructive_use_allowed=destructive,
        max_extensions=max_extensions,
        inventory_interval=inventory_interval,
    )
    return number


def approved_loan(
    run: Run,
    *,
    number: str = "L-1",
    agreement: str = "AG-OU",
    pi: str = "anand@open.example",
    samples: tuple[str, ...] = ("CE5C0200YJFM00112",),
    loan_period: str | None = None,
) -> str:
    """Request and approve a loan (not issued); returns its number."""
    run(
        loans.request_loan,
        number=number,
        agreement=agreement,
        pi=pi,
        samples=list(samples),
        loan_period=loan_period,
    )
    run(loans.approve_loan, number=number)
    return number


def issued_loan(
    run: Run,
    *,
    number: str = "L-1",
    agreement: str = "AG-OU",
    pi: str = "anand@open.example",
    samples: tuple[str, ...] = ("CE5C0200YJFM00112",),
) -> str:
    """Request, approve and issue a loan; returns its number."""
    approved_loan(run, number=number, agreement=agreement, pi=pi, samples=samples)
    run(loans.issue_loan, number=number)
    return number


def received_loan(
    run: Run,
    *,
    number: str = "L-1",
    agreement: str = "AG-OU",
    pi: str = "anand@open.example",
    samples: tuple[str, ...] = ("CE5C0200YJFM00112",),
) -> str:
    """An issued loan shipped and received by the borrower."""
    issued_loan(run, number=number, agreement=agreement, pi=pi, samples=samples)
    run(loans.ship_loan, number=number, container="N2 box", seal_number="S-1")
    run(loans.receive_loan, number=number, seal_intact=True, condition="pristine")
    return number


def returned_loan(
    run: Run,
    *,
    number: str = "L-1",
    agreement: str = "AG-OU",
    pi: str = "anand@open.example",
    samples: tuple[str, ...] = ("CE5C0200YJFM00112",),
) -> str:
    """A received loan released for return and accepted back whole."""
    received_loan(run, number=number, agreement=agreement, pi=pi, samples=samples)
    run(loans.release_return, number=number, container="N2 box", seal_number="S-2")
    run(
        loans.accept_return,
        number=number,
        seal_intact=True,
        condition="pristine",
        weighed_ug={code: held_ug(run, number, code) for code in samples},
    )
    return number


def held_ug(run: Run, number: str, code: str) -> int:
    """What the borrower holds of one sample on one loan."""

    def read(session: Session, _ctx: object) -> int:
        item = session.get(LoanItem, (number, code))
        assert item is not None
        return item.held_ug

    return run(read)


def rich_history(run: Run) -> None:
    """A varied history: split, agreements, two loans through their lifecycle, an incident."""
    run(
        samples_service.split_sample,
        parent="CE5C0100YJFM00201",
        children=[("-01", mass("20 mg")), ("-02", mass("30 mg"))],
        loss_ug=mass("1 mg"),
    )
    signed_agreement(run, "OU")
    signed_agreement(run, "UoC", max_mass="3 g")
    received_loan(run, number="L-1", samples=("CE5C0200YJFM00112", "CE5C0300YJFM00307"))
    run(
        loans.consume,
        number="L-1",
        sample="CE5C0200YJFM00112",
        technique="SIMS",
        mass_ug=mass("2 mg"),
        destructive=True,
    )
    run(
        loans.borrower_split,
        number="L-1",
        parent="CE5C0300YJFM00307",
        child="-A",
        mass_ug=mass("5 mg"),
    )
    run(
        loans.extend_loan,
        number="L-1",
        period="P3M",
        approver="curator@naoc.example",
        reason="beam time moved",
    )
    run(loans.attest_inventory, number="L-1", actor="anand@open.example")
    run(loans.release_return, number="L-1", container="N2 box", seal_number="S-9")
    run(
        loans.accept_return,
        number="L-1",
        seal_intact=True,
        condition="pristine",
        weighed_ug={
            "CE5C0200YJFM00112": mass("18 mg"),
            "CE5C0300YJFM00307": mass("15 mg"),
            "CE5C0300YJFM00307-A": mass("5 mg"),
        },
    )
    run(loans.settle_loan, number="L-1", obligations="results shared")
    run(loans.close_loan, number="L-1")
    received_loan(
        run,
        number="L-2",
        agreement="AG-UoC",
        pi="muenker@uni-koeln.example",
        samples=("CE5C0800YJFM00102",),
    )
    envelope = run(
        incidents.report_incident,
        sample="CE5C0800YJFM00102",
        incident_kind="loss",
        description="vial cracked",
        mass_lost_ug=mass("1 mg"),
    )
    run(incidents.resolve_incident, incident_seq=envelope.seq, resolution="vial replaced")
    run(
        incidents.record_correction,
        corrects_seq=envelope.seq,
        text="the vial was cracked, not lost",
    )
    run(samples_service.move_sample, code="CE5C0500YJFM00415", storage_location="NAOC N2 cabinet D")


LATER = NOW + timedelta(days=30)
