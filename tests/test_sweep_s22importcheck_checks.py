"""A batch's closing checks read their rows the cheap way and stay exactly as strict (issue 13).

The checks of a batch read the touched records with each key set as one JSON parameter on
SQLite (`db.in_keys`: SQLAlchemy rendered an IN list one bound value at a time) and run on
plain named tuples (`checks._plain`: a field of a SQLAlchemy `Row` cost several times a
tuple's). These tests hold them to the old reading: the same rows, the same findings in the
same order with the same words; and an import whose Nth event breaks a rule is refused on
that line with the words the record-by-record path (the single command's way) gives.
"""

import json
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.generate import NOW, START, Scale, write_catalogue, write_history
from sampleloans import db
from sampleloans.ledger import checks
from sampleloans.services import bulk, setup
from sampleloans.services.bulk import BulkRejected, import_records
from tests.conftest import CURATOR, ctx_for

SMALL = Scale(samples=40, institutions=3, loans=6, events=400, report_events=20, runs=1)
TAMPERS = {
    # each breaks one rule of sample SYN0000003 / loan L-000003 (held, 4,950 µg)
    "mass": "UPDATE sample SET vault_ug = vault_ug + 1 WHERE code = 'SYN0000003'",
    "item": "UPDATE loan_item SET issued_ug = issued_ug + 1 WHERE loan_number = 'L-000003'",
    "custody": "UPDATE sample SET on_loan_ug = on_loan_ug + 1, consumed_ug = consumed_ug - 1 "
    "WHERE code = 'SYN0000003'",
    "never lent": "UPDATE sample SET purpose_class = 'permanent' WHERE code = 'SYN0000003'",
}
WORDS = {
    "mass": "sample SYN0000003: initial ",
    "item": "loan L-000003 item SYN0000003: issued ",
    "custody": "sample SYN0000003: 4950 µg on loan but its loan items hold 4949 µg",
    "never lent": "sample SYN0000003 is permanent storage but was issued on loan L-000003",
}


def _bench_ledger(folder: Path) -> Path:
    """A ledger with the demo people and the bench's small collection and history imported."""
    path = folder / "ledger.db"
    engine = db.open_engine(db.url_for_path(path), create=True)
    with db.transaction(engine) as session:
        setup.init_ledger(session, ctx_for(), curator_name="Li Na (test curator)")
        setup.add_people_rows(session, ctx_for(), setup.read_rows("demo/people.csv"))
    catalogue, history = folder / "catalogue.csv", folder / "history.jsonl"
    write_catalogue(catalogue, SMALL)
    write_history(history, SMALL)
    for file, fmt, ctx in (
        (catalogue, "csv", ctx_for(now=START)),
        (history, "jsonl", ctx_for(now=NOW)),
    ):
        with db.transaction(engine) as session, file.open(encoding="utf-8", newline="") as lines:
            import_records(session, ctx, lines, fmt=fmt)
    engine.dispose()
    return path


@pytest.fixture(scope="module")
def bench_ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small bench ledger, made once for this file (copied before any change)."""
    return _bench_ledger(tmp_path_factory.mktemp("bench"))


def _tampered(original: Path, folder: Path, *statements: str) -> Path:
    """A copy of a ledger with projection rows changed by hand (raw SQL, as an attacker would)."""
    copy = Path(shutil.copy(original, folder / f"tampered-{len(list(folder.iterdir()))}.db"))
    with sqlite3.connect(copy) as connection:
        for statement in statements:
            connection.execute(statement)
    return copy


def _last_event(path: Path) -> datetime:
    """When a ledger's last event occurred."""
    with sqlite3.connect(path) as connection:
        (last,) = connection.execute("SELECT max(occurred_at) FROM ledger_event").fetchone()
    return datetime.fromisoformat(str(last).replace("Z", "+00:00"))


def _consumptions(count: int, tampered_at: int, after: datetime) -> list[str]:
    """`count` history lines consuming 1 µg each, a minute apart after `after`, round loans
    2, 4, 5; the `tampered_at`th (1-based) on loan 3 instead."""
    lines = []
    for n in range(1, count + 1):
        k = 3 if n == tampered_at else (2, 4, 5)[n % 3]
        record = {
            "kind": "loan.consumed",
            "occurred_at": (after + timedelta(minutes=n)).isoformat().replace("+00:00", "Z"),
            "actor": CURATOR,
            "payload": {
                "number": f"L-{k:06d}",
                "sample": f"SYN{k:07d}",
                "technique": f"probe {n}",
                "mass_ug": 1,
                "destructive": True,
            },
            "reason": None,
            "corrects_seq": None,
        }
        lines.append(json.dumps(record) + "\n")
    return lines


def _refusals(path: Path, lines: list[str], *, batch: int | None) -> list[tuple[int, str]]:
    """The (line, message) of each refused record of an import (None: record by record, each
    event checked at once, as a single command is), which is rolled back."""
    engine = db.open_engine(db.url_for_path(path))
    ctx = ctx_for(now=NOW + timedelta(days=30))  # after the bench history was recorded
    try:
        with pytest.raises(BulkRejected) as refused, db.transaction(engine) as session:
            if batch is None:
                bulk.require_importer(session, ctx)
                bulk._import_per_record(session, ctx, lines, "jsonl", "history", None)
            else:
                import_records(session, ctx, lines, fmt="jsonl", source="history", batch=batch)
    finally:
        engine.dispose()
    return [(error.line, error.message) for error in refused.value.errors]


