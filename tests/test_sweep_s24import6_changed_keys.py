"""Issue 13 points 3–4 (wave s24, import6): the batch unit's bookkeeping made cheaper, proven
equal to what it replaced.

- `Unit._changed_of(table)` lists a table's changed rows from the keys added since it last
  looked (an import's loan steps asked for the changed loans several times a step, and each
  time every changed row of every table was looked at again): after any sequence of changes,
  writes (whole or of some rows, as forgetting does) and undos, it is exactly the full scan of
  `_changed` it replaced, in the same order.
- `_write_changes` works out each column set's statement once per write: the database then
  holds exactly the unit's values, whatever was changed.
- A history line's context is made once per importing context and actor: the same actor, the
  same `os_user`, and the importing clock's own `now` (its zone too).
"""

from datetime import UTC, datetime, timedelta, timezone
from operator import itemgetter
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from sampleloans.ledger.store import Context
from sampleloans.ledger.unit import Unit
from sampleloans.models import Sample
from sampleloans.services import bulk

SAMPLES: Any = Sample.__table__  # type: ignore[attr-defined]  # SQLModel sets it
WRITTEN = itemgetter("storage_location", "condition")

# one step of a batch: change a sample or loan row, write everything, write some rows (as
# forgetting does), undo the batch, or just ask
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("set"), st.integers(0, 5), st.sampled_from(["a", "b", "c"])),
        st.tuples(st.just("flush"), st.just(0), st.just("")),
        st.tuples(st.just("write_some"), st.integers(0, 5), st.just("")),
        st.tuples(st.just("reset"), st.just(0), st.just("")),
        st.tuples(st.just("ask"), st.just(0), st.just("")),
    ),
    max_size=40,
)


def _full_scan(unit: Unit, table_name: str) -> list[Any]:
    """What `rows_where` used to look at: every changed key of the table, in order."""
    return [key for key in unit._changed if key[0] == table_name]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=STEPS)
def test_the_changed_rows_of_a_table_are_the_full_scan_after_any_steps(
    engine: Engine, steps: list[tuple[str, int, str]]
) -> None:
    with engine.connect() as connection:
        codes = sorted(connection.execute(select(SAMPLES.c.code)).scalars())[:6]
        unit = Unit(connection, checks_now=False)
        try:
            for step, index, value in steps:
                code = codes[index % len(codes)]
                if step == "set":
                    row = unit.get(Sample, code)
                    assert row is not None
                    row.storage_location = f"shelf {value}"  # a changed sample row
                    if value != "a":
                        row.condition = f"probed {value}"  # two columns: another shape
                elif step == "flush":
                    unit.flush()
                elif step == "write_some":
                    held = [key for key in unit._rows if key[1][0] <= code]
                    unit._write_changes(only=held)  # as `_forget_all` does
                elif step == "reset":
                    unit.reset()
                for table_name in ("sample", "loan"):
                    assert unit._changed_of(table_name) == _full_scan(unit, table_name)
            unit.flush()
            for code in codes:  # the database holds exactly the unit's values
                held_row = unit._rows.get(("sample", (code,)))
                if held_row is None:
                    continue
                query = select(SAMPLES.c.storage_location, SAMPLES.c.condition)
                stored = connection.execute(query.where(SAMPLES.c.code == code)).one()
                assert tuple(stored) == WRITTEN(held_row.__dict__)
        finally:
            connection.rollback()


def test_a_changed_loan_is_listed_once_each_time_it_is_asked_for(engine: Engine) -> None:
    with engine.connect() as connection:
        unit = Unit(connection, checks_now=False)
        codes = sorted(connection.execute(select(SAMPLES.c.code)).scalars())[:3]
        rows: list[Any] = [unit.get(Sample, code) for code in codes]  # `Tracked` rows
        assert unit._changed_of("sample") == []
        rows[1].storage_location = "shelf x"
        assert unit._changed_of("sample") == [("sample", (codes[1],))]
        rows[0].storage_location = "shelf y"
        rows[1].condition = "probed"  # the same row again
        assert unit._changed_of("sample") == [("sample", (codes[1],)), ("sample", (codes[0],))]
        assert unit._changed_of("loan") == []
        unit.flush()
        assert unit._changed_of("sample") == []
        rows[2].storage_location = "shelf z"
        assert unit._changed_of("sample") == [("sample", (codes[2],))]
        connection.rollback()


def test_a_line_acts_in_the_importing_clock_s_own_zone() -> None:
    now_utc = datetime(2025, 6, 1, 10, 0, tzinfo=UTC)
    now_plus_two = now_utc.astimezone(timezone(timedelta(hours=2)))
    assert now_utc == now_plus_two  # one instant: equal contexts, yet two clocks
    for now in (now_utc, now_plus_two, now_utc):
        ctx = Context("curator@example.org", "alice", now)
        line = bulk._line_context(ctx, ctx.now.tzinfo, "pi@example.org")
        assert (line.actor, line.os_user) == (
            "pi@example.org",
            "alice; imported by curator@example.org",
        )
        assert line.now == now and line.now.tzinfo is now.tzinfo
        assert line.system_clock is ctx.system_clock
