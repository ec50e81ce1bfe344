"""The latest of stored times is taken in time order: a time stored whole-second
('…:00Z') and one with a fraction ('…:00.400000Z') in the same second sort the wrong way as
text, so SQL's `max` of the text named the earlier one (`models.latest_time`: when a loan's
last return shipment left or arrived, which judges whether it was sent back by its due time)."""

from datetime import UTC, datetime

from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, create_engine, func, select

from sampleloans.models import latest_time, stored_time_order, time_order_text

WHOLE = "2026-12-03T10:00:00Z"
LATER = "2026-12-03T10:00:00.400000Z"


def _table() -> tuple[Engine, Table]:
    """An in-memory table of stored times, as the ledger spells them."""
    engine = create_engine("sqlite://")
    table = Table("t", MetaData(), Column("id", Integer, primary_key=True), Column("at", String))
    table.metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(table.insert(), [{"at": WHOLE}, {"at": LATER}])
    return engine, table


def test_the_latest_time_is_the_later_moment_not_the_larger_text() -> None:
    """`max` of the text answers the whole second; `latest_time` the moment 0.4 s later."""
    engine, table = _table()
    with engine.connect() as connection:
        as_text = connection.execute(select(func.max(table.c.at))).scalar_one()
        latest = connection.execute(select(latest_time(table.c.at))).scalar_one()
    assert as_text == WHOLE  # the defect the helper avoids
    assert latest == datetime(2026, 12, 3, 10, 0, 0, 400000, tzinfo=UTC)


def test_the_python_and_sql_spellings_agree() -> None:
    """A moment spelt for comparison, and a stored time padded, sort in time order."""
    assert stored_time_order(WHOLE) < stored_time_order(LATER)
    assert time_order_text(datetime(2026, 12, 3, 10, 0, tzinfo=UTC)) == stored_time_order(WHOLE)
