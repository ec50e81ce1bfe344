"""T1: a hypothesis state machine over the whole lifecycle, checked against a model.

Every rule calls one service (in its own transaction, as the CLI does) with an outcome the
model predicts: success (exactly one new event, the model updated) or refusal (a
`SampleLoansError`, zero new events). Any other exception is a bug. After every step the
invariants of RELIABILITY.md are checked against the database and the model: mass
conservation (`checks.run_checks` on everything, and model masses = database masses), one
custodian, only allowed loan transitions, append-only (every earlier event row byte-identical),
the chain links, and replay = projections (`verify`, every `VERIFY_EVERY` steps and at teardown).

Fast tier: `FAST_EXAMPLES` × `FAST_STEPS`; soak (`SAMPLELOANS_SOAK=1`): 5,000 × 100, or
`SAMPLELOANS_SOAK_EXAMPLES` / `SAMPLELOANS_SOAK_STEPS`. The seed is printed; set
`SAMPLELOANS_SEED` to rerun one.
"""

import os
import random
import sqlite3
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import hypothesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import text

from sampleloans import db
from sampleloans.errors import SampleLoansError
from sampleloans.ledger import chain, checks
from sampleloans.ledger.store import Context
from sampleloans.models import Loan, LoanItem, Sample
from sampleloans.services import agreements, incidents, loans, setup
from sampleloans.services import samples as samples_service
from sampleloans.services import verify as verify_service

T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
CURATOR = "curator@naoc.example"
COMPLIANCE = "compliance@naoc.example"
PIS = {"OU": "anand@open.example", "UoC": "muenker@uni-koeln.example"}
OUTSIDER = "moynier@ipgp.example"  # a researcher at IPGP, which never borrows here
NEVER_LENT = ("CE5C0900YJFM00001", "CE5C0900YJFM00002")
MG = 1000
SOAK = os.environ.get("SAMPLELOANS_SOAK") == "1"
FAST_EXAMPLES, FAST_STEPS = 100, 40
VERIFY_EVERY = 25 if SOAK else 0  # 0: replay = projections at teardown only

ALLOWED_LOAN_MOVES = {
    (None, "requested"),
    ("requested", "approved"),
    ("approved", "issued"),
    ("issued", "in_transit"),
    ("in_transit", "received"),
    ("received", "return_in_transit"),
    ("return_in_transit", "received"),
    ("return_in_transit", "returned"),
    ("received", "settled"),
    ("returned", "settled"),
    ("settled", "closed"),
}
ON_LOAN = ("issued", "in_transit", "received", "return_in_transit")
ALL_BUT_CLOSED = ("requested", "approved", *ON_LOAN, "returned", "settled")
SAMPLE_COLUMNS = (
    "initial_mass_ug",
    "vault_ug",
    "on_loan_ug",
    "split_ug",
    "consumed_ug",
    "lost_ug",
    "custody_state",
    "loan_number",
    "frozen",
)
ITEM_COLUMNS = (
    "issued_ug",
    "held_ug",
    "consumed_ug",
    "returned_ug",
    "split_ug",
    "lost_ug",
    "state",
)


# --- the model -------------------------------------------------------------------------------


@dataclass
class MSample:
    initial_mass_ug: int
    purpose: str = "research"
    vault_ug: int = 0
    on_loan_ug: int = 0
    split_ug: int = 0
    consumed_ug: int = 0
    lost_ug: int = 0
    custody_state: str = "vault"
    loan_number: str | None = None
    frozen: bool = False


@dataclass
class MItem:
    source: str = "issued"
    issued_ug: int = 0
    held_ug: int = 0
    consumed_ug: int = 0
    returned_ug: int = 0
    split_ug: int = 0
    lost_ug: int = 0
    state: str = "requested"


@dataclass
class MAgreement:
    institution: str
    max_ug: int
    destructive: bool
    max_extensions: int
    status: str = "pending"
    issued_ug: int = 0


@dataclass
class MLoan:
    agreement: str
    institution: str
    status: str = "requested"
    extensions: int = 0
    items: dict[str, MItem] = field(default_factory=dict)


OUTCOMES: Counter[str] = Counter()
"""How often each service succeeded or was refused in this process (printed by the test)."""


class Bug(AssertionError):
    """The system and the model disagree, or an invariant failed."""


# --- one template ledger, copied into a fresh in-memory database per example ------------------

_TEMPLATE: sqlite3.Connection | None = None


