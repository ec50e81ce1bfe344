"""Issue 10, items 17 and 19–23: lifecycle defects a curator hits, through the CLI and the services.

17: every mass-balance and time-order refusal exits with the code the README's table gives.
19: a partial return leaves the rest of the loan usable; several returns may travel at once.
20: a recall never postpones the due date; 21: an extension never leaves the loan overdue.
22: back-dated entries are ordered per sample (sample events) and per loan (loan-wide events).
23: `init` gives the reference records their real dates, and `init --at` dates the rest.
"""

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner, Result

from sampleloans import db
from sampleloans.cli import app
from sampleloans.errors import Conflict, InvalidInput, RuleViolation
from sampleloans.ledger.store import Context
from sampleloans.models import Loan, LoanItem, Sample
from sampleloans.services import agreements, incidents, loans, setup
from sampleloans.services.verify import verify
from sampleloans.units import parse_mass_ug as mass
from tests.conftest import CURATOR, NOW, OU_PI, Run, StartFrom, ctx_for, fingerprint
from tests.factories import draft_agreement, issued_loan, received_loan, signed_agreement

S1 = "CE5C0200YJFM00112"  # 20 mg each (data/demo/samples.csv)
S2 = "CE5C0300YJFM00307"
S3 = "CE5C0500YJFM00415"
REFERENCE = "CE5C0400YJFM00901"  # a real published code from data/samples.csv (500 mg)
CE5_RETURNED = "2020-12-16T17:59:00Z"  # data/missions.csv
README = Path(__file__).resolve().parent.parent / "README.md"
INTERNAL_NAMES = ("return_in_transit", "in_transit", "ship_return", "accept_return")

pytestmark = pytest.mark.usefixtures("cli_env")


def cli(runner: CliRunner, *args: str, actor: str = CURATOR) -> Result:
    """Invoke the CLI as `actor`."""
    return runner.invoke(app, ["--as", actor, *args])


def ok(runner: CliRunner, *args: str, actor: str = CURATOR) -> str:
    """Invoke and require exit 0; returns stdout."""
    result = cli(runner, *args, actor=actor)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result.stdout


def refused(runner: CliRunner, db_path: Path, *args: str, code: int) -> str:
    """The command exits `code` with one `Error:` line and writes nothing; returns the message."""
    before = fingerprint(db_path)
    result = cli(runner, *args)
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
    assert fingerprint(db_path) == before
    return result.stderr.removeprefix("Error: ").strip()


def show(runner: CliRunner, number: str = "L-1") -> dict:
    """`loans show --json` parsed."""
    return json.loads(ok(runner, "loans", "show", number, "--json"))


def states(runner: CliRunner, number: str = "L-1") -> dict[str, str]:
    """Each item's custody state on a loan."""
    return {i["sample_code"]: i["custody_state"] for i in show(runner, number)["items"]}


def at_clock(monkeypatch: pytest.MonkeyPatch, moment: str) -> None:
    """Set the CLI's clock."""
    monkeypatch.setenv("SAMPLELOANS_NOW", moment)


# --- 17: the README's exit-code table is the test ------------------------------------------------


def readme_code(words: str) -> int:
    """The exit code the README's table gives for a kind of refusal (e.g. 'mass balance')."""
    table = README.read_text(encoding="utf-8").split("## Exit codes", 1)[1]
    for code, meaning in re.findall(r"^\| (\d) \| (.+) \|$", table, flags=re.MULTILINE):
        if words in meaning:
            return int(code)
    raise AssertionError(f"the README's exit-code table does not mention {words!r}")


@dataclass(frozen=True)
class Refusal:
    """One kind of refusal: the state it needs, the command, and the README's words for it."""

    setup: Callable[..., object]
    args: tuple[str, ...]
    kind: str  # words of the README's exit-code table
    clock: str | None = None  # the CLI's clock when not the fixtures' 2025-04-01T09:00:00Z


def _received(run: Run) -> None:
    signed_agreement(run)
    received_loan(run)


def _issued(run: Run) -> None:
    signed_agreement(run)
    issued_loan(run)


