"""Build agreements and loans through the services (never raw SQL)."""

from collections.abc import Callable
from datetime import timedelta

from sampleloans.services import agreements, loans
from sampleloans.units import parse_mass_ug as mass
from tests.conftest import NOW

Run = Callable[..., object]


def signed_agreement(
    run: Run,
    institution: str = "OU",
    *,
    number: str | None = None,
    max_mass: str = "1 g",
    destructive: bool = True,
    max_extensions: int = 2,
) -> str:
    """Draft and sign an agreement; returns its number."""
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
    )
    run(agreements.sign_agreement, number=number, signed_by="LESEC and partner")
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
    run(loans.request_loan, number=number, agreement=agreement, pi=pi, samples=list(samples))
    run(loans.approve_loan, number=number)
    run(loans.issue_loan, number=number)
    return number


def received_loan(run: Run, **kw: object) -> str:
    """An issued loan shipped and received by the borrower."""
    number = issued_loan(run, **kw)  # type: ignore[arg-type]
    run(loans.ship_loan, number=number, container="N2 box", seal_number="S-1")
    run(loans.receive_loan, number=number, seal_intact=True, condition="pristine")
    return number


LATER = NOW + timedelta(days=30)
