"""The demo: the 2025 international Chang'e-5 loan round, replayed through the real services.

Each step runs in its own transaction, as a curator at a terminal would run one command. The
clock is simulated (the step's own time), so the story reads in order from April 2025 to the
demo's "today"; the dates of the signing and the collections are the published ones, the
masses and later events are illustrative (see data/README.md). Before the round, the two
gifts of Chang'e-5 material (Russia, Feb 2022; France, Apr 2023) are entered after the fact as
permanent transfers, with illustrative codes and masses adding up to the published 1.5 g each.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from sampleloans.dates import parse_datetime
from sampleloans.db import transaction
from sampleloans.errors import SampleLoansError
from sampleloans.ledger.envelope import Context
from sampleloans.services import agreements, loans, samples, setup, transfers
from sampleloans.units import parse_mass_ug as mass

CURATOR = "curator@naoc.example"
COMPLIANCE = "compliance@naoc.example"
DEMO_TODAY = datetime(2026, 4, 28, 9, 0, tzinfo=UTC)
"""The demo's 'now': one loan (Osaka) is just past due, the others are not."""

# (institution, PI, samples to lend: [(code, split suffix or None, mass)], destructive allowed)
ROUND: list[tuple[str, str, list[tuple[str, str | None, str]], bool]] = [
    ("IPGP", "moynier@ipgp.example", [("CE5C0100YJFM00201", "-01", "300 mg")], True),
    (
        "UoC",
        "muenker@uni-koeln.example",
        [("CE5C0800YJFM00102", "-01", "800 mg"), ("CE5C0000YJYX052", None, "")],
        True,
    ),
    (
        "Osaka",
        "terada@osaka-u.example",
        [("CE5C0000YJYX061", None, ""), ("CE5C0100YJFM00201", "-02", "100 mg")],
        True,
    ),
    ("SUPARCO", "pi@suparco.example", [("CE5Z0200YJFM00103", None, "")], False),
    (
        "OU",
        "anand@open.example",
        [
            ("CE5C0200YJFM00112", None, ""),
            ("CE5C0300YJFM00307", None, ""),
            ("CE5C0500YJFM00415", None, ""),
        ],
        True,
    ),
    ("Brown", "pi@brown.example", [("CE5C0100YJFM00201", "-03", "200 mg")], True),
    ("SBU", "glotch@stonybrook.example", [("CE5C0800YJFM00102", "-02", "500 mg")], True),
]
SIGNED = ("IPGP", "UoC", "Osaka", "SUPARCO", "OU")
# Collection dates (published where known: Cologne 25 Apr, Osaka ~1 May, OU in the UK by 8 May
# 2025, BBC). IPGP's real hand-over (a basalt sample, at a ceremony at NAOC on or before 17 Apr
# 2025) preceded the signing; the demo's IPGP loan is an illustrative regolith split instead,
# collected after the signing, since nothing is issued without a signed agreement.
COLLECTED = {"IPGP": (28, 30), "UoC": (25, 27), "Osaka": (25, 1), "SUPARCO": (30, 3), "OU": (5, 8)}


@dataclass(frozen=True)
class Step:
    """One thing that happened in the demo, for the command line to show."""

    at: datetime
    actor: str
    text: str
    refusal: str | None = None