@pytest.mark.parametrize("rule", sorted(TAMPERS))
@pytest.mark.parametrize("nth", [1, 7, 12])
def test_a_batch_whose_nth_event_breaks_a_rule_is_refused_on_that_line_in_the_same_words(
    bench_ledger: Path, tmp_path: Path, rule: str, nth: int
) -> None:
    """A batch of 12 whose `nth` event touches a record changed by hand: its closing checks
    refuse it; the import narrows the batch down to that line and gives the words the
    record-by-record path gives (each event checked at once, as a single command); a batch
    of one gives them too."""
    path = _tampered(bench_ledger, tmp_path, TAMPERS[rule])
    lines = _consumptions(12, nth, _last_event(path))
    batched = _refusals(path, lines, batch=12)
    assert batched == _refusals(path, lines, batch=1)
    assert batched == _refusals(path, lines, batch=None)
    ((line, message),) = batched
    assert line == nth
    assert WORDS[rule] in message, message


@pytest.fixture(scope="module")
def every_rule_broken(bench_ledger: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bench ledger with every rule of `TAMPERS` broken at once, and a vault sample frozen."""
    return _tampered(
        bench_ledger,
        tmp_path_factory.mktemp("broken"),
        *TAMPERS.values(),
        "UPDATE sample SET frozen = 1 WHERE code = 'SYN0000020'",
        "UPDATE loan SET status = 'settled' WHERE number = 'L-000004'",
    )


@contextmanager
def _the_old_reading() -> Iterator[None]:
    """The checks' reads as they were: IN lists of bound values and SQLAlchemy rows."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(db, "in_keys", lambda column, keys, _dialect: column.in_(sorted(keys)))
        patch.setattr(checks, "_plain", list)
        yield


def _figures(snapshot: checks.Snapshot) -> dict[str, Any]:
    """What the checks read of a snapshot, comparable whatever the rows' type."""

    def rows(found: list[Any], protocol: Any) -> list[tuple[Any, ...]]:
        fields = list(protocol.__annotations__)
        return sorted(tuple(getattr(row, name) for name in fields) for row in found)

    return {
        "samples": rows(snapshot.samples, checks.SampleFigures),
        "children": {k: rows(v, checks.SampleFigures) for k, v in snapshot.children.items()},
        "items": rows(snapshot.items, checks.ItemFigures),
        "loans": rows(snapshot.loans, checks.LoanFigures),
        "agreements": rows(snapshot.agreements, checks.AgreementFigures),
        "open": snapshot.open_incident_samples,
        "issued": snapshot.agreement_issued_ug,
    }


SAMPLES = [f"SYN{k:07d}" for k in range(SMALL.samples)] + ["NO-SUCH-SAMPLE"]
LOANS = [f"L-{k:06d}" for k in range(SMALL.loans)] + ["L-NONE"]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    samples=st.sets(st.sampled_from(SAMPLES), max_size=12),
    loans=st.sets(st.sampled_from(LOANS), max_size=4),
    every_agreement=st.booleans(),
)
def test_the_checks_find_what_the_old_reading_found_in_the_same_order_and_words(
    every_rule_broken: Path, samples: set[str], loans: set[str], every_agreement: bool
) -> None:
    """Any touched samples and loans (some absent, some broken by hand): the same rows, and
    the same findings in the same order, as with IN lists and SQLAlchemy rows."""
    engine = db.open_engine(db.url_for_path(every_rule_broken))
    try:
        with engine.connect() as connection:
            agreements = {
                str(a) for (a,) in connection.exec_driver_sql("SELECT number FROM agreement")
            }
            named: dict[str, Any] = {
                "samples": samples,
                "loans": loans,
                "agreements": agreements if every_agreement else set(),
            }
            now = checks.build_snapshot(connection, **named)
            with _the_old_reading():
                then = checks.build_snapshot(connection, **named)
                assert all(type(row).__name__ == "Row" for row in then.items)  # as it was
            assert all(type(row).__name__ != "Row" for row in now.items)
            assert _figures(now) == _figures(then)
            assert checks.run_checks(now) == checks.run_checks(then)
    finally:
        engine.dispose()


def test_the_whole_snapshot_finds_what_the_old_reading_found(every_rule_broken: Path) -> None:
    """`verify`'s whole snapshot: every rule broken is found, as with SQLAlchemy rows."""
    engine = db.open_engine(db.url_for_path(every_rule_broken))
    try:
        with engine.connect() as connection:
            found = checks.run_checks(checks.build_snapshot(connection))
            with _the_old_reading():
                assert checks.run_checks(checks.build_snapshot(connection)) == found
    finally:
        engine.dispose()
    # every rule broken, each once, in the checks' order (conservation, items, custody, ...)
    assert [v.message for v in found] == [
        "sample SYN0000003: initial 5000 µg ≠ vault 1 + on loan 4951 + split 0 + consumed 49 + "
        "lost 0 + transferred 0 µg",
        "loan L-000003 item SYN0000003: issued 5001 µg ≠ held 4950 + consumed 50 + returned 0 + "
        "transferred 0 + split 0 + lost 0 µg",
        "sample SYN0000003: 4951 µg on loan but its loan items hold 4950 µg",
        "sample SYN0000003 is permanent storage but was issued on loan L-000003",
        "sample SYN0000020: frozen=True but open incident=False",  # a bool, as SQLAlchemy gives
        "loan L-000004 is settled with 4950 µg unaccounted",
    ]
