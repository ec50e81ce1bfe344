"""`db.write_many` keeps its compiled statements with the dialect they were compiled for: a
dialect dropped with its engine takes them along, and a new dialect never finds another's."""

import gc

from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, insert, select

from sampleloans import db

TABLE = Table("t", MetaData(), Column("a", Integer, primary_key=True), Column("b", String))


def _write_on_a_new_engine(rows: list[dict[str, object]]) -> list[tuple[object, ...]]:
    """Create a table on a fresh in-memory engine, write `rows` through `write_many`, read back."""
    engine = create_engine("sqlite://")
    try:
        with engine.begin() as connection:
            TABLE.create(connection)
            db.write_many(connection, insert(TABLE), "insert", "t", rows)
            return [tuple(row) for row in connection.execute(select(TABLE).order_by(TABLE.c.a))]
    finally:
        engine.dispose()


def test_statements_go_with_their_engine() -> None:
    """Many short-lived engines (a scratch engine per `verify`) leave no cache behind (other
    tests' engines may still be alive in this process: only the growth is ours)."""
    gc.collect()
    before = len(db._DRIVERS)
    for n in range(20):
        assert _write_on_a_new_engine([{"a": n, "b": "x"}]) == [(n, "x")]
    del n
    gc.collect()
    assert len(db._DRIVERS) <= before + 1  # at most the last engine's, until it is collected
