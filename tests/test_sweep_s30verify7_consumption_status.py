"""Issue 15 point 3: a consumption that leaves its sample held does not re-read the loan's items.

`apply._consumed` set the loan's status from every item of the loan at each consumption
(`_follow_items`). A consumption needs the loan `received`, and while the consumed item is
still held the items give `received` again: only a consumption that leaves the item (used up)
can change the status, and only that one reads the items now. These tests hold it to the old
path (the items followed at every consumption): the scratch copy a replay writes is the same
row for row, and `verify` names the same findings in the same order on tampered ledgers,
among them a loan whose status a using-up consumption changed (`return_in_transit`: its other
sample is on its way back).
"""

import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.ledger import apply as apply_module
from sampleloans.ledger import events as ev
from sampleloans.ledger.checks import require_loan_transition
from sampleloans.ledger.envelope import Envelope
from sampleloans.ledger.unit import Touched
from sampleloans.services import loans
from sampleloans.services import verify as verify_module
from sampleloans.units import parse_mass_ug as mass
from tests.conftest import COMPLIANCE, CURATOR, Run, run_on
from tests.factories import held_ug, received_loan
from tests.test_sweep_s23verify5_deferred_writes import (  # noqa: F401  (`generated`: a fixture)
    _replayed,
    _replays,
    generated,
)
from tests.test_sweep_s24verify6_consumptions_after import (  # noqa: F401  (fixtures)
    TAMPERS,
    corrected,
)
from tests.test_verify_tamper import tamper, template  # noqa: F401  (a pytest fixture by name)

KEPT, USED_UP = "CE5C0000YJYX052", "CE5C0000YJYX061"
"""Loan L-3's samples: the first released for return, the second consumed to nothing."""


def _consumed_following_always(
    store: apply_module.Projections, envelope: Envelope, event: ev.LoanConsumed, t: Touched
) -> None:
    """`apply._consumed` as it was: the loan's status from its items at every consumption."""
    loan = apply_module._loan(store, envelope, event.number, t, whole=False)
    require_loan_transition(loan, "consume")
    sample = apply_module._sample(store, envelope, event.sample, t)
    item = apply_module._item(store, loan.number, event.sample)
    apply_module._use_up(sample, item, event.mass_ug, "consumed")
    sample.consumed_ug += event.mass_ug
    apply_module._follow_items(store, loan)
    if store.consumptions_later and apply_module.plain_consumption(event, envelope.occurred_at):
        return
    store.insert(
        apply_module.Consumption,
        **apply_module.consumption_values(envelope.seq, envelope.occurred_at, event, loan.number),
    )


@contextmanager
def _old_path(old: bool) -> Iterator[None]:
    """Within the block, consumptions follow the items at every event (`old`) or as now."""
    kind = ev.LoanConsumed.kind
    applier = _consumed_following_always if old else apply_module.APPLIERS[kind]
    with mock.patch.dict(apply_module.APPLIERS, {kind: applier}):
        yield