def _returning(run: Run) -> None:
    _received(run)
    run(loans.release_return, number="L-1", container="box", seal_number="R-1")


def _requested(run: Run) -> None:
    signed_agreement(run)
    run(loans.request_loan, number="L-1", agreement="AG-OU", pi=OU_PI, samples=[S1])


def _nothing(run: Run) -> None:
    return None


def _drafted(run: Run) -> None:
    draft_agreement(run)


CONSUME = ("loans", "consume", "L-1", "--sample", S1, "--technique", "SIMS")
ACCEPT = ("loans", "accept-return", "L-1", "--seal-intact", "--condition", "ok")
EXTEND = ("loans", "extend", "L-1", "--approver", CURATOR, "--reason", "beam time")
RECALL = ("loans", "recall", "L-1", "--reason", "audit")
LOSS = ("incidents", "report", "--kind", "loss", "--description", "spilled")
INIT = ("init", "--curator-email", CURATOR, "--curator-name", "Li")

REFUSALS: dict[str, Refusal] = {
    # mass balance: nothing is overdrawn, whatever the command
    "consume-overdraw": Refusal(
        _received, (*CONSUME, "--mass", "21 mg", "--destructive"), "mass balance"
    ),
    "borrower-split-overdraw": Refusal(
        _received,
        ("loans", "split", "L-1", "--sample", S1, "--child", "-G1", "--mass", "21 mg"),
        "mass balance",
    ),
    "loss-overdraw-on-loan": Refusal(
        _received, (*LOSS, "--sample", S1, "--mass-lost", "21 mg"), "mass balance"
    ),
    "loss-overdraw-travelling-back": Refusal(
        _returning, (*LOSS, "--sample", S1, "--mass-lost", "21 mg"), "mass balance"
    ),
    "loss-overdraw-in-vault": Refusal(
        _nothing, (*LOSS, "--sample", S1, "--mass-lost", "21 mg"), "mass balance"
    ),
    "vault-split-overdraw": Refusal(
        _nothing, ("samples", "split", S1, "--child", "-01=21mg"), "mass balance"
    ),
    "vault-split-loss-overdraw": Refusal(
        _nothing, ("samples", "split", S1, "--child", "-01=20mg", "--loss", "1 mg"), "mass balance"
    ),
    "accept-return-shortfall": Refusal(
        _returning, (*ACCEPT, "--weighed", f"{S1}=19mg"), "mass balance"
    ),
    "accept-return-overweight": Refusal(
        _returning, (*ACCEPT, "--weighed", f"{S1}=21mg"), "mass balance"
    ),
    "settle-with-mass-held": Refusal(
        _received, ("loans", "settle", "L-1", "--obligations", "x"), "mass balance"
    ),
    # time order: no event in the future, none before the previous event of its record
    "at-in-the-future": Refusal(
        _requested, ("loans", "approve", "L-1", "--at", "2025-04-02"), "time order"
    ),
    "at-before-the-sample's-previous-event": Refusal(
        _nothing, ("samples", "split", S1, "--child", "-01=1mg", "--at", "2025-03-31"), "time order"
    ),
    "at-before-the-loan's-previous-event": Refusal(
        _requested, ("loans", "approve", "L-1", "--at", "2025-03-31"), "time order"
    ),
    "at-of-a-sample-event-before-a-loan-wide-one": Refusal(
        _received, (*CONSUME, "--mass", "1 mg", "--destructive", "--at", "2025-03-31"), "time order"
    ),
    "agreement-signed-before-drafted": Refusal(
        _drafted,
        ("agreements", "sign", "AG-OU", "--signed-by", "x", "--at", "2025-03-31"),
        "time order",
    ),
    "agreement-ended-before-drafted": Refusal(
        _drafted,
        ("agreements", "expire", "AG-OU", "--reason", "x", "--at", "2025-03-31"),
        "time order",
    ),
    "recall-due-before-the-recall": Refusal(
        _received, (*RECALL, "--due", "2025-03-01"), "time order"
    ),
    "recall-later-than-due": Refusal(_received, (*RECALL, "--due", "2026-05-01"), "time order"),
    # issued 2025-04-01, due 2026-04-01: a month more is still past on 2026-06-01
    "extension-already-past": Refusal(
        _received, (*EXTEND, "--period", "P1M"), "time order", "2026-06-01"
    ),
    # state and agreement terms
    "consume-before-receipt": Refusal(
        _issued, (*CONSUME, "--mass", "1 mg", "--destructive"), "state"
    ),
    "extension-beyond-the-agreement": Refusal(
        _received, (*EXTEND, "--period", "P7M"), "agreement terms"
    ),
    # input that cannot be parsed, records that do not exist
    "mass-not-a-mass": Refusal(
        _received, (*CONSUME, "--mass", "abc", "--destructive"), "cannot be parsed"
    ),
    "mass-without-unit": Refusal(
        _received, (*CONSUME, "--mass", "5", "--destructive"), "cannot be parsed"
    ),
    "at-not-a-time": Refusal(
        _requested, ("loans", "approve", "L-1", "--at", "yesterday"), "cannot be parsed"
    ),
    "weighed-not-code=mass": Refusal(_returning, (*ACCEPT, "--weighed", S1), "cannot be parsed"),
    "unknown-sample": Refusal(
        _nothing, (*LOSS, "--sample", "CE5C0000NOPE01", "--mass-lost", "1 mg"), "unknown record"
    ),
    "unknown-loan": Refusal(
        _nothing, ("loans", "settle", "L-NOPE", "--obligations", "x"), "unknown record"
    ),
}


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_every_refusal_exits_with_the_readme_code(
    name: str,
    runner: CliRunner,
    run: Run,
    db_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    start_from: StartFrom,
) -> None:
    case = REFUSALS[name]
    start_from(case.setup)
    if case.clock:
        at_clock(monkeypatch, case.clock)
    message = refused(runner, db_path, *case.args, code=readme_code(case.kind))
    assert not [word for word in INTERNAL_NAMES if word in message], message


