"""Issue 13 point 3: an import's unit keeps the mass issued under each agreement as a running
total (read once per agreement, then followed by each issue), in place of summing the
agreement's items at every issue.

Each issue's answer is compared with the sum the unit's rows give at that moment (the reading
every issue made before: `_issued_in_batch`), and after each batch is written, the total with
the database's own sum; over batch sizes that put the issues in one batch or in many, with a
line refused mid-batch (over the agreement's mass), a borrower's split (its item is not counted),
and a batch undone by its closing checks (rolled back: the total is read again).
"""

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text

from sampleloans import db
from sampleloans.errors import RuleViolation
from sampleloans.ledger.reads import open_batch
from sampleloans.ledger.unit import Unit
from sampleloans.services import loans
from sampleloans.services.bulk import BulkRejected, LineError, _import_per_record, import_records
from tests.conftest import UOC_PI, ctx_for
from tests.test_i13_imp_batch_reads import rec, text_of

LATER = ctx_for().now.replace(year=2025, month=7, day=1)
A, B, C, D = "CE5C0100YJFM00201", "CE5C0200YJFM00112", "CE5C0300YJFM00307", "CE5C0500YJFM00415"
E, F = "CE5C0000YJYX052", "CE5C0000YJYX061"
SUMMED = text(
    "SELECT coalesce(sum(i.issued_ug), 0) FROM loan_item i JOIN loan l ON l.number = "
    "i.loan_number WHERE l.agreement = :agreement AND i.source = 'issued'"
)


def story(*, refused: bool = True) -> list[dict[str, Any]]:
    """Six loans under one agreement of 1.075 g: A, B, C, D (1.060 g) fit, with A's split
    child on its loan (100 mg, not curator-issued); E (35.2 mg) is over; F (12.4 mg) fits."""
    agreement = {
        "number": "AG-SUM",
        "institution": "UoC",
        "term": "P5Y",
        "max_total_mass_ug": 1_075_000,
        "allowed_purposes": ["research"],
        "max_loan_period": "P3M",
        "destructive_use_allowed": True,
    }
    loans_ = [("L-S1", A), ("L-S2", B), ("L-S3", C), ("L-S4", D), ("L-S5", E), ("L-S6", F)]
    lines: list[tuple[bool, dict[str, Any]]] = [
        (False, rec("agreement.created", "04-02", agreement)),
        (False, rec("agreement.signed", "04-03", {"number": "AG-SUM", "signed_by": "x"})),
    ]
    for number, code in loans_:
        payload = {"number": number, "agreement": "AG-SUM", "pi": UOC_PI, "samples": [code]}
        lines.append((False, rec("loan.requested", "04-04", payload)))
        lines.append((False, rec("loan.approved", "04-05", {"number": number})))
    ship = {"number": "L-S1", "direction": "outbound", "container": "box", "seal_number": "S1"}
    received = {"number": "L-S1", "seal_intact": True, "condition": "pristine"}
    split = {"number": "L-S1", "parent": A, "child": f"{A}-G1", "mass_ug": 100_000}
    lines += [
        (False, rec("loan.issued", "04-06", {"number": "L-S1"})),
        (False, rec("loan.shipped", "04-07", ship)),
        (False, rec("loan.received", "04-08", received)),
        (False, rec("loan.split", "04-09", split)),
        (False, rec("loan.issued", "04-10", {"number": "L-S2"})),
        (False, rec("loan.issued", "04-10", {"number": "L-S3"})),
        (False, rec("loan.issued", "04-11", {"number": "L-S4"})),
        (True, rec("loan.issued", "04-11", {"number": "L-S5"})),  # 35.2 mg over
        (False, rec("loan.issued", "04-12", {"number": "L-S6"})),
    ]
    return [line for bad, line in lines if refused or not bad]


class Watch:
    """Every issue's answer beside the unit's full sum, and each written batch's totals beside
    the database's sum; `undo`: the closing checks of the first batch that asked for the mass
    issued refuse it, once (the import narrows the batch down and imports it again)."""

    def __init__(self, undo: bool) -> None:
        self.answers: list[tuple[int, int]] = []
        self.written: list[tuple[int, int]] = []
        self.batches = 0
        self.undo = undo
        self.undone = 0


