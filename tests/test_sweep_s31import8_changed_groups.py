"""Issue 13 points 3–4 (stop 31, import8): a batch's loan step judges only the changed rows of
the one sample or loan number its condition names, proven equal to judging them all.

`Unit.rows_where(..., group=)` (an open request of a sample, a loan number's case twins) takes
the table's changed rows of that key group (`Unit._changed_in`, each key placed once as
`_changed_of` lists it) instead of every changed row of the table (~1,000 items or loans once a
batch touches 1,000 loans). After any sequence of row changes, writes (whole or of some rows,
as forgetting does), undos and questions, on the golden ledger's loans and items:

- `_changed_in` is exactly `_changed_of` cut to the group, in the same order;
- `rows_where` with the group gives the same rows in the same order as without it, for the
  open requests of every sample and the case twins of every loan number (a twin written in
  another case, or the same number);
- a batch's refusals that these reads serve are unchanged through the command (a sample on
  another open request of the same batch; a case twin requested a line before).
"""

import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.ledger.unit import Tracked, Unit
from sampleloans.models import Loan, LoanItem
from sampleloans.services.common import OPEN_REQUESTS, _sample_of_item_key
from sampleloans.services.loans import _BATCH_READS, _lower_number_of_key
from sampleloans.vocab import ItemState, LoanStatus
from tests.conftest import CURATOR, GOLDEN
from tests.test_i13_imp_batch_reads import (
    LATER,
    A,
    B,
    C,
    rec,
    refusals,
    request,
    story,
    text_of,
)

ITEMS = [
    ("L-2025-IPGP", "CE5C0100YJFM00201-01"),
    ("L-2025-UoC", "CE5C0000YJYX052"),
    ("L-2025-Osaka", "CE5C0000YJYX061"),
    ("L-2025-OU", "CE5C0200YJFM00112"),
    ("L-2025-Brown", "CE5C0100YJFM00201-03"),
    ("L-2025-SBU", "CE5C0800YJFM00102-02"),
]
LOANS = ["L-2025-IPGP", "L-2025-UoC", "L-2025-Osaka", "L-2025-Brown", "L-2025-SBU"]
STATES = [ItemState.REQUESTED.value, ItemState.HELD.value, ItemState.RETURNED.value]
STATUSES = [LoanStatus.APPROVED.value, LoanStatus.RECEIVED.value, LoanStatus.CLOSED.value]

STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("item"), st.integers(0, len(ITEMS) - 1), st.integers(0, 2)),
        st.tuples(st.just("loan"), st.integers(0, len(LOANS) - 1), st.integers(0, 2)),
        st.tuples(st.just("flush"), st.just(0), st.just(0)),
        st.tuples(st.just("write_some"), st.integers(0, len(ITEMS) - 1), st.just(0)),
        st.tuples(st.just("reset"), st.just(0), st.just(0)),
        st.tuples(st.just("ask"), st.just(0), st.just(0)),
    ),
    max_size=40,
)


def _shown(rows: list[Any]) -> list[Any]:
    """Rows as comparable values: a held row by its key and identity, a stored one by value."""
    return [(row._key, id(row)) if isinstance(row, Tracked) else tuple(row) for row in rows]


def _both_ways(unit: Unit) -> None:
    """Every question the loan steps ask, with the group and without: the same answer."""
    for _number, code in ITEMS:
        group = ("sample", _sample_of_item_key, code)
        whole = [key for key in unit._changed_of("loan_item") if key[1][1] == code]
        assert unit._changed_in("loan_item", group) == whole

        def requested(item: Any, code: str = code) -> bool:
            return bool(item.sample_code == code and item.state == ItemState.REQUESTED)

        params = {"code": code}
        plain = unit.rows_where(LoanItem, OPEN_REQUESTS, params, requested)
        grouped = unit.rows_where(LoanItem, OPEN_REQUESTS, params, requested, group)
        assert _shown(grouped) == _shown(plain)
    for number in LOANS:
        for asked in (number, number.lower(), number.upper()):
            lower = asked.lower()
            group = ("lower number", _lower_number_of_key, lower)
            whole = [key for key in unit._changed_of("loan") if key[1][0].lower() == lower]
            assert unit._changed_in("loan", group) == whole

            def twin(loan: Any, lower: str = lower, asked: str = asked) -> bool:
                return bool(loan.number.lower() == lower and loan.number != asked)

            query, params = _BATCH_READS["case twins"], {"lower": lower, "number": asked}
            every = unit.rows_where(Loan, query, params, twin)
            of_group = unit.rows_where(Loan, query, params, twin, group)
            assert _shown(of_group) == _shown(every)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=STEPS)
