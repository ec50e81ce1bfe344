"""Smoke run of `bench.pg_writers` at a tiny size on the test server: each figure is measured,
with more than one cold write (each a real move) and the writers all committing. No timing is
asserted (speed goals live in `bench/`)."""

from bench import pg_writers
from tests.pgcluster import PgServer


def test_pg_writers_measures_every_figure_with_several_runs(pg_server: PgServer) -> None:
    found = pg_writers.measure(pg_server, runs=2, appends=2)
    assert found.runs == 2
    assert found.pg_write_s > 0 and found.sqlite_write_s > 0
    for rate in (found.ledger_rate, found.moving_rate, found.raw_rate):
        assert rate.committed > 0 and rate.exited > 0
