"""The checks' snapshot lists its loan items, loans and agreements in key order in every path
(`checks.in_order`): the messages follow that order (which item is named first, which loan a
sample's custody is compared with), and a write's records read from the database came in the
order of the plan SQLite picked (sorted for a UNION of two branches, in the sample index's order
for one branch), so one refusal could read two ways."""

import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine

from sampleloans import db
from sampleloans.ledger import checks

GOLDEN = Path(__file__).resolve().parent / "golden" / "ledger-0.1.db"


def _items(snapshot: checks.Snapshot) -> list[tuple[str, str]]:
    """The (loan, sample) of a snapshot's items, in their order."""
    return [(str(i.loan_number), str(i.sample_code)) for i in snapshot.items]


def _connection(tmp_path: Path) -> tuple[Engine, Connection]:
    """A read connection on a copy of the golden ledger (samples on several loans)."""
    ledger = tmp_path / "ledger.db"
    shutil.copy(GOLDEN, ledger)
    engine = db.open_engine(db.url_for_path(str(ledger)))
    return engine, engine.connect()


def _one_more_held(item: object) -> SimpleNamespace:
    """An item row with 1 µg more held than its balance allows."""
    values = item._asdict()  # type: ignore[attr-defined]  # the snapshot's plain named tuple
    return SimpleNamespace(**{**values, "held_ug": values["held_ug"] + 1})


def test_a_samples_items_come_in_loan_order_not_the_sample_index_order(tmp_path: Path) -> None:
    """Two samples whose loans sort the other way round from their codes: loan order."""
    engine, connection = _connection(tmp_path)
    with connection:
        scoped = checks.build_snapshot(connection, samples=["CE5C0000YJYX052", "CE5C0000YJYX061"])
    engine.dispose()
    assert _items(scoped) == [
        ("L-2025-Osaka", "CE5C0000YJYX061"),
        ("L-2025-UoC", "CE5C0000YJYX052"),
    ]


def test_the_first_violation_named_follows_the_loan_order(tmp_path: Path) -> None:
    """Two unbalanced items read for two samples: the loan first in order is named first."""
    engine, connection = _connection(tmp_path)
    with connection:
        scoped = checks.build_snapshot(connection, samples=["CE5C0000YJYX052", "CE5C0000YJYX061"])
    engine.dispose()
    broken = checks.Snapshot(items=[_one_more_held(item) for item in scoped.items])
    messages = [v.message for v in checks.check_item_balance(broken)]
    assert [m.split(" item ")[0] for m in messages] == ["loan L-2025-Osaka", "loan L-2025-UoC"]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_scoped_snapshot_lists_what_the_whole_one_does_in_its_order(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    """Any named samples and loans: the scoped items and loans are the whole snapshot's rows
    of those records, in the same (key) order."""
    tmp = tmp_path_factory.mktemp("order")
    engine, connection = _connection(tmp)
    with connection:
        whole = checks.build_snapshot(connection)
        codes = sorted({str(s.code) for s in whole.samples})
        numbers = sorted({str(loan.number) for loan in whole.loans})
        samples = data.draw(st.sets(st.sampled_from(codes), max_size=6))
        loans = data.draw(st.sets(st.sampled_from(numbers), max_size=3))
        scoped = checks.build_snapshot(connection, samples=samples, loans=loans, agreements=())
    engine.dispose()
    assert _items(whole) == sorted(_items(whole))
    keys = samples | {str(i.sample_code) for i in whole.items if i.loan_number in loans}
    assert _items(scoped) == [pair for pair in _items(whole) if pair[1] in keys]
    assert [str(loan.number) for loan in scoped.loans] == sorted(loans)