# groups placed, the batch written, then more keys changed than were placed before
@example(steps=[("item", 0, 1), ("ask", 0, 0), ("flush", 0, 0), ("item", 1, 0), ("item", 2, 0)])
def test_a_group_of_changed_rows_answers_as_every_changed_row_after_any_steps(
    tmp_path: Path, steps: list[tuple[str, int, int]]
) -> None:
    ledger = tmp_path / "ledger.db"
    shutil.copy(GOLDEN / "ledger-0.1.db", ledger)
    engine = db.open_engine(db.url_for_path(ledger))
    try:
        with engine.connect() as connection:
            unit = Unit(connection, checks_now=False)
            for step, index, value in steps:
                if step == "item":
                    item = unit.get(LoanItem, ITEMS[index])
                    assert item is not None
                    item.state = STATES[value]  # requested again, held, or no longer held
                elif step == "loan":
                    loan = unit.get(Loan, LOANS[index])
                    assert loan is not None
                    loan.status = STATUSES[value]
                elif step == "flush":
                    unit.flush()
                elif step == "write_some":
                    held = [key for key in unit._rows if key[1] <= ITEMS[index]]
                    unit._write_changes(only=held)  # as `_forget_all` does
                elif step == "reset":
                    unit.reset()
                else:  # asked between some steps only: groups placed, then keys changed
                    _both_ways(unit)
            _both_ways(unit)
            connection.rollback()
    finally:
        engine.dispose()


def test_a_group_is_placed_once_and_forgotten_with_the_lists(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.db"
    shutil.copy(GOLDEN / "ledger-0.1.db", ledger)
    engine = db.open_engine(db.url_for_path(ledger))
    with engine.connect() as connection:
        unit = Unit(connection, checks_now=False)
        group = ("sample", _sample_of_item_key, ITEMS[1][1])
        item = unit.get(LoanItem, ITEMS[1])
        other = unit.get(LoanItem, ITEMS[2])
        assert item is not None and other is not None
        assert unit._changed_in("loan_item", group) == []
        other.state = ItemState.RETURNED.value
        item.state = ItemState.REQUESTED.value
        assert unit._changed_in("loan_item", group) == [("loan_item", ITEMS[1])]
        assert unit._changed_groups[("loan_item", "sample")][0] == 2  # both keys placed
        unit.flush()  # written: no key is changed any more
        assert unit._changed_groups == {}
        assert unit._changed_in("loan_item", group) == []
        connection.rollback()
    engine.dispose()


def test_the_batch_s_refusals_these_reads_serve_through_the_command(
    engine: Engine,
    tmp_path: Path,
    cli_env: dict[str, str],
    runner: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A sample on a request of the same batch, and a loan number's case twin requested a line
    before: each refused on its line in the single command's words (the reference path's),
    exit 1, nothing written."""
    agreement = story(refused=False)[:2]
    records = [
        *agreement,
        rec("loan.requested", "04-04", request("L-IMP-A", A)),
        rec("loan.requested", "04-04", request("L-IMP-B", A)),  # A is on L-IMP-A's request
        rec("loan.requested", "04-04", request("l-imp-a", B)),  # a case twin of L-IMP-A
        rec("loan.requested", "04-04", request("L-IMP-C", C)),
    ]
    assert refusals(engine, records, batched=True) == refusals(engine, records, batched=False)
    monkeypatch.setenv("SAMPLELOANS_NOW", LATER.isoformat())
    engine.dispose()
    path = tmp_path / "history.jsonl"
    path.write_text("".join(text_of(records)), encoding="utf-8")
    ledger = Path(cli_env["SAMPLELOANS_DB"])
    before = ledger.read_bytes()
    result = runner.invoke(app, ["--as", CURATOR, "import", str(path)])
    assert result.exit_code == 1, result.output
    said = " ".join(result.stderr.split())
    assert f"line 4: sample {A} is already on loan request L-IMP-A" in said, said
    assert "line 5: loan l-imp-a differs only in case from loan L-IMP-A" in said, said
    assert "line 6" not in said
    assert ledger.read_bytes() == before
