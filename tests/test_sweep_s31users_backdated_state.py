"""Sweep s31 "users" (2): a write dated (`--at`) before a later recorded event is refused
naming `--at`, not the state that later event made.

The consumption of 20 May entered after the sample's return of 1 June was recorded used to be
refused with "sample … is on its way back …; record its arrival with 'loans accept-return …'",
and an extension dated before the return's acceptance with "loan … is returned; cannot extend":
true of the loan now, but a step that cannot help. Events of a record are kept in time order,
so the refusal now names the time first, as the time-order rule words it, then the state (exit 1
either way, nothing written). Without `--at` (or dated after the last event) the state's own
refusal stands.
"""

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from sampleloans.cli import app
from sampleloans.errors import Conflict, RuleViolation
from sampleloans.services import loans
from tests import factories
from tests.conftest import CURATOR, NOW, fingerprint, run_on

A, B = "CE5C0200YJFM00112", "CE5C0300YJFM00307"
EARLY = NOW + timedelta(days=5)  # while both were held
A_SENT = NOW + timedelta(days=10)  # A released for return
B_SENT = NOW + timedelta(days=12)  # B too: the loan on its way back
BOTH_BACK = NOW + timedelta(days=20)
LATER = NOW + timedelta(days=30)  # "now" for the writes below


def _iso(at: datetime) -> str:
    """ISO 8601 UTC, as `--at` takes it and a refusal prints it."""
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _a_sent_back(engine: Engine) -> None:
    """L-1 of OU received with A and B; A released for return at A_SENT."""
    run = run_on(engine)
    factories.signed_agreement(run, "OU")
    factories.received_loan(run, samples=(A, B))
    run(loans.release_return, now=A_SENT, number="L-1", container="box", seal_number="R-1",
        samples=[A])  # fmt: skip


def _consume(engine: Engine, code: str, at: datetime | None) -> None:
    """A consumption of 1 µg of `code` on L-1, dated `at` (None: now), recorded at LATER."""
    run_on(engine)(loans.consume, now=LATER, number="L-1", sample=code, technique="EPMA",
                   mass_ug=1, destructive=True, occurred_at=at)  # fmt: skip


def test_a_consumption_dated_before_its_samples_return_names_the_time(engine: Engine) -> None:
    """Service level, the sample's state: the refusal names the time and the return after it."""
    _a_sent_back(engine)
    with pytest.raises(RuleViolation) as refused:
        _consume(engine, A, EARLY)
    message = str(refused.value)
    assert message.startswith(
        f"time: {_iso(EARLY)} is before the previous event of sample {A} ({_iso(A_SENT)}); "
        f"events of a record are kept in time order (give a time from {_iso(A_SENT)} on), and "
    ), message
    assert f"sample {A} of loan L-1 is on its way back" in message


def test_without_at_the_state_refusal_stands(engine: Engine) -> None:
    """Dated now (after every event), the sample on its way back is the reason, and its hint."""
    _a_sent_back(engine)
    with pytest.raises(Conflict) as refused:
        _consume(engine, A, None)
    assert not str(refused.value).startswith("time:")
    assert "loans accept-return L-1" in str(refused.value)


def test_a_consumption_dated_before_the_loan_went_back_names_the_time(engine: Engine) -> None:
    """Service level, the loan's state: everything on its way back since B_SENT."""
    _a_sent_back(engine)
    run_on(engine)(loans.release_return, now=B_SENT, number="L-1", container="box",
                   seal_number="R-2", samples=[B])  # fmt: skip
    with pytest.raises(RuleViolation) as refused:
        _consume(engine, B, EARLY)
    message = str(refused.value)
    assert message.startswith(
        f"time: {_iso(EARLY)} is before the previous event of loan L-1 ({_iso(B_SENT)}); "
    ), message
    assert "loan L-1 is on its way back to the lender; cannot consume" in message


