"""One definition of "the ledger as it stood at T" (issue 12, `ledger/replay.py`).

The ledger below has an analysis recorded *before* a back-dated one but dated *after* the
moment asked for. The ledger as it stood then holds the back-dated analysis (it had happened)
and not the other (it had not, although it was recorded earlier). `custody history --as-of`,
`report custody --as-of` and `verify-document` of that report must all see exactly that.
"""

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner, Result

from sampleloans import db
from sampleloans.cli import app
from sampleloans.ledger import replay
from sampleloans.services import history, loans
from sampleloans.services.reporting import CustodyBody, build_report, make_request
from tests.conftest import COMPLIANCE, NOW, Run, ctx_for
from tests.factories import received_loan, signed_agreement

S1, S2 = "CE5C0200YJFM00112", "CE5C0300YJFM00307"
LATE_AT = NOW + timedelta(days=10)  # recorded then, dated then
RECORDED_AT = NOW + timedelta(days=11)  # the back-dated analysis is recorded the next day …
BACK_AT = NOW + timedelta(days=5)  # … dated days before the other one
MOMENT = NOW + timedelta(days=7)  # between the two dates
LATER = NOW + timedelta(days=12)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.fixture
def two_analyses(engine: Engine, run: Run) -> tuple[int, int]:
    """Loan L-1 with S1 and S2; S1 analysed at LATE_AT, then S2 back-dated to BACK_AT."""
    signed_agreement(run)
    received_loan(run, samples=(S1, S2))
    late = run(
        loans.consume,
        number="L-1",
        sample=S1,
        technique="late analysis",
        mass_ug=1_000,
        destructive=True,
        now=LATE_AT,
    )
    back = run(
        loans.consume,
        number="L-1",
        sample=S2,
        technique="back-dated analysis",
        mass_ug=2_000,
        destructive=True,
        now=RECORDED_AT,
        occurred_at=BACK_AT,
    )
    return late.seq, back.seq


def test_the_cut_takes_what_had_occurred_by_then(
    engine: Engine, two_analyses: tuple[int, int]
) -> None:
    late, back = two_analyses
    assert late < back
    with db.transaction(engine, write=False) as session:
        cut = replay.as_of(session, MOMENT)
    assert cut.up_to_seq == back  # the last event dated by then names the head …
    assert not cut.takes("loan.consumed", LATE_AT)  # … but a later act recorded before it
    assert cut.takes("loan.consumed", BACK_AT)  # had not happened yet
    assert cut.takes("person.added", LATE_AT)  # reference records whatever their date


def test_history_and_report_as_of_agree(engine: Engine, two_analyses: tuple[int, int]) -> None:
    late, back = two_analyses
    ctx = ctx_for(COMPLIANCE, LATER)
    with db.transaction(engine, write=False) as session:
        past = history.record_history(session, ctx, loan="L-1", as_of=MOMENT)
        request = make_request("custody", loan="L-1", as_of=MOMENT)
        report = build_report(session, ctx, request, generated_at=LATER)
    assert past.state is not None and past.state.up_to_seq == back
    consumed = {s.code: s.consumed_ug for s in past.state.samples}
    assert consumed == {S1: 0, S2: 2_000}
    assert report.head_seq == back
    assert isinstance(report.body, CustodyBody)
    seqs = {row.seq for row in report.body.events}
    assert back in seqs and late not in seqs  # the same events as the history's state


def _cli(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(app, ["--as", COMPLIANCE, *args], env={"SAMPLELOANS_NOW": _iso(LATER)})


def test_the_three_agree_through_the_cli(
    engine: Engine, two_analyses: tuple[int, int], cli_env: dict[str, str], tmp_path: Path
) -> None:
    _late, back = two_analyses
    runner = CliRunner()
    shown = _cli(runner, "custody", "history", "--loan", "L-1", "--as-of", _iso(MOMENT), "--json")
    assert shown.exit_code == 0, shown.stderr
    state = json.loads(shown.stdout)["replayed_state"]
    assert state["up_to_seq"] == back
    consumed = {s["code"]: s["consumed_ug"] for s in state["samples"]}
    assert consumed == {S1: 0, S2: 2_000}
    out = tmp_path / "then.pdf"
    made = _cli(
        runner, "report", "custody", "--loan", "L-1", "--as-of", _iso(MOMENT),
        "--out", str(out), "--generated-at", _iso(LATER),
    )  # fmt: skip
    assert made.exit_code == 0, made.stderr
    checked = _cli(runner, "verify-document", str(out))
    assert checked.exit_code == 0, checked.stdout
    assert f"ledger head {back}:" in checked.stdout
