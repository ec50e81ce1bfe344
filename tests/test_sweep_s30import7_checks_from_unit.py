"""A batch's closing checks name the samples on its touched loans from the unit (issue 13
points 3–4): the unit holds every item code of a loan it has read (`Unit.loan_items`, kept by
the items it inserts), so the checks' snapshot takes those codes (`samples_on_loans`) instead
of finding them again with a subquery on the loans' items. These tests hold it to the
subquery's answer: the same rows in the same order and the same findings for any records
named, codes the unit gives that are exactly the stored ones at every check of a real import,
and a refusal by the closing checks in the same words through the command."""

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.ledger import checks
from sampleloans.ledger.unit import Touched
from tests.conftest import CURATOR, fingerprint
from tests.test_sweep_s22importcheck_checks import (
    LOANS,
    SAMPLES,
    TAMPERS,
    WORDS,
    _bench_ledger,
    _consumptions,
    _last_event,
    _tampered,
    bench_ledger,
    every_rule_broken,
)

__all__ = ["bench_ledger", "every_rule_broken"]  # the fixtures this file uses


def _rows(rows: list[Any]) -> list[tuple[Any, ...]]:
    """Plain rows as tuples of their values, in their order."""
    return [tuple(row) for row in rows]


def _in_order(snapshot: checks.Snapshot) -> dict[str, Any]:
    """Every row a snapshot holds, in its order (the messages follow it)."""
    return {
        "samples": _rows(snapshot.samples),
        "children": {k: _rows(v) for k, v in snapshot.children.items()},
        "items": _rows(snapshot.items),
        "loans": _rows(snapshot.loans),
        "open": snapshot.open_incident_samples,
    }


def _codes_on(connection: Any, numbers: set[str]) -> dict[str, set[str]]:
    """The stored item codes of each loan named."""
    found: dict[str, set[str]] = {number: set() for number in numbers}
    for number, code in connection.exec_driver_sql(
        "SELECT loan_number, sample_code FROM loan_item"
    ):
        if number in found:
            found[number].add(str(code))
    return found


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    samples=st.sets(st.sampled_from(SAMPLES), max_size=10),
    loans=st.sets(st.sampled_from(LOANS), max_size=4),
    data=st.data(),
)
def test_named_codes_give_the_rows_and_findings_the_subquery_gives(
    every_rule_broken: Path, samples: set[str], loans: set[str], data: st.DataObject
) -> None:
    """Any touched samples and loans (some absent, some broken by hand), the codes of any of
    the loans given: the same rows in the same order, the same findings in the same words."""
    given_for = data.draw(
        st.sets(st.sampled_from(sorted(loans)), max_size=4) if loans else st.just(set())
    )
    engine = db.open_engine(db.url_for_path(every_rule_broken))
    try:
        with engine.connect() as connection:
            known = _codes_on(connection, given_for)
            read = checks.build_snapshot(connection, samples=samples, loans=loans, agreements=())
            named = checks.build_snapshot(
                connection, samples=samples, loans=loans, agreements=(), samples_on_loans=known
            )
    finally:
        engine.dispose()
    assert _in_order(named) == _in_order(read)
    assert checks.run_checks(named) == checks.run_checks(read)


def test_a_code_left_out_is_a_sample_left_unchecked(every_rule_broken: Path) -> None:
    """The codes must be complete: without the broken sample of a loan, its breach is missed
    (why the unit gives only loans whose items it has read in full)."""
    engine = db.open_engine(db.url_for_path(every_rule_broken))
    try:
        with engine.connect() as connection:
            touched = Touched(loans={"L-000003"})
            found = checks.check_touched(connection, touched)
            missing = checks.check_touched(connection, touched, {"L-000003": set()})
    finally:
        engine.dispose()
    assert any("SYN0000003" in v.message for v in found)
    assert not any("SYN0000003" in v.message for v in missing)


def test_at_every_check_of_an_import_the_units_codes_are_the_stored_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bench's small collection and history imported (issues, receipts, consumptions,
    splits, returns, settlements): at each closing check, the codes the unit gives for a loan
    are exactly its stored items' (the unit's rows are written before the checks read)."""
    real = checks.check_touched
    given: list[str] = []

    def compared(bind: Any, touched: Touched, samples_on_loans: Any = None) -> Any:
        assert samples_on_loans is not None, "the unit gave no codes"
        assert set(samples_on_loans) <= touched.loans
        assert _codes_on(bind, set(samples_on_loans)) == samples_on_loans
        given.extend(samples_on_loans)
        return real(bind, touched, samples_on_loans)

    monkeypatch.setattr(checks, "check_touched", compared)
    _bench_ledger(tmp_path)
    assert len(set(given)) >= 5  # most of the small collection's 6 loans were checked so


def test_the_command_refuses_a_breach_on_a_touched_loan_in_the_same_words(
    bench_ledger: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sampleloans import` of consumptions whose 7th touches a loan item changed by hand:
    one line naming line 7 and the breach, exit 1 (a rule), nothing written."""
    path = _tampered(bench_ledger, tmp_path, TAMPERS["item"])
    history = tmp_path / "history.jsonl"
    history.write_text("".join(_consumptions(12, 7, _last_event(path))), encoding="utf-8")
    monkeypatch.setenv("SAMPLELOANS_DB", str(path))
    monkeypatch.setenv("SAMPLELOANS_NOW", "2030-01-01T00:00:00Z")
    before = fingerprint(path)
    result = CliRunner().invoke(app, ["--as", CURATOR, "import", str(history)])
    assert result.exit_code == 1, result.output  # a rule refused it (README "Exit codes")
    refusal = [line for line in result.stderr.splitlines() if "line 7" in line]
    assert len(refusal) == 1, result.stderr
    assert WORDS["item"] in refusal[0]
    assert fingerprint(path) == before