@pytest.fixture
def watch(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[Watch]:
    """Watch the running total through the import (see `Watch`)."""
    seen = Watch(bool(getattr(request, "param", False)))
    answer, end_batch = loans._issued_under, Unit.end_batch

    def issued_under(session: Any, number: str, agreement: str) -> int:
        batch = open_batch(session)
        summed = loans._issued_in_batch(batch, agreement) if batch is not None else None
        got = answer(session, number, agreement)
        if summed is not None:
            seen.answers.append((got, summed))
        return got

    def closing(unit: Unit) -> None:
        seen.batches += 1
        if seen.undo and not seen.undone and unit.agreement_issued_ug:
            seen.undone += 1
            raise RuleViolation("refused by the test: the batch is undone")
        end_batch(unit)
        for agreement, total in sorted(unit.agreement_issued_ug.items()):
            stored = unit.connection.execute(SUMMED, {"agreement": agreement}).scalar_one()
            seen.written.append((total, int(stored)))

    monkeypatch.setattr(loans, "_issued_under", issued_under)
    monkeypatch.setattr(Unit, "end_batch", closing)
    yield seen


def refusals(engine: Engine, records: list[dict[str, Any]], *, batch: int) -> list[LineError]:
    """The lines the batched import refuses (the whole import is then rolled back)."""
    with pytest.raises(BulkRejected) as refused, db.transaction(engine) as session:
        import_records(session, ctx_for(now=LATER), text_of(records), fmt="jsonl", batch=batch)
    return refused.value.errors


def reference(engine: Engine, records: list[dict[str, Any]]) -> list[LineError]:
    """The lines the record-by-record path refuses (no unit, no running total)."""
    with pytest.raises(BulkRejected) as refused, db.transaction(engine) as session:
        _import_per_record(session, ctx_for(now=LATER), text_of(records), "jsonl", "h", None)
    return refused.value.errors


@pytest.mark.parametrize(
    ("batch", "watch"),
    [(1000, False), (13, False), (4, False), (1, False), (1000, True), (13, True), (4, True)],
    indirect=["watch"],
)
def test_the_running_total_is_the_sum_at_every_issue_and_every_write(
    engine: Engine, watch: Watch, batch: int
) -> None:
    records = story()
    refused = refusals(engine, records, batch=batch)
    assert [error.line for error in refused] == [len(records) - 1]
    assert "1.060 g already issued + 35.200 mg now would exceed it" in refused[0].message
    # each issue's answer is the unit's whole sum (S2 after S1's split; S5 refused)
    assert all(got == summed for got, summed in watch.answers), watch.answers
    asked = [got for got, _ in watch.answers]
    if not watch.undone:
        assert asked == [0, 1_000_000, 1_020_000, 1_040_000, 1_060_000, 1_060_000]
    else:  # the undone batch's issues are asked again, from a total read again
        assert len(asked) >= 6 and asked[-1] == 1_060_000
    assert watch.written and all(total == stored for total, stored in watch.written)
    assert watch.undone == watch.undo
    assert refused == reference(engine, records)


def test_an_undone_batch_reads_the_total_again(engine: Engine, watch: Watch) -> None:
    """The closing checks of the batch holding the first issues refuse once: the total kept
    through that batch is dropped with its rows, and the issues' second run reads it again."""
    watch.undo = True
    records = story(refused=False)
    with db.transaction(engine) as session:
        import_records(session, ctx_for(now=LATER), text_of(records), fmt="jsonl", batch=1000)
    assert watch.undone == 1
    assert all(got == summed for got, summed in watch.answers), watch.answers
    # the first run's issues, then again from an empty total after the undo
    assert [got for got, _ in watch.answers].count(0) == 2
    with engine.connect() as connection:
        stored = connection.execute(SUMMED, {"agreement": "AG-SUM"}).scalar_one()
    assert stored == 1_000_000 + 20_000 * 3 + 12_400
    assert watch.written[-1] == (stored, stored)


def test_the_import_cache_is_the_imports_only(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """256 MiB of page cache while the import runs (SQLite), the bulk cache's 64 MiB after it,
    also when the import is refused."""
    from sampleloans.services import bulk

    seen: list[int] = []
    run = bulk._import_run

    def watched(session: Any, *args: Any) -> Any:
        seen.append(session.connection().exec_driver_sql("PRAGMA cache_size").scalar_one())
        return run(session, *args)

    monkeypatch.setattr(bulk, "_import_run", watched)
    for records, refused in ((story(refused=False), False), (story(), True)):
        with db.transaction(engine) as session:
            raised = False
            try:
                import_records(session, ctx_for(now=LATER), text_of(records), fmt="jsonl")
            except BulkRejected:
                raised = True  # the cache is set back all the same
            assert raised == refused
            after = session.connection().exec_driver_sql("PRAGMA cache_size").scalar_one()
            assert seen and set(seen) == {db.IMPORT_CACHE_KIB} == {-262_144}
            assert after == db.BULK_CACHE_KIB == -65_536
            seen.clear()
            session.rollback()