def test_the_readme_gives_rules_exit_1_and_unparseable_input_exit_2() -> None:
    assert readme_code("mass balance") == readme_code("time order") == 1
    assert readme_code("cannot be parsed") == readme_code("unknown record") == 2


def test_init_at_in_the_future_is_a_time_order_refusal(runner: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "new.db"
    result = runner.invoke(app, ["--db", str(target), *INIT, "--at", "2025-05-01"])
    assert result.exit_code == readme_code("time order"), result.output
    assert result.stderr.startswith("Error: --at: 2025-05-01T00:00:00Z is in the future")
    assert not target.exists()


def test_a_loss_larger_than_held_is_a_rule_at_service_level(run: Run) -> None:
    _received(run)
    with pytest.raises(RuleViolation, match=r"21\.000 mg is more than the 20\.000 mg"):
        run(
            incidents.report_incident,
            sample=S1,
            incident_kind="loss",
            description="x",
            mass_lost_ug=mass("21 mg"),
        )


def test_an_agreement_cannot_end_before_it_was_signed(run: Run) -> None:
    draft_agreement(run)
    run(agreements.sign_agreement, number="AG-OU", signed_by="x", now=NOW + timedelta(days=2))
    with pytest.raises(RuleViolation, match="cannot end before it was signed"):
        run(
            agreements.end_agreement,
            number="AG-OU",
            status="terminated",
            reason="x",
            now=NOW + timedelta(days=3),
            occurred_at=NOW + timedelta(days=1),
        )


# --- 19: a partial return blocks nothing else -------------------------------------------------


def test_partial_returns_leave_the_rest_of_the_loan_usable(
    runner: CliRunner, run: Run, db_path: Path
) -> None:
    signed_agreement(run)
    received_loan(run, samples=(S1, S2, S3))
    ok(runner, "loans", "return", "L-1", "--container", "box", "--seal", "R-1", "--sample", S1)
    assert show(runner)["status"] == "received"  # the borrower still holds S2 and S3
    assert states(runner) == {S1: "return-in-transit", S2: "held", S3: "held"}

    # the samples still held stay usable: consumption, a split, an incident, the inventory
    ok(runner, *CONSUME[:4], S2, "--technique", "SIMS", "--mass", "0.5 mg", "--destructive")
    ok(runner, "loans", "split", "L-1", "--sample", S2, "--child", "-G1", "--mass", "1 mg")
    out = ok(
        runner,
        "incidents",
        "report",
        "--sample",
        S3,
        "--kind",
        "damage",
        "--description",
        "vial chipped",
    )
    found = re.search(r"event (\d+)", out)
    assert found is not None, out
    seq = found.group(1)
    ok(runner, "incidents", "resolve", seq, "--resolution", "vial replaced")
    ok(runner, "loans", "inventory", "L-1", actor=OU_PI)

    # a second partial return while the first one travels
    ok(runner, "loans", "return", "L-1", "--container", "box", "--seal", "R-2", "--sample", S2)
    assert show(runner)["status"] == "received"

    # the sample on its way back cannot be used, and the message names the right command
    message = refused(runner, db_path, *CONSUME, "--mass", "1 mg", "--destructive", code=1)
    assert message == (
        f"sample {S1} of loan L-1 is on its way back (return in transit), not held by the "
        "borrower; record its arrival with 'loans accept-return L-1'"
    )
    assert "loans receive" not in message and "return_in_transit" not in message

    # each shipment is accepted on its own: mixing two is refused, naming both seals
    mixed = refused(
        runner, db_path, *ACCEPT, "--weighed", f"{S1}=20mg", "--weighed", f"{S2}=18.5mg", code=2
    )
    assert "different shipments" in mixed and "seal R-1" in mixed and "seal R-2" in mixed
    out = ok(runner, *ACCEPT, "--weighed", f"{S2}=18.5mg")  # the later shipment first
    assert out.startswith(
        "Loan L-1 return accepted; a partial return: the borrower still holds the other samples"
    )

    # everything left goes back: only now is the loan return in transit
    ok(runner, "loans", "return", "L-1", "--container", "box", "--seal", "R-3")
    detail = show(runner)
    assert detail["status"] == "return-in-transit"
    assert "return in transit" in ok(runner, "loans", "show", "L-1")
    settle = refused(runner, db_path, "loans", "settle", "L-1", "--obligations", "x", code=1)
    assert settle == (
        "loan L-1 is on its way back to the lender; cannot settle: accept the return first "
        "('loans accept-return')"
    )
    out = ok(runner, *ACCEPT, "--weighed", f"{S1}=20mg")
    assert "a partial return: the other samples are still on their way back" in out
    out = ok(runner, *ACCEPT, "--weighed", f"{S2}-G1=1mg", "--weighed", f"{S3}=20mg")
    assert "the loan is returned" in out
    assert set(states(runner).values()) == {"returned"}
    ok(runner, "loans", "settle", "L-1", "--obligations", "report filed")
    assert "verify: OK" in ok(runner, "verify")


def test_a_held_sample_used_up_leaves_the_loan_returning(
    runner: CliRunner, run: Run, db_path: Path
) -> None:
    """Nothing held and one return travelling: the loan is return in transit, then returned."""
    signed_agreement(run)
    received_loan(run, samples=(S1, S2))
    ok(runner, "loans", "return", "L-1", "--container", "box", "--seal", "R-1", "--sample", S1)
    ok(runner, *CONSUME[:4], S2, "--technique", "SIMS", "--mass", "20 mg", "--destructive")
    assert show(runner)["status"] == "return-in-transit"
    assert ok(runner, *ACCEPT, "--weighed", f"{S1}=20mg").startswith(
        "Loan L-1 return accepted; every sample is accounted for; the loan is returned"
    )


def test_partial_returns_at_service_level(engine: Engine, run: Run) -> None:
    signed_agreement(run)
    received_loan(run, samples=(S1, S2, S3))
    run(loans.release_return, number="L-1", container="box", seal_number="R-1", samples=[S1])
    run(loans.release_return, number="L-1", container="box", seal_number="R-2", samples=[S2])
    run(loans.consume, number="L-1", sample=S3, technique="SIMS", mass_ug=1000, destructive=True)
    with db.transaction(engine, write=False) as session:
        loan = session.get(Loan, "L-1")
        assert loan is not None
        assert loan.status == "received"
        assert [codes for _s, codes in loans.open_returns(session, "L-1")] == [[S1], [S2]]
    with pytest.raises(Conflict, match="record its arrival with 'loans accept-return L-1'"):
        run(loans.consume, number="L-1", sample=S1, technique="x", mass_ug=1, destructive=True)
    with pytest.raises(InvalidInput, match="different shipments"):
        run(
            loans.accept_return,
            number="L-1",
            seal_intact=True,
            condition="ok",
            weighed_ug={S1: 20000, S2: 20000},
        )
    run(loans.accept_return, number="L-1", seal_intact=True, condition="ok", weighed_ug={S1: 20000})
    with db.transaction(engine, write=False) as session:
        first, second = session.get(LoanItem, ("L-1", S1)), session.get(LoanItem, ("L-1", S2))
        assert first is not None and second is not None
        assert first.state == "returned"
        assert second.state == "return_in_transit"
        sample = session.get(Sample, S1)
        assert sample is not None
        assert sample.custody_state == "vault"
    assert verify(engine).ok


# --- 20 and 21: due dates ---------------------------------------------------------------------


def test_a_recall_later_than_due_is_refused_and_points_to_extend(
    runner: CliRunner, run: Run, db_path: Path
) -> None:
    _received(run)  # due 2026-04-01T09:00:00Z
    message = refused(runner, db_path, *RECALL, "--due", "2026-05-01", code=1)
    assert message == (
        "--due: 2026-05-01T00:00:00Z is later than loan L-1's due date 2026-04-01T09:00:00Z; a "
        "recall can only bring the due date forward (to give more time, use 'loans extend')"
    )
    assert ok(runner, *RECALL, "--due", "2026-04-01T09:00:00Z").startswith(
        "Loan L-1 recalled; due back 2026-04-01 09:00 UTC"
    )


def test_an_extension_that_leaves_the_loan_overdue_is_refused(
    runner: CliRunner, run: Run, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _received(run)  # due 2026-04-01T09:00:00Z
    at_clock(monkeypatch, "2026-06-01T00:00:00Z")
    message = refused(runner, db_path, *EXTEND, "--period", "P1M", code=1)
    assert message.startswith(
        "--period: extending loan L-1 by 1 month makes it due 2026-05-01 09:00 UTC, which is "
        "already past on 2026-06-01 00:00 UTC"
    )
    out = ok(runner, *EXTEND, "--period", "P6M")
    assert out.startswith("Loan L-1 extended; now due 2026-10-01 09:00 UTC (event ")
    assert show(runner)["overdue"] is False


def test_extension_into_the_past_at_service_level(engine: Engine, run: Run) -> None:
    _received(run)
    later = datetime(2026, 6, 1, tzinfo=UTC)
    with pytest.raises(
        RuleViolation, match="makes it due 2026-05-01 09:00 UTC, which is already past"
    ):
        run(loans.extend_loan, number="L-1", period="P1M", approver=CURATOR, reason="x", now=later)
    with pytest.raises(RuleViolation, match="can only bring the due date forward"):
        run(loans.recall_loan, number="L-1", due_at=later, reason="x", now=NOW + timedelta(days=1))


# --- 22: back-dated entries, per sample and per loan ------------------------------------------


def test_back_dated_entries_are_ordered_per_sample(
    runner: CliRunner, run: Run, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    signed_agreement(run)
    received_loan(run, samples=(S1, S2))  # all on 2025-04-01
    at_clock(monkeypatch, "2025-07-01T00:00:00Z")
    ok(
        runner,
        "loans",
        "split",
        "L-1",
        "--sample",
        S2,
        "--child",
        "-G1",
        "--mass",
        "1 mg",
        "--at",
        "2025-06-15",
    )
    # sample A's analysis of June 1, entered after sample B's split of June 15
    ok(runner, *CONSUME, "--mass", "2 mg", "--destructive", "--at", "2025-06-01")
    # the same sample keeps its order
    same = refused(
        runner,
        db_path,
        *CONSUME[:4],
        S2,
        "--technique",
        "x",
        "--mass",
        "1 mg",
        "--destructive",
        "--at",
        "2025-06-01",
        code=1,
    )
    assert f"previous event of sample {S2} (2025-06-15T00:00:00Z)" in same
    # an event about the whole loan follows every event of the loan
    whole = refused(runner, db_path, *EXTEND, "--period", "P1M", "--at", "2025-06-10", code=1)
    assert "previous event of loan L-1 (2025-06-15T00:00:00Z)" in whole
    ok(runner, *EXTEND, "--period", "P1M", "--at", "2025-06-20")
    # and a sample event cannot precede the last whole-loan event
    before = refused(
        runner, db_path, *CONSUME, "--mass", "1 mg", "--destructive", "--at", "2025-06-18", code=1
    )
    assert "previous event of loan L-1 as a whole (2025-06-20T00:00:00Z)" in before
    assert "verify: OK" in ok(runner, "verify")
    # the state as of June 10 has the analysis of June 1 but not the split of June 15
    history = json.loads(
        ok(runner, "custody", "history", "--loan", "L-1", "--as-of", "2025-06-10", "--json")
    )
    (loan,) = history["replayed_state"]["loans"]
    items = {i["sample_code"]: i for i in loan["items"]}
    assert items[S1]["consumed_ug"] == 2000 and items[S2]["held_ug"] == 20000
    assert f"{S2}-G1" not in items


def test_back_dated_entries_at_service_level(engine: Engine, run: Run) -> None:
    signed_agreement(run)
    received_loan(run, samples=(S1, S2))
    later = NOW + timedelta(days=90)
    run(
        loans.borrower_split,
        number="L-1",
        parent=S2,
        child="-G1",
        mass_ug=1000,
        now=later,
        occurred_at=NOW + timedelta(days=75),
    )
    run(
        loans.consume,
        number="L-1",
        sample=S1,
        technique="x",
        mass_ug=1000,
        destructive=True,
        now=later,
        occurred_at=NOW + timedelta(days=60),
    )
    with pytest.raises(RuleViolation, match=f"previous event of sample {S2}"):
        run(
            loans.consume,
            number="L-1",
            sample=S2,
            technique="x",
            mass_ug=1000,
            destructive=True,
            now=later,
            occurred_at=NOW + timedelta(days=60),
        )
    with pytest.raises(RuleViolation, match="previous event of loan L-1 "):
        run(loans.attest_inventory, number="L-1", now=later, occurred_at=NOW + timedelta(days=70))
    with db.transaction(engine, write=False) as session:
        loan = session.get(Loan, "L-1")
        assert loan is not None
        assert loan.last_event_at == NOW + timedelta(days=75)  # the latest, not the last entered
        assert loan.last_loan_wide_event_at == NOW  # the receipt
    assert verify(engine).ok


# --- 23: init dates -------------------------------------------------------------------------------


def test_init_in_2026_lets_the_2025_round_be_entered(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "lab.db"
    monkeypatch.setenv("SAMPLELOANS_DB", str(target))
    at_clock(monkeypatch, "2026-06-01T00:00:00Z")
    result = runner.invoke(
        app, ["init", "--curator-email", CURATOR, "--curator-name", "Li", "--at", "2025-03-01"]
    )
    assert result.exit_code == 0, result.output
    sample = json.loads(ok(runner, "samples", "show", REFERENCE, "--json"))
    assert sample["registered_at"] == CE5_RETURNED  # its mission's return, not the clock
    out = ok(runner, "samples", "split", REFERENCE, "--child", "-01=20mg", "--at", "2025-04-14")
    assert out.startswith(f"Split {REFERENCE} into {REFERENCE}-01")
    events = json.loads(ok(runner, "custody", "history", "--institution", "NAOC", "--json"))[
        "events"
    ]
    dated = {
        e["kind"]: e["occurred_at"]
        for e in events
        if e["kind"] in ("institution.added", "person.added")
    }
    assert dated == {
        "institution.added": "2025-03-01T00:00:00Z",
        "person.added": "2025-03-01T00:00:00Z",
    }
    assert "verify: OK" in ok(runner, "verify")


def test_init_without_at_still_dates_the_reference_samples_by_their_mission(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "lab.db"
    monkeypatch.setenv("SAMPLELOANS_DB", str(target))
    at_clock(monkeypatch, "2026-06-01T00:00:00Z")
    result = runner.invoke(app, ["init", "--curator-email", CURATOR, "--curator-name", "Li"])
    assert result.exit_code == 0, result.output
    assert (
        json.loads(ok(runner, "samples", "show", REFERENCE, "--json"))["registered_at"]
        == CE5_RETURNED
    )
    ok(runner, "samples", "split", REFERENCE, "--child", "-01=20mg", "--at", "2025-04-14")


def test_init_ledger_dates_at_service_level(tmp_path: Path) -> None:
    engine = db.open_engine(db.url_for_path(tmp_path / "l.db"), create=True)
    started = datetime(2025, 3, 1, tzinfo=UTC)
    with db.transaction(engine) as session:
        setup.init_ledger(
            session,
            ctx_for(now=datetime(2026, 6, 1, tzinfo=UTC)),
            curator_name="Li",
            occurred_at=started,
        )
    with db.transaction(engine, write=False) as session:
        reference = session.get(Sample, REFERENCE)
        assert reference is not None
        assert reference.registered_at == datetime(2020, 12, 16, 17, 59, tzinfo=UTC)
    # a clock before a mission's return dates its records by the clock (nothing in the future)
    early = tmp_path / "early.db"
    engine2 = db.open_engine(db.url_for_path(early), create=True)
    with db.transaction(engine2) as session:
        setup.init_ledger(
            session, Context(CURATOR, "t", datetime(2024, 1, 1, tzinfo=UTC)), curator_name="Li"
        )
    assert verify(engine).ok and verify(engine2).ok
    engine.dispose()
    engine2.dispose()


def test_an_imported_history_with_two_returns_in_transit(
    runner: CliRunner, run: Run, engine: Engine, tmp_path: Path
) -> None:
    """`import` replays partial returns through the same rules: each receipt is the acceptance
    of the return shipment it weighs, even while another travels and the loan stays received."""
    with engine.connect() as connection:
        base = connection.exec_driver_sql("SELECT max(seq) FROM ledger_event").scalar_one()
    signed_agreement(run)
    received_loan(run, samples=(S1, S2, S3))
    run(loans.release_return, number="L-1", container="box", seal_number="R-1", samples=[S1])
    run(loans.release_return, number="L-1", container="box", seal_number="R-2", samples=[S2])
    run(loans.accept_return, number="L-1", seal_intact=True, condition="ok", weighed_ug={S2: 20000})
    run(loans.consume, number="L-1", sample=S3, technique="x", mass_ug=1000, destructive=True)
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT kind, occurred_at, actor, payload, reason FROM ledger_event WHERE seq > ? "
            "ORDER BY seq",
            (base,),
        ).all()
    history = tmp_path / "history.jsonl"
    history.write_text(
        "".join(
            json.dumps(
                {"kind": k, "occurred_at": t, "actor": a, "payload": json.loads(p), "reason": r}
            )
            + "\n"
            for k, t, a, p, r in rows
        ),
        encoding="utf-8",
    )
    copy = tmp_path / "copy.db"
    other = db.open_engine(db.url_for_path(copy), create=True)
    with db.transaction(other) as session:
        setup.init_ledger(session, ctx_for(), curator_name="Li Na (test curator)")
        setup.add_people_rows(session, ctx_for(), setup.read_rows("demo/people.csv"))
        setup.register_sample_rows(session, ctx_for(), setup.read_rows("demo/samples.csv"))
    other.dispose()
    result = runner.invoke(app, ["--db", str(copy), "--as", CURATOR, "import", str(history)])
    assert result.exit_code == 0, result.output
    detail = json.loads(ok(runner, "--db", str(copy), "loans", "show", "L-1", "--json"))
    assert detail["status"] == "received"
    assert {i["sample_code"]: i["custody_state"] for i in detail["items"]} == {
        S1: "return-in-transit",
        S2: "returned",
        S3: "held",
    }