def template() -> sqlite3.Connection:
    """The initialised demo ledger, built once per process."""
    global _TEMPLATE
    if _TEMPLATE is None:
        engine = db.make_engine("sqlite://")
        db.create_schema(engine)
        ctx = Context(actor=CURATOR, os_user="tester", now=T0)
        with db.transaction(engine) as session:
            setup.init_ledger(session, ctx, curator_name="Li Na (test curator)")
            setup.add_people_rows(session, ctx, setup.read_rows("demo/people.csv"))
            setup.register_sample_rows(session, ctx, setup.read_rows("demo/samples.csv"))
        copy = sqlite3.connect(":memory:", check_same_thread=False)
        with engine.connect() as connection:
            connection.connection.driver_connection.backup(copy)  # type: ignore[union-attr]
        engine.dispose()
        _TEMPLATE = copy
    return _TEMPLATE


def fresh_engine() -> Any:
    """A private in-memory copy of the template ledger."""
    engine = db.make_engine("sqlite://")
    with engine.connect() as connection:
        template().backup(connection.connection.driver_connection)  # type: ignore[arg-type]
    return engine


class LifecycleMachine(RuleBasedStateMachine):
    """Drives the services; `self.m_*` is the model."""

    def __init__(self) -> None:
        super().__init__()
        self.engine = fresh_engine()
        self.now = T0 + timedelta(hours=1)
        self.steps = 0
        self.m_samples: dict[str, MSample] = {}
        self.m_agreements: dict[str, MAgreement] = {}
        self.m_loans: dict[str, MLoan] = {}
        self.m_incidents: dict[int, tuple[str, bool]] = {}  # seq -> (sample, open)
        self.counter = 0
        self.forced_loan: str | None = None
        with self.engine.connect() as c:
            self.events: list[tuple[Any, ...]] = [
                tuple(r) for r in c.execute(text("SELECT * FROM ledger_event ORDER BY seq"))
            ]
            for row in c.execute(
                text(f"SELECT code, purpose_class, {', '.join(SAMPLE_COLUMNS)} FROM sample")
            ):
                self.m_samples[row[0]] = MSample(
                    initial_mass_ug=row[2], purpose=row[1], vault_ug=row[3]
                )
        self.expected_events = len(self.events)
        self.db_loan_status: dict[str, str] = {}

    # --- calling a service ----------------------------------------------------------------

    def call(self, expect_ok: bool, fn: Any, actor: str = CURATOR, **kwargs: Any) -> Any:
        """Run one service in its own transaction and hold it to the model's prediction."""
        self.now += timedelta(minutes=1)
        ctx = Context(actor=actor, os_user="tester", now=self.now)
        name = getattr(fn, "__name__", str(fn))
        try:
            with db.transaction(self.engine) as session:
                result = fn(session, ctx, **kwargs)
        except SampleLoansError as refusal:
            OUTCOMES[f"{name} refused"] += 1
            if expect_ok:
                raise Bug(
                    f"{name}({kwargs}) as {actor}: model expected success, refused: {refusal}"
                ) from refusal
            self._check_event_count(name, 0)
            return None
        OUTCOMES[f"{name} ok"] += 1
        if not expect_ok:
            raise Bug(f"{name}({kwargs}) as {actor}: model expected a refusal, but it succeeded")
        self.expected_events += 1
        self._check_event_count(name, 1)
        return result

    def _check_event_count(self, name: str, new: int) -> None:
        with self.engine.connect() as c:
            count = c.execute(text("SELECT count(*) FROM ledger_event")).scalar_one()
        if count != self.expected_events:
            raise Bug(
                f"{name}: {count - (self.expected_events - new)} new event(s), expected {new} "
                f"(one per successful command, none per refusal)"
            )

    def next_code(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    # --- model helpers --------------------------------------------------------------------

    def lendable(self, code: str) -> bool:
        s = self.m_samples[code]
        return (
            s.purpose not in ("permanent", "backup")
            and not s.frozen
            and s.custody_state == "vault"
            and s.vault_ug > 0
        )

    def active_loans(self, *statuses: str) -> list[str]:
        return sorted(n for n, loan in self.m_loans.items() if loan.status in statuses)

    def open_incident_samples(self) -> set[str]:
        return {code for code, is_open in self.m_incidents.values() if is_open}

    # --- rules: samples -------------------------------------------------------------------

    @rule(data=st.data(), parts=st.integers(1, 3), loss=st.integers(0, 2), greedy=st.booleans())
    def split_in_vault(self, data: Any, parts: int, loss: int, greedy: bool) -> None:
        code = data.draw(st.sampled_from(sorted(self.m_samples)), label="parent")
        s = self.m_samples[code]
        each = max(1, s.vault_ug // (parts + 1)) if not greedy else s.vault_ug // parts + 1
        children = [(self.next_code("-V"), each) for _ in range(parts)]
        ok = (
            not s.frozen
            and s.custody_state == "vault"
            and each * parts + loss <= s.vault_ug
            and s.vault_ug > 0
        )
        self.call(ok, samples_service.split_sample, parent=code, children=children, loss_ug=loss)
        if ok:
            s.vault_ug -= each * parts + loss
            s.split_ug += each * parts
            s.lost_ug += loss
            for suffix, mass in children:
                self.m_samples[code + suffix] = MSample(mass, purpose=s.purpose, vault_ug=mass)

    @rule(data=st.data())
    def move(self, data: Any) -> None:
        code = data.draw(st.sampled_from(sorted(self.m_samples)), label="sample")
        ok = self.m_samples[code].custody_state == "vault"
        self.call(ok, samples_service.move_sample, code=code, storage_location="NAOC shelf 9")

    @rule(mass=st.integers(-1, 3 * MG))
    def register(self, mass: int) -> None:
        code = self.next_code("CE5C9999YJFM0")
        ok = mass > 0
        self.call(
            ok,
            samples_service.register_sample,
            code=code,
            mission="CE-5",
            mass_ug=mass,
            origin="scoop",
            material_type="regolith",
            physical_form="powder",
            purpose_class="research",
            storage_location="NAOC N2 cabinet C",
        )
        if ok:
            self.m_samples[code] = MSample(mass, vault_ug=mass)

    # --- rules: agreements ----------------------------------------------------------------

    @rule(
        institution=st.sampled_from(sorted(PIS)),
        max_mg=st.sampled_from([30, 1000, 5000, 5000]),
        destructive=st.booleans(),
        max_extensions=st.integers(0, 2),
        sign=st.integers(0, 3),
    )
    def create_agreement(
        self, institution: str, max_mg: int, destructive: bool, max_extensions: int, sign: int
    ) -> None:
        number = self.next_code("AG-")
        self.call(
            True,
            agreements.create_agreement,
            number=number,
            institution=institution,
            term="P5Y",
            max_total_mass_ug=max_mg * MG,
            allowed_purposes=["research"],
            max_loan_period="P1Y",
            destructive_use_allowed=destructive,
            max_extensions=max_extensions,
        )
        self.m_agreements[number] = MAgreement(
            institution, max_mg * MG, destructive, max_extensions
        )
        if sign:
            self.sign(number)

    def sign(self, number: str) -> None:
        ok = self.m_agreements[number].status == "pending"
        self.call(ok, agreements.sign_agreement, number=number, signed_by="LESEC and partner")
        if ok:
            self.m_agreements[number].status = "signed"

    @precondition(lambda self: self.m_agreements)
    @rule(data=st.data())
    def sign_agreement(self, data: Any) -> None:
        self.sign(data.draw(st.sampled_from(sorted(self.m_agreements)), label="agreement"))

    @precondition(lambda self: self.m_agreements)
    @rule(data=st.data(), status=st.sampled_from(["expired", "terminated"]))
    def end_agreement(self, data: Any, status: str) -> None:
        number = data.draw(st.sampled_from(sorted(self.m_agreements)), label="agreement")
        deal = self.m_agreements[number]
        ok = deal.status in ("pending", "signed")
        self.call(ok, agreements.end_agreement, number=number, status=status, reason="term over")
        if ok:
            deal.status = status

    # --- rules: loans ---------------------------------------------------------------------

    @precondition(lambda self: self.m_agreements)
    @rule(data=st.data(), wrong_pi=st.integers(0, 5).map(lambda n: n == 5))
    def request(self, data: Any, wrong_pi: bool) -> None:
        number = data.draw(st.sampled_from(sorted(self.m_agreements)), label="agreement")
        deal = self.m_agreements[number]
        lendable = [
            c
            for c in sorted(self.m_samples)
            if self.lendable(c) and self.m_samples[c].vault_ug < 100 * MG
        ]
        pool = sorted(self.m_samples) if data.draw(st.integers(0, 4)) == 0 else lendable
        pool = pool or sorted(self.m_samples)
        codes = data.draw(st.lists(st.sampled_from(pool), min_size=1, max_size=2), label="samples")
        if data.draw(st.integers(0, 9), label="never-lent") == 0:
            codes.append(data.draw(st.sampled_from(NEVER_LENT)))
        pi = OUTSIDER if wrong_pi else PIS[deal.institution]
        ok = not wrong_pi and all(self.lendable(c) for c in codes)
        loan = self.next_code("L-")
        self.call(ok, loans.request_loan, number=loan, agreement=number, pi=pi, samples=codes)
        if ok:
            self.m_loans[loan] = MLoan(
                number, deal.institution, items={c: MItem() for c in sorted(set(codes))}
            )

    def pick_loan(self, data: Any) -> str:
        if self.forced_loan is not None:
            return self.forced_loan
        return data.draw(st.sampled_from(sorted(self.m_loans)), label="loan")

    @precondition(lambda self: self.active_loans(*ALL_BUT_CLOSED))
    @rule(data=st.data())
    def advance(self, data: Any) -> None:
        """The natural next step of one open loan (so that long lifecycles are common)."""
        number = data.draw(st.sampled_from(self.active_loans(*ALL_BUT_CLOSED)), label="open loan")
        loan = self.m_loans[number]
        step: Any = {
            "requested": self.approve,
            "approved": self.issue,
            "issued": self.ship,
            "in_transit": self.receive,
            "return_in_transit": self.accept_return,
            "returned": self.settle,
            "settled": self.close,
        }.get(loan.status)
        kwargs: dict[str, Any] = {}
        if loan.status == "approved" and self.m_agreements[loan.agreement].status == "pending":
            self.sign(loan.agreement)
        if loan.status == "return_in_transit":
            kwargs = {"shortfall": False}
        if loan.status == "received":
            held = any(i.held_ug for i in loan.items.values())
            choice = data.draw(st.integers(0, 3), label="received step") if held else 4
            step, kwargs = [
                (self.consume, {"fraction": 2, "destructive": False}),
                (self.borrower_split, {"fraction": 3}),
                (self.release_return, {"partial": False}),
                (self.inventory, {"who": "pi"}),
                (self.settle, {}),
            ][choice]
        self.forced_loan = number
        try:
            step(data=data, **kwargs)
        finally:
            self.forced_loan = None

    @precondition(lambda self: self.active_loans(*ALL_BUT_CLOSED))
    @rule(data=st.data())
    def advance_again(self, data: Any) -> None:
        """The same as `advance`: listed twice so that lifecycle steps are drawn more often."""
        self.advance(data)

    @precondition(lambda self: self.m_agreements)
    @rule(data=st.data())
    def request_again(self, data: Any) -> None:
        """A valid request, drawn more often than the other rules."""
        self.request(data, wrong_pi=False)

    @precondition(lambda self: self.m_loans)
    @rule(data=st.data())
    def approve(self, data: Any) -> None:
        loan = self.m_loans[number := self.pick_loan(data)]
        ok = loan.status == "requested"
        self.call(ok, loans.approve_loan, number=number)
        if ok:
            loan.status = "approved"

    @precondition(lambda self: self.m_loans)
    @rule(data=st.data())
    def issue(self, data: Any) -> None:
        loan = self.m_loans[number := self.pick_loan(data)]
        deal = self.m_agreements[loan.agreement]
        new_ug = sum(self.m_samples[c].vault_ug for c in loan.items)
        ok = (
            loan.status == "approved"
            and deal.status == "signed"
            and all(self.lendable(c) for c in loan.items)
            and deal.issued_ug + new_ug <= deal.max_ug
        )
        self.call(ok, loans.issue_loan, number=number)
        if ok:
            loan.status = "issued"
            deal.issued_ug += new_ug
            for code, item in loan.items.items():
                s = self.m_samples[code]
                item.issued_ug = item.held_ug = s.vault_ug
                item.state = s.custody_state = "issued"
                s.on_loan_ug, s.vault_ug, s.loan_number = s.vault_ug, 0, number

    @precondition(lambda self: self.m_loans)
    @rule(data=st.data())
    def ship(self, data: Any) -> None:
        loan = self.m_loans[number := self.pick_loan(data)]
        ok = loan.status == "issued"
        self.call(ok, loans.ship_loan, number=number, container="N2 box", seal_number="S-1")
        if ok:
            loan.status = "in_transit"
            for code, item in loan.items.items():
                if item.state == "issued":
                    item.state = self.m_samples[code].custody_state = "in_transit"

    @precondition(lambda self: self.m_loans)
    @rule(data=st.data())
    def receive(self, data: Any) -> None:
        loan = self.m_loans[number := self.pick_loan(data)]
        ok = loan.status == "in_transit"
        self.call(ok, loans.receive_loan, number=number, seal_intact=True, condition="pristine")
        if ok:
            loan.status = "received"
            for code, item in loan.items.items():
                if item.state == "in_transit":
                    item.state = self.m_samples[code].custody_state = "held"

    def pick_item(self, data: Any) -> tuple[str, MLoan, str]:
        number = self.pick_loan(data)
        loan = self.m_loans[number]
        code = data.draw(st.sampled_from(sorted(loan.items)), label="item")
        return number, loan, code

    def use_up(self, loan: MLoan, code: str, mass: int, column: str) -> None:
        item, s = loan.items[code], self.m_samples[code]
        item.held_ug -= mass
        setattr(item, f"{column}_ug", getattr(item, f"{column}_ug") + mass)
        s.on_loan_ug -= mass
        if item.held_ug == 0 and item.state == "held":
            item.state = s.custody_state = {"consumed": "consumed", "lost": "lost"}.get(
                column, "split"
            )

    def holdable(self, loan: MLoan, code: str) -> bool:
        return (
            loan.status == "received"
            and loan.items[code].state == "held"
            and not self.m_samples[code].frozen
        )

    @precondition(lambda self: self.m_loans)
    @rule(data=st.data(), fraction=st.sampled_from([0, 1, 2, 4, 8]), destructive=st.booleans())
    def consume(self, data: Any, fraction: int, destructive: bool) -> None:
        number, loan, code = self.pick_item(data)
        held = loan.items[code].held_ug
        mass = held + 1 if fraction == 0 else max(1, held // fraction)
        ok = (
            self.holdable(loan, code)
            and 0 < mass <= held
            and (not destructive or self.m_agreements[loan.agreement].destructive)
        )
        self.call(
            ok,
            loans.consume,
            number=number,
            sample=code,
            technique="SIMS",
            mass_ug=mass,
            destructive=destructive,
        )
        if ok:
            self.use_up(loan, code, mass, "consumed")
            self.m_samples[code].consumed_ug += mass

    @precondition(lambda self: self.m_loans)
    @rule(data=st.data(), fraction=st.sampled_from([0, 2, 3]))
    def borrower_split(self, data: Any, fraction: int) -> None:
        number, loan, code = self.pick_item(data)
        held = loan.items[code].held_ug
        mass = held + 1 if fraction == 0 else max(1, held // fraction)
        suffix = self.next_code("-B")
        ok = self.holdable(loan, code) and 0 < mass <= held
        self.call(ok, loans.borrower_split, number=number, sample=code, child=suffix, mass_ug=mass)
        if ok:
            self.use_up(loan, code, mass, "split")
            parent = self.m_samples[code]
            parent.split_ug += mass
            self.m_samples[code + suffix] = MSample(
                mass,
                purpose=parent.purpose,
                on_loan_ug=mass,
                custody_state="held",
                loan_number=number,
            )
            loan.items[code + suffix] = MItem(
                source="borrower_split", issued_ug=mass, held_ug=mass, state="held"
            )

    @precondition(lambda self: self.m_loans)
    @rule(data=st.data(), partial=st.booleans())
    def release_return(self, data: Any, partial: bool) -> None:
        number = self.pick_loan(data)
        loan = self.m_loans[number]
        held = [c for c, i in loan.items.items() if i.state == "held"]
        chosen = sorted(held)
        if partial and held:
            chosen = sorted(data.draw(st.sets(st.sampled_from(sorted(held)), min_size=1)))
        ok = (
            loan.status == "received"
            and bool(chosen)
            and not any(self.m_samples[c].frozen for c in chosen)
        )
        self.call(
            ok,
            loans.release_return,
            number=number,
            container="N2 box",
            seal_number="S-2",
            samples=chosen if partial else None,
        )
        if ok:
            loan.status = "return_in_transit"
            for code in chosen:
                loan.items[code].state = self.m_samples[code].custody_state = "return_in_transit"

    @precondition(lambda self: self.m_loans)
    @rule(data=st.data(), shortfall=st.booleans())
    def accept_return(self, data: Any, shortfall: bool) -> None:
        number = self.pick_loan(data)
        loan = self.m_loans[number]
        coming = [c for c, i in loan.items.items() if i.state == "return_in_transit"]
        weighed = {c: loan.items[c].held_ug - (1 if shortfall else 0) for c in coming}
        ok = loan.status == "return_in_transit" and not shortfall
        self.call(
            ok,
            loans.accept_return,
            number=number,
            seal_intact=True,
            condition="pristine",
            weighed_ug=weighed,
        )
        if ok:
            for code in coming:
                item, s = loan.items[code], self.m_samples[code]
                s.vault_ug += item.held_ug
                s.on_loan_ug -= item.held_ug
                item.returned_ug += item.held_ug
                item.held_ug = 0
                item.state = "returned"
                s.custody_state, s.loan_number = "vault", None
            out = any(i.state in ("held", "return_in_transit") for i in loan.items.values())
            loan.status = "received" if out else "returned"

    @precondition(lambda self: self.m_loans)
    @rule(data=st.data(), too_long=st.booleans())
    def extend(self, data: Any, too_long: bool) -> None:
        loan = self.m_loans[number := self.pick_loan(data)]
        ok = (
            loan.status in ON_LOAN
            and loan.extensions < self.m_agreements[loan.agreement].max_extensions
            and not too_long
        )
        self.call(
            ok,
            loans.extend_loan,
            number=number,
            period="P7M" if too_long else "P1M",
            approver=CURATOR,
            reason="beam time moved",
        )
        if ok:
            loan.extensions += 1

    @precondition(lambda self: self.m_loans)
    @rule(data=st.data(), past=st.booleans())
    def recall(self, data: Any, past: bool) -> None:
        number = self.pick_loan(data)
        ok = self.m_loans[number].status in ON_LOAN and not past
        due = self.now + (timedelta(days=-1) if past else timedelta(days=400))
        self.call(ok, loans.recall_loan, number=number, due_at=due, reason="audit")

    @precondition(lambda self: self.m_loans)
    @rule(data=st.data(), who=st.sampled_from(["curator", "pi", "outsider", "compliance"]))
    def inventory(self, data: Any, who: str) -> None:
        number = self.pick_loan(data)
        loan = self.m_loans[number]
        actor = {
            "curator": CURATOR,
            "pi": PIS[loan.institution],
            "outsider": OUTSIDER,
            "compliance": COMPLIANCE,
        }[who]
        ok = who in ("curator", "pi") and loan.status in ("received", "return_in_transit")
        self.call(ok, loans.attest_inventory, actor=actor, number=number)

    @precondition(lambda self: self.m_loans)
    @rule(data=st.data())
    def settle(self, data: Any) -> None:
        loan = self.m_loans[number := self.pick_loan(data)]
        ok = (
            loan.status in ("received", "returned")
            and all(i.held_ug == 0 for i in loan.items.values())
            and not (set(loan.items) & self.open_incident_samples())
        )
        self.call(ok, loans.settle_loan, number=number, obligations="results shared")
        if ok:
            loan.status = "settled"

    @precondition(lambda self: self.m_loans)
    @rule(data=st.data())
    def close(self, data: Any) -> None:
        loan = self.m_loans[number := self.pick_loan(data)]
        ok = loan.status == "settled"
        self.call(ok, loans.close_loan, number=number)
        if ok:
            loan.status = "closed"

    # --- rules: incidents, corrections ----------------------------------------------------

    @rule(data=st.data(), fraction=st.sampled_from([0, 1, 2, -1]))
    def report_incident(self, data: Any, fraction: int) -> None:
        code = data.draw(st.sampled_from(sorted(self.m_samples)), label="sample")
        s = self.m_samples[code]
        on_loan = s.custody_state in checks.ACTIVE_ITEM_STATES
        available = s.on_loan_ug if on_loan else s.vault_ug
        mass = {0: 0, 1: available, 2: available // 2, -1: available + 1}[fraction]
        ok = mass <= available and not (mass and on_loan and s.custody_state != "held")
        result = self.call(
            ok,
            incidents.report_incident,
            sample=code,
            kind="loss" if mass else "damage",
            description="vial cracked",
            mass_lost_ug=mass,
        )
        if ok:
            if mass and on_loan:
                assert s.loan_number is not None
                self.use_up(self.m_loans[s.loan_number], code, mass, "lost")
            elif mass:
                s.vault_ug -= mass
            s.lost_ug += mass
            s.frozen = True
            self.m_incidents[result.seq] = (code, True)

    @rule(data=st.data(), bogus=st.booleans())
    def resolve_incident(self, data: Any, bogus: bool) -> None:
        if bogus or not self.m_incidents:
            self.call(False, incidents.resolve_incident, incident_seq=10**6, resolution="x")
            return
        still_open = sorted(seq for seq, (_code, is_open) in self.m_incidents.items() if is_open)
        pool = (
            still_open if still_open and data.draw(st.integers(0, 3)) else sorted(self.m_incidents)
        )
        seq = data.draw(st.sampled_from(pool), label="incident")
        code, is_open = self.m_incidents[seq]
        self.call(is_open, incidents.resolve_incident, incident_seq=seq, resolution="checked")
        if is_open:
            self.m_incidents[seq] = (code, False)
            self.m_samples[code].frozen = code in self.open_incident_samples()

    @rule(data=st.data(), bogus=st.booleans())
    def correction(self, data: Any, bogus: bool) -> None:
        target = 10**6 if bogus else data.draw(st.integers(1, self.expected_events))
        self.call(not bogus, incidents.record_correction, corrects_seq=target, text="typo")

    # --- invalid attempts of other kinds --------------------------------------------------

    @rule(
        data=st.data(),
        actor=st.sampled_from([COMPLIANCE, PIS["OU"], PIS["UoC"], OUTSIDER, "nobody@x.example"]),
        op=st.sampled_from(
            [
                "split",
                "move",
                "agreement",
                "request",
                "approve",
                "issue",
                "consume",
                "settle",
                "close",
                "incident",
                "correction",
            ]
        ),
    )
    def wrong_role(self, data: Any, actor: str, op: str) -> None:
        code = data.draw(st.sampled_from(sorted(self.m_samples)), label="sample")
        number = self.pick_loan(data) if self.m_loans else "L-NONE"
        calls: dict[str, tuple[Any, dict[str, Any]]] = {
            "split": (samples_service.split_sample, {"parent": code, "children": [("-X", 1)]}),
            "move": (samples_service.move_sample, {"code": code, "storage_location": "x"}),
            "agreement": (
                agreements.create_agreement,
                {
                    "number": "AG-X",
                    "institution": "OU",
                    "term": "P5Y",
                    "max_total_mass_ug": 1,
                    "allowed_purposes": ["research"],
                    "max_loan_period": "P1Y",
                },
            ),
            "request": (
                loans.request_loan,
                {"number": "L-X", "agreement": "AG-1", "pi": PIS["OU"], "samples": [code]},
            ),
            "approve": (loans.approve_loan, {"number": number}),
            "issue": (loans.issue_loan, {"number": number}),
            "consume": (
                loans.consume,
                {
                    "number": number,
                    "sample": code,
                    "technique": "x",
                    "mass_ug": 1,
                    "destructive": False,
                },
            ),
            "settle": (loans.settle_loan, {"number": number, "obligations": "x"}),
            "close": (loans.close_loan, {"number": number}),
            "incident": (
                incidents.report_incident,
                {"sample": code, "kind": "loss", "description": "x"},
            ),
            "correction": (incidents.record_correction, {"corrects_seq": 1, "text": "x"}),
        }
        fn, kwargs = calls[op]
        self.call(False, fn, actor=actor, **kwargs)

    @rule(data=st.data(), future=st.booleans())
    def out_of_order(self, data: Any, future: bool) -> None:
        code = data.draw(st.sampled_from(sorted(self.m_samples)), label="sample")
        when = self.now + timedelta(hours=2) if future else T0 - timedelta(days=1)
        self.call(
            False,
            samples_service.move_sample,
            code=code,
            storage_location="NAOC shelf 2",
            occurred_at=when,
        )

    @rule(code=st.sampled_from(["СE5C0200YJFM00112", " ", "CE5C0200YJFM00112\x00", "nope"]))
    def unknown_code(self, code: str) -> None:
        self.call(False, samples_service.split_sample, parent=code, children=[("-01", 1)])

    @rule(hours=st.integers(1, 36))
    def tick(self, hours: int) -> None:
        self.now += timedelta(hours=hours)

    # --- invariants -----------------------------------------------------------------------

    @invariant()
    def ledger_matches_model(self) -> None:
        self.steps += 1
        with self.engine.connect() as c:
            rows = [tuple(r) for r in c.execute(text("SELECT * FROM ledger_event ORDER BY seq"))]
        if rows[: len(self.events)] != self.events:
            pairs = zip(rows, self.events, strict=False)
            changed = next((i for i, (a, b) in enumerate(pairs) if a != b), len(rows))
            raise Bug(f"append-only: event {changed + 1} changed or vanished")
        if len(rows) != self.expected_events:
            raise Bug(f"event count {len(rows)} ≠ model {self.expected_events}")
        prev = self.events[-1][-1] if self.events else None
        for row in rows[len(self.events) :]:
            (seq, kind, payload, occurred, recorded, actor, os_user, corrects, reason) = row[:9]
            prev_hash, own_hash = row[9], row[10]
            body = chain.event_body(
                seq=seq,
                kind=kind,
                payload=payload,
                occurred_at=occurred,
                recorded_at=recorded,
                actor=actor,
                os_user=os_user,
                corrects_seq=corrects,
                reason=reason,
            )
            if prev_hash != prev or chain.link_hash(prev_hash, body) != own_hash:
                raise Bug(f"chain: event {seq} ({kind}) does not link")
            prev = own_hash
        self.events = rows
        with db.transaction(self.engine, write=False) as session:
            violations = checks.run_checks(checks.build_snapshot(session))
            if violations:
                raise Bug("invariants: " + "; ".join(v.message for v in violations))
            self._compare_samples(session)
            self._compare_loans(session)
        if VERIFY_EVERY and self.steps % VERIFY_EVERY == 0:
            self.full_verify()

    def _compare_samples(self, session: Any) -> None:
        from sqlmodel import select

        db_samples = {s.code: s for s in session.exec(select(Sample)).all()}
        if set(db_samples) != set(self.m_samples):
            raise Bug(f"samples differ: {set(db_samples) ^ set(self.m_samples)}")
        for code, want in self.m_samples.items():
            have = db_samples[code]
            for column in SAMPLE_COLUMNS:
                if getattr(have, column) != getattr(want, column):
                    raise Bug(
                        f"sample {code}.{column}: database {getattr(have, column)!r}, "
                        f"model {getattr(want, column)!r}"
                    )

    def _compare_loans(self, session: Any) -> None:
        from sqlmodel import select

        statuses = {loan.number: loan.status for loan in session.exec(select(Loan)).all()}
        for number, status in statuses.items():
            before = self.db_loan_status.get(number)
            if before != status and (before, status) not in ALLOWED_LOAN_MOVES:
                raise Bug(f"loan {number}: transition {before} → {status} is not allowed")
            if number not in self.m_loans or self.m_loans[number].status != status:
                raise Bug(f"loan {number}: database {status}, model {self.m_loans.get(number)}")
        if set(statuses) != set(self.m_loans):
            raise Bug(f"loans differ: {set(statuses) ^ set(self.m_loans)}")
        self.db_loan_status = statuses
        for item in session.exec(select(LoanItem)).all():
            want = self.m_loans[item.loan_number].items.get(item.sample_code)
            if want is None:
                raise Bug(f"loan item {item.loan_number}/{item.sample_code} not in the model")
            for column in ITEM_COLUMNS:
                if getattr(item, column) != getattr(want, column):
                    raise Bug(
                        f"loan item {item.loan_number}/{item.sample_code}.{column}: database "
                        f"{getattr(item, column)!r}, model {getattr(want, column)!r}"
                    )

    def full_verify(self) -> None:
        result = verify_service.verify(self.engine)
        if not result.ok:
            raise Bug("verify: " + "; ".join(p.message for p in result.problems[:5]))

    def teardown(self) -> None:
        try:
            if sys.exc_info()[1] is None:  # a failed step's report must not be masked
                self.full_verify()
        finally:
            self.engine.dispose()


def machine_settings(examples: int, steps: int, *, shrink: bool = True) -> settings:
    """Hypothesis settings for one run (no example database: the printed seed reproduces)."""
    phases = list(Phase) if shrink else [Phase.explicit, Phase.generate]
    return settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        database=None,
        phases=phases,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )


def run_machine(
    machine: type[RuleBasedStateMachine], examples: int, steps: int, *, shrink: bool = True
) -> int:
    """Run a machine under a printed seed; returns the seed."""
    chosen = int(os.environ.get("SAMPLELOANS_SEED") or random.SystemRandom().randrange(2**32))
    print(f"state machine seed: {chosen} (rerun with SAMPLELOANS_SEED={chosen})")
    hypothesis.seed(chosen)(machine)
    try:
        run_state_machine_as_test(
            machine, settings=machine_settings(examples, steps, shrink=shrink)
        )
    finally:
        del machine._hypothesis_internal_use_seed  # type: ignore[attr-defined]
    return chosen


def test_lifecycle_state_machine() -> None:
    if SOAK:
        examples = int(os.environ.get("SAMPLELOANS_SOAK_EXAMPLES", "5000"))
        steps = int(os.environ.get("SAMPLELOANS_SOAK_STEPS", "100"))
    else:
        examples, steps = FAST_EXAMPLES, FAST_STEPS
    run_machine(LifecycleMachine, examples, steps)
