"""Smoke run of `bench.pg_model` at a tiny size on the test server: each cost given is measured
twice, every writer committing. No timing is asserted (speed goals live in `bench/`)."""

from bench import pg_model
from tests.pgcluster import PgServer


def test_pg_model_measures_each_cost_twice(pg_server: PgServer) -> None:
    costs = [(0.0, 0.0, 0.0), (0.1, 0.05, 100.0)]
    found = pg_model.measure(pg_server, costs, appends=2)
    assert [cost for cost, _ in found] == costs
    assert all(len(rates) == 2 and min(rates) > 0 for _, rates in found)