@pytest.fixture(scope="module")
def used_up(
    corrected: Path,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """The corrected ledger, and loan L-3 of two samples: one released for return, the other
    consumed in two analyses to nothing (the loan is then `return_in_transit`)."""
    path = tmp_path_factory.mktemp("used_up") / "ledger.db"
    shutil.copyfile(corrected, path)
    engine = db.open_engine(db.url_for_path(path))
    try:
        run = run_on(engine)
        # recorded and verified as the old path does: the tests below hold the new to it
        with _old_path(True):
            _record_loan_3(run)
            assert verify_module.verify(engine).ok
    finally:
        engine.dispose()
    assert _loan_status(path, "L-3") == "return_in_transit"
    return path


def _record_loan_3(run: Run) -> None:
    """Loan L-3 received, one sample released for return, the other consumed to nothing."""
    received_loan(run, number="L-3", samples=(KEPT, USED_UP))
    _consume(run, mass("1 mg"))
    run(loans.release_return, number="L-3", container="N2 box", seal_number="S-3",
        samples=[KEPT])  # fmt: skip
    _consume(run, held_ug(run, "L-3", USED_UP))


def _consume(run: Run, mass_ug: int) -> None:
    """One analysis of L-3's second sample."""
    run(
        loans.consume,
        number="L-3",
        sample=USED_UP,
        technique="SIMS",
        mass_ug=mass_ug,
        destructive=True,
    )


def _loan_status(path: Path, number: str) -> str:
    """A loan's stored status."""
    connection = sqlite3.connect(path)
    try:
        row = connection.execute("SELECT status FROM loan WHERE number = ?", (number,))
        return str(row.fetchone()[0])
    finally:
        connection.close()


@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(keep_rows=st.sampled_from([1, 3, 40, 100_000]), batch=st.sampled_from([1, 4, 5000]))
def test_the_scratch_copy_is_the_one_of_items_followed_at_every_consumption(
    used_up: Path,
    generated: Path,  # noqa: F811
    tmp_path: Path,
    keep_rows: int,
    batch: int,
) -> None:
    for ledger in (used_up, generated):
        copies = []
        for old in (False, True):
            scratch = tmp_path / f"{old}.db"
            with _old_path(old):
                copies.append(
                    _replayed(ledger, scratch, defer=True, keep_rows=keep_rows, batch=batch)
                )
        assert copies[0] == copies[1]
        if ledger == used_up:  # a consumption changed L-3's status
            assert "return_in_transit" in {row[0]: row for row in copies[0]["loan"]}["L-3"]


MORE_TAMPERS = {
    **TAMPERS,
    "the using-up consumption one microgram less": "UPDATE ledger_event SET payload = "
    "json_set(payload, '$.mass_ug', json_extract(payload, '$.mass_ug') - 1) WHERE seq = "
    "(SELECT max(seq) FROM ledger_event WHERE kind = 'loan.consumed')",
    "the using-up consumption one microgram more": "UPDATE ledger_event SET payload = "
    "json_set(payload, '$.mass_ug', json_extract(payload, '$.mass_ug') + 1) WHERE seq = "
    "(SELECT max(seq) FROM ledger_event WHERE kind = 'loan.consumed')",
    "the loan's stored status received": "UPDATE loan SET status = 'received' WHERE number = 'L-3'",
    "a held item's stored state consumed": "UPDATE loan_item SET state = 'consumed' "
    "WHERE loan_number = 'L-2'",
}


@pytest.mark.parametrize("name", sorted(MORE_TAMPERS))
def test_verify_names_the_same_findings_as_with_the_items_followed_always(
    used_up: Path, tmp_path: Path, name: str
) -> None:
    path = tmp_path / "ledger.db"
    shutil.copyfile(used_up, path)
    tamper(path, (MORE_TAMPERS[name], ()))
    engine = db.open_engine(db.url_for_path(path))
    found = {}
    try:
        for old in (False, True):
            with _old_path(old), _replays(defer=True, keep_rows=3, batch=2):
                result = verify_module.verify(engine)
            found[old] = [(problem.area, problem.message) for problem in result.problems]
    finally:
        engine.dispose()
    assert found[False], name  # the tamper is caught
    assert found[False] == found[True]


def test_the_cli_records_a_using_up_consumption_and_verify_finds_the_ledger_whole(
    used_up: Path, tmp_path: Path
) -> None:
    """Through the CLI: the last of L-2's sample consumed (the loan had nothing else), a
    consumption that keeps it held before; the loan stays `received` (its items give no other
    status), and `verify` finds nothing."""
    path = tmp_path / "ledger.db"
    shutil.copyfile(used_up, path)
    runner = CliRunner()
    base = ["--db", str(path), "--as", CURATOR, "loans", "consume", "L-2", "--sample"]
    sample = "CE5C0800YJFM00102"
    engine = db.open_engine(db.url_for_path(path))
    try:
        left = held_ug(run_on(engine), "L-2", sample)
    finally:
        engine.dispose()
    for used in ("1000", str(left - 1000)):
        answer = runner.invoke(
            app, [*base, sample, "--technique", "EPMA", "--mass", f"{used} µg", "--destructive"]
        )
        assert answer.exit_code == 0, answer.output
    assert _loan_status(path, "L-2") == "received"
    answer = runner.invoke(app, ["--db", str(path), "--as", COMPLIANCE, "verify"])
    assert answer.exit_code == 0, answer.output
    tamper(path, (MORE_TAMPERS["the loan's stored status received"], ()))
    answer = runner.invoke(app, ["--db", str(path), "--as", COMPLIANCE, "verify"])
    assert answer.exit_code == 1, answer.output
    assert "loan row L-3" in answer.output, answer.output