def test_an_extension_dated_before_the_return_was_accepted_names_the_time(engine: Engine) -> None:
    """A whole-loan step: the loan returned since BOTH_BACK; extend dated before it."""
    run = run_on(engine)
    factories.signed_agreement(run, "OU")
    factories.received_loan(run)
    run(loans.release_return, now=A_SENT, number="L-1", container="box", seal_number="R-1")
    run(loans.accept_return, now=BOTH_BACK, number="L-1", seal_intact=True, condition="ok",
        weighed_ug={A: factories.held_ug(run, "L-1", A)})  # fmt: skip
    with pytest.raises(RuleViolation) as refused:
        run(loans.extend_loan, now=LATER, number="L-1", period="1 month", approver=CURATOR,
            reason="beam time", occurred_at=EARLY)  # fmt: skip
    message = str(refused.value)
    assert message.startswith(f"time: {_iso(EARLY)} is before the previous event of loan L-1 (")
    assert "loan L-1 is returned; cannot extend" in message


def test_the_cli_names_at_in_one_line_and_writes_nothing(engine: Engine, db_path: Path) -> None:
    """`loans consume --at` before the sample's return: one `Error: --at:` line, exit 1."""
    _a_sent_back(engine)
    engine.dispose()
    before = fingerprint(db_path)
    env = {"SAMPLELOANS_DB": str(db_path), "SAMPLELOANS_NOW": _iso(LATER)}
    args = ["--as", CURATOR, "loans", "consume", "L-1", "--sample", A, "--technique", "EPMA",
            "--mass", "1 µg", "--destructive", "--at", _iso(EARLY)]  # fmt: skip
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 1, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: --at: {_iso(EARLY)} is before "), lines
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert fingerprint(db_path) == before


# --- the samples' own steps: the same rule where a later event made the state ----------------


def _issued_at(engine: Engine, at: datetime) -> None:
    """L-1 of OU (sample A) issued at `at`: A out of the vault since."""
    run = run_on(engine)
    factories.signed_agreement(run, "OU")
    factories.approved_loan(run)
    run(loans.issue_loan, now=at, number="L-1")


@pytest.mark.parametrize("step", ["split", "move", "transfer"])
def test_a_vault_step_dated_before_the_issue_names_the_time(engine: Engine, step: str) -> None:
    """Service level: split, move and transfer dated while A was in the vault, entered after
    its issue, are refused naming the time, then that A is on loan (before: the state alone,
    'record its return before splitting')."""
    from sampleloans.services import samples, transfers

    _issued_at(engine, A_SENT)
    run = run_on(engine)
    calls = {
        "split": lambda: run(samples.split_sample, now=LATER, parent=A,
                             children=[("-01", 1)], occurred_at=EARLY),
        "move": lambda: run(samples.move_sample, now=LATER, code=A,
                            storage_location="cabinet C", occurred_at=EARLY),
        "transfer": lambda: run(transfers.transfer_samples, now=LATER, codes=[A],
                                recipient="MNHN", reference="gift", occurred_at=EARLY),
    }  # fmt: skip
    with pytest.raises(RuleViolation) as refused:
        calls[step]()
    message = str(refused.value)
    assert message.startswith(
        f"time: {_iso(EARLY)} is before the previous event of sample {A} ({_iso(A_SENT)}); "
    ), message
    assert f"sample {A} is on loan L-1" in message


def test_a_consumption_dated_before_an_incident_names_the_time(engine: Engine) -> None:
    """A consumption dated before the incident that froze the sample: the time first."""
    from sampleloans.services import incidents

    run = run_on(engine)
    factories.signed_agreement(run, "OU")
    factories.received_loan(run, samples=(A, B))
    run(incidents.report_incident, now=A_SENT, sample=A, incident_kind="damage",
        description="cracked")  # fmt: skip
    with pytest.raises(RuleViolation) as refused:
        _consume(engine, A, EARLY)
    assert str(refused.value).startswith(f"time: {_iso(EARLY)} is before the previous event of")
    with pytest.raises(Conflict):  # dated now: the open incident is the reason
        _consume(engine, A, None)


def test_the_cli_split_names_at(engine: Engine, db_path: Path) -> None:
    """`samples split --at` before the sample's issue: one `Error: --at:` line, exit 1."""
    _issued_at(engine, A_SENT)
    engine.dispose()
    before = fingerprint(db_path)
    env = {"SAMPLELOANS_DB": str(db_path), "SAMPLELOANS_NOW": _iso(LATER)}
    args = ["--as", CURATOR, "samples", "split", A, "--child", "-01=1mg", "--at", _iso(EARLY)]
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 1, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: --at: {_iso(EARLY)} is before "), lines
    assert fingerprint(db_path) == before