def _at(month: int, day: int, hour: int = 10, year: int = 2025) -> datetime:
    """A demo timestamp in UTC."""
    return datetime(year, month, day, hour, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Planned:
    """A service call the story will make, and when."""

    at: datetime
    actor: str
    text: str
    action: Callable[..., Any]
    kwargs: dict[str, Any]
    refused: bool = False


class Demo:
    """Collects the story's service calls; they run later in time order."""

    def __init__(self) -> None:
        self.plan: list[Planned] = []

    def do(
        self, at: datetime, actor: str, text: str, action: Callable[..., Any], **kw: Any
    ) -> None:
        """Plan one service call as `actor` at time `at`."""
        self.plan.append(Planned(at, actor, text, action, kw))

    def refused(
        self, at: datetime, actor: str, text: str, action: Callable[..., Any], **kw: Any
    ) -> None:
        """Plan a call that the rules must refuse."""
        self.plan.append(Planned(at, actor, text, action, kw, refused=True))


def _run(engine: Engine, os_user: str, planned: Planned) -> Step:
    """Run one planned call in its own transaction; a planned refusal shows its message."""
    try:
        with transaction(engine) as session:
            planned.action(session, Context(planned.actor, os_user, planned.at), **planned.kwargs)
    except SampleLoansError as error:
        if planned.refused:
            return Step(planned.at, planned.actor, planned.text, refusal=str(error))
        raise
    if planned.refused:
        raise AssertionError(f"the demo expected a refusal: {planned.text}")
    return Step(planned.at, planned.actor, planned.text)


def run_demo(engine: Engine, os_user: str, ledger_id: str | None = None) -> Iterator[Step]:
    """Replay the 2025 round step by step, in time order, yielding each step once recorded.

    A given `ledger_id` makes the whole chain reproducible: two runs with the same id and OS
    account end at the same head, on SQLite and on PostgreSQL alike.
    """
    demo = Demo()
    for chapter in (_setup, _gifts, _agreements, _loans, _research, _later):
        chapter(demo)
    for planned in demo.plan:
        if ledger_id is not None and planned.action is setup.init_ledger:
            planned.kwargs["ledger_id"] = ledger_id
    # sorted() is stable: steps planned for the same moment keep the story's order.
    for planned in sorted(demo.plan, key=lambda p: p.at):
        yield _run(engine, os_user, planned)


def _setup(demo: Demo) -> None:
    """A new ledger with the reference data, demo people and demo samples."""
    demo.do(
        _at(3, 3, 9),
        CURATOR,
        "ledger created with the real reference data (data/)",
        setup.init_ledger,
        curator_name="Li Na (demo curator)",
    )
    demo.do(
        _at(3, 3, 10),
        CURATOR,
        "demo people registered (PIs, compliance officer)",
        setup.add_people_rows,
        rows=setup.read_rows("demo/people.csv"),
    )
    demo.do(
        _at(3, 4, 10),
        CURATOR,
        "demo samples registered in the NAOC vault",
        setup.register_sample_rows,
        rows=setup.read_rows("demo/samples.csv"),
    )


def _gifts(demo: Demo) -> None:
    """The 2022 and 2023 gifts, entered after the fact: samples registered as of the mission's
    return, each gift one permanent transfer at its own date, and the MNHN's custody plan noted."""
    rows = setup.read_rows("demo/gifts.csv")
    demo.do(
        _at(3, 4, 11),
        CURATOR,
        "gift samples registered (as of the mission's return)",
        setup.register_sample_rows,
        rows=rows,
        at_mission_return=True,
    )
    for (recipient, when, reference, note), codes in _gift_groups(rows).items():
        demo.do(
            _at(3, 4, 12),
            CURATOR,
            f"gift of {', '.join(codes)} to {recipient} ({when[:10]}) entered after the fact",
            transfers.transfer_samples,
            codes=codes,
            recipient=recipient,
            reference=reference,
            occurred_at=parse_datetime(when),
        )
        if note:
            demo.do(
                _at(3, 4, 12),
                CURATOR,
                f"custody note on the gift to {recipient}: {note}",
                transfers.record_custody_note,
                code=codes[0],
                note=note,
            )


def _gift_groups(rows: list[setup.Row]) -> dict[tuple[str, str, str, str], list[str]]:
    """The gift rows grouped into transfers: (recipient, date, reference, note) → codes."""
    groups: dict[tuple[str, str, str, str], list[str]] = {}
    for row in rows:
        key = (
            row.get("recipient"),
            row.get("transferred_at"),
            row.get("reference"),
            row.get("custody_note"),
        )
        groups.setdefault(key, []).append(row.get("code"))
    return groups


def _agreements(demo: Demo) -> None:
    """Seven agreements drafted; five signed on 24 Apr 2025, the two US ones stay pending."""
    for institution, _pi, _items, destructive in ROUND:
        demo.do(
            _at(4, 10),
            CURATOR,
            f"agreement AG-2025-{institution} drafted (pending)",
            agreements.create_agreement,
            number=f"AG-2025-{institution}",
            institution=institution,
            term="P5Y",
            max_total_mass_ug=mass("1 g"),
            allowed_purposes=["research"],
            max_loan_period="P1Y",
            destructive_use_allowed=destructive,
            inventory_interval="P1Y",
        )  # renewal: the default one extension of up to 6 months (research loans)
    for institution in SIGNED:
        demo.do(
            _at(4, 24, 8),
            CURATOR,
            f"agreement AG-2025-{institution} signed in Beijing",
            agreements.sign_agreement,
            number=f"AG-2025-{institution}",
            signed_by=f"CNSA and {institution}",  # CNSA signs international agreements
        )


def _loans(demo: Demo) -> None:
    """Splits, requests, approvals, issues and collections in Beijing."""
    for institution, pi, items, _destructive in ROUND:
        codes = []
        for code, suffix, split_mass in items:
            if suffix:
                demo.do(
                    _at(4, 14),
                    CURATOR,
                    f"{code}{suffix} ({split_mass}) split off for {institution}",
                    samples.split_sample,
                    parent=code,
                    children=[(suffix, mass(split_mass))],
                )
            codes.append(code + (suffix or ""))
        number = f"L-2025-{institution}"
        demo.do(
            _at(4, 15),
            CURATOR,
            f"loan {number} requested by {pi}",
            loans.request_loan,
            number=number,
            agreement=f"AG-2025-{institution}",
            pi=pi,
            samples=codes,
            loan_period="P1Y",
        )
        demo.do(_at(4, 22), CURATOR, f"loan {number} approved", loans.approve_loan, number=number)
    for institution in SIGNED:
        _collect(demo, institution)
    demo.refused(
        _at(4, 25, 11),
        CURATOR,
        "issue loan L-2025-Brown (agreement not signed)",
        loans.issue_loan,
        number="L-2025-Brown",
    )


def _collect(demo: Demo, institution: str) -> None:
    """Issue, hand-carry from Beijing and receive with a seal check."""
    number = f"L-2025-{institution}"
    out_day, in_day = COLLECTED[institution]
    out_month = 5 if institution == "OU" else 4
    in_month = out_month if in_day > out_day else out_month + 1
    demo.do(
        _at(out_month, out_day, 8),
        CURATOR,
        f"loan {number} issued",
        loans.issue_loan,
        number=number,
    )
    demo.do(
        _at(out_month, out_day, 9),
        CURATOR,
        f"loan {number} collected in Beijing, hand-carried, seal SL-{institution}-01",
        loans.ship_loan,
        number=number,
        container="triple-sealed N2 container",
        seal_number=f"SL-{institution}-01",
        method="hand_carried",
    )
    demo.do(
        _at(in_month, in_day, 14),
        CURATOR,
        f"loan {number} received, seal intact",
        loans.receive_loan,
        number=number,
        seal_intact=True,
        condition="pristine, no visible change",
    )


def _research(demo: Demo) -> None:
    """Analyses, a borrower's split, a return with settlement and close-out."""
    _analyses_and_split(demo)
    _ipgp_close_out(demo)


def _analyses_and_split(demo: Demo) -> None:
    """Three loans' analyses, in date order, and Osaka's split for its SIMS mounts."""
    demo.do(
        _at(6, 10),
        CURATOR,
        "IPGP: 20.000 mg consumed by Zn isotope analysis (destructive)",
        loans.consume,
        number="L-2025-IPGP",
        sample="CE5C0100YJFM00201-01",
        technique="Zn isotopes, MC-ICP-MS",
        mass_ug=mass("20 mg"),
        destructive=True,
    )
    demo.do(
        _at(6, 20),
        CURATOR,
        "UoC: 5.000 mg of basalt clast consumed by Hf-W dating (destructive)",
        loans.consume,
        number="L-2025-UoC",
        sample="CE5C0000YJYX052",
        technique="Hf-W chronometry, MC-ICP-MS",
        mass_ug=mass("5 mg"),
        destructive=True,
    )
    demo.do(
        _at(7, 2),
        CURATOR,
        "Osaka: split CE5C0000YJYX061-G1 (2.000 mg) for SIMS mounts",
        loans.borrower_split,
        number="L-2025-Osaka",
        parent="CE5C0000YJYX061",
        child="-G1",
        mass_ug=mass("2 mg"),
    )
    demo.do(
        _at(7, 15),
        CURATOR,
        "OU: 0.500 mg used for SEM imaging (non-destructive mount prep)",
        loans.consume,
        number="L-2025-OU",
        sample="CE5C0200YJFM00112",
        technique="SEM-EDS mount preparation",
        mass_ug=mass("0.5 mg"),
        destructive=False,
    )


def _ipgp_close_out(demo: Demo) -> None:
    """IPGP returns what it did not consume; the loan is settled, then closed."""
    demo.do(
        _at(10, 1),
        CURATOR,
        "IPGP: remaining 280.000 mg released for return, seal SL-IPGP-R1",
        loans.release_return,
        number="L-2025-IPGP",
        container="triple-sealed N2 container",
        seal_number="SL-IPGP-R1",
        method="courier",
    )
    demo.do(
        _at(10, 8),
        CURATOR,
        "IPGP: return accepted at NAOC, weighed 280.000 mg, seal intact",
        loans.accept_return,
        number="L-2025-IPGP",
        seal_intact=True,
        condition="unchanged",
        weighed_ug={"CE5C0100YJFM00201-01": mass("280 mg")},
    )
    demo.do(
        _at(10, 20),
        CURATOR,
        "IPGP: loan settled (F-75 return report and publication list filed)",
        loans.settle_loan,
        number="L-2025-IPGP",
        obligations="return report filed; 1 publication reported; consumption report received",
    )
    demo.do(_at(10, 21), CURATOR, "IPGP: loan closed", loans.close_loan, number="L-2025-IPGP")


def _later(demo: Demo) -> None:
    """2026: inventories, an extension, and Osaka left overdue on the demo's 'today'."""
    demo.do(
        _at(3, 16, year=2026),
        CURATOR,
        "UoC: loan extended by 6 months (approved by the NAOC curator)",
        loans.extend_loan,
        number="L-2025-UoC",
        period="P6M",
        approver=CURATOR,
        reason="clean-lab refurbishment delayed the Hf-W analyses",
    )
    for institution, pi in (
        ("UoC", "muenker@uni-koeln.example"),
        ("SUPARCO", "pi@suparco.example"),
        ("OU", "anand@open.example"),
    ):
        demo.do(
            _at(4, 20, year=2026),
            pi,
            f"{institution}: annual inventory attested by the PI",
            loans.attest_inventory,
            number=f"L-2025-{institution}",
            note="all samples present in the clean lab",
        )
