"""CPU time of `verify`'s replay over the first events of a ledger (issue 15 point 3).

`python -m bench.replay_cpu --ledger COPY.db --events 200000 [--from-seq S] [--profile N]`:
replays the first `--events` events of the ledger as `verify` does (into a lean scratch file,
comparing the event index as it goes, `replay.IndexCheck`) and prints the CPU seconds and µs per
event of those from seq S on (the end of the replay's final write included). With
`--profile N`, under cProfile with a CPU timer, printing the N largest costs (own time and
cumulative). Only reads the ledger; run it on a copy all the same.

Alternate old and new trees with `PYTHONPATH=TREE python -m bench.replay_cpu …` in the same
minutes: on a shared machine only CPU time compares.
"""

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

from sampleloans import db
from sampleloans.ledger import replay
from sampleloans.services.verify import VERIFY_REPLAY_BATCH


def replay_cpu(ledger: Path, events: int, profile: int = 0, profile_from: int = 0) -> float:
    """CPU seconds of a replay of the first `events` events (printing a profile if asked, of
    the events from seq `profile_from` on)."""
    engine = db.open_engine(db.url_for_path(ledger))
    with tempfile.TemporaryDirectory() as scratch, engine.connect() as connection:
        target = db.scratch_engine(Path(scratch) / "replay.db")
        db.create_scratch_schema(target)
        check = replay.IndexCheck(connection)
        profiler = cProfile.Profile(time.process_time) if profile else None
        started: list[float] = []

        def reached(seq: int) -> None:
            """Start the CPU clock (and the profiler) at `profile_from`."""
            if not started and seq >= profile_from:
                started.append(time.process_time())
                print(f"timing from event {seq} on", file=sys.stderr, flush=True)  # py-spy --pid
                if profiler is not None:
                    profiler.enable()

        failure = replay.replay_into(
            connection,
            target,
            replay.Cut(up_to_seq=events),
            batch=VERIFY_REPLAY_BATCH,
            index_check=check,
            progress=reached,
        )
        if profiler is not None:
            profiler.disable()
        cpu = time.process_time() - started[0]
        check.close()
        target.dispose()
        connection.rollback()
    engine.dispose()
    if failure is not None or check.differences:
        raise SystemExit(f"replay failed: {failure}, {check.differences} index differences")
    if profiler is not None:
        stats = pstats.Stats(profiler)
        stats.sort_stats("tottime").print_stats(profile)
        stats.sort_stats("cumulative").print_stats(profile)
    return cpu


def main() -> None:
    """Parse the options, replay, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ledger", type=Path, required=True)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--profile", type=int, default=0, help="print the N largest costs")
    parser.add_argument("--from-seq", type=int, default=0, help="time from this event on")
    options = parser.parse_args()
    cpu = replay_cpu(options.ledger, options.events, options.profile, options.from_seq)
    timed = options.events - max(options.from_seq, 1) + 1
    per_event_us = cpu / timed * 1e6
    print(f"replay of events {max(options.from_seq, 1)}..{options.events}: {cpu:.2f} s CPU "
          f"({per_event_us:.1f} µs/event)")  # fmt: skip


if __name__ == "__main__":
    main()
