"""Smoke run of `bench.pg_writers` at a tiny size on the test server: each figure is measured,
with more than one cold write (each a real move) and the writers all committing. No timing is
asserted (speed goals live in `bench/`).

Two concurrent writers, not the bench's 8: they still contend for the writers' lock, and each
writer is a process that pays its imports (~1 s of CPU); 8 cost this file most of its time."""

from bench import pg_writers
from tests.pgcluster import PgServer

WRITERS = 2


def test_pg_writers_measures_every_figure_with_several_runs(pg_server: PgServer) -> None:
    found = pg_writers.measure(pg_server, runs=2, appends=2, workers=WRITERS)
    assert found.runs == 2 and found.workers == WRITERS
    assert found.pg_write_s > 0 and found.sqlite_write_s > 0
    for rate in (found.ledger_rate, found.moving_rate, found.raw_rate):
        assert rate.committed > 0 and rate.exited > 0


def test_one_writer_splits_its_cpu_at_the_lock_for_both_kinds_of_write(
    pg_server: PgServer,
) -> None:
    """`--one-writer` (thread CPU, `--kind move` too): every round gives the client's and the
    server's CPU per write, and the client's parts before the lock and after its answer, which
    are within the client's whole, and of the latter the span with the lock held (to the
    COMMIT sent), within it."""
    for kind in ("add", "move"):
        found = pg_writers.one_writer_cpu(pg_server, [None], rounds=2, writes=3, kind=kind)
        ((label, rounds),) = found.items()
        assert label == "this tree #0" and len(rounds) == 2
        for client, server, before, after, held in rounds:
            assert client > 0 and server >= 0 and before > 0 and after > 0
            assert before + after <= client
            assert 0 < held < after


def test_the_writers_figure_of_each_tree_alternates_with_the_raw_loop(
    pg_server: PgServer,
) -> None:
    """`--tree A --tree B` without `--one-writer`: every tree has one turn per round, each with
    the writers' rate and the raw loop's of its own minute; the rounds add institutions of
    their own names to the same ledger, so a second round is not refused as a duplicate (every
    writer would exit 1)."""
    found = pg_writers.writers_by_tree(
        pg_server, [None, None], rounds=2, appends=2, workers=WRITERS
    )
    assert list(found) == ["this tree #0", "this tree #1"]
    for turns in found.values():
        assert len(turns) == 2
        assert all(ours > 0 and raw > 0 for ours, raw, *_ in turns)
        # each turn says how long its writers held the lock: a wall time no shorter than the
        # holder's CPU in it. Within 1%: the two are read from different clocks (the monotonic
        # clock and the scheduler's count of the thread's run time), and a holder that never
        # waits for a core shows a CPU time a fraction of a microsecond above its wall time
        # (seen in CI: 1.76712 ms wall, 1.76726 ms CPU per write).
        assert all(wall >= 0.99 * cpu and cpu > 0 for *_, wall, cpu in turns)
