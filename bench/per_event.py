"""Bulk import and verify per event on a mid-size synthetic collection (issue 12).

`python -m bench.per_event`: 4,000 catalogue rows and 12,000 history events imported as
`sampleloans import` does (one transaction per file), then `verify` and a replay into memory;
the time per event of each is printed (wall, and CPU: on a shared machine the CPU figure is
the one to compare). Run it before and after a change on the same machine.
"""

import tempfile
import time
from datetime import timedelta
from pathlib import Path

from bench.generate import CURATOR, NOW, START, Scale, write_catalogue, write_history
from sampleloans import db
from sampleloans.ledger.envelope import Context
from sampleloans.services import setup
from sampleloans.services.bulk import import_records
from sampleloans.services.verify import replay_into, verify

SCALE = Scale(4000, 10, 400, 16000, 500, 1)


def main() -> None:
    """Build the collection through the import, then verify and replay it; print the figures."""
    work = Path(tempfile.mkdtemp())
    catalogue, history = work / "catalogue.csv", work / "history.jsonl"
    write_catalogue(catalogue, SCALE)
    write_history(history, SCALE)
    engine = db.open_engine(db.url_for_path(work / "ledger.db"), create=True)
    early = Context(CURATOR, "bench", START - timedelta(days=1))
    with db.transaction(engine) as session:
        setup.init_ledger(session, early, curator_name="Bench Curator")
    for path, fmt, ctx in (
        (catalogue, "csv", early),
        (history, "jsonl", Context(CURATOR, "bench", NOW)),
    ):
        start, start_cpu = time.perf_counter(), time.process_time()
        with db.transaction(engine) as session, path.open(encoding="utf-8", newline="") as lines:
            events = import_records(session, ctx, lines, fmt=fmt, source=path.name).events
        seconds, cpu = time.perf_counter() - start, time.process_time() - start_cpu
        per_event_us = seconds / events * 1e6
        print(f"import {fmt}: {events} events in {seconds:.2f} s ({per_event_us:.0f} µs/event, "
              f"CPU {cpu / events * 1e6:.0f})")  # fmt: skip
    start, start_cpu = time.perf_counter(), time.process_time()
    result = verify(engine)
    seconds, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    cpu_us = cpu / result.events * 1e6
    print(f"verify: ok={result.ok}, {result.events} events in {seconds:.2f} s "
          f"({seconds / result.events * 1e6:.0f} µs/event, CPU {cpu_us:.0f})")  # fmt: skip
    target = db.make_engine("sqlite://")
    db.create_schema(target)
    start, start_cpu = time.perf_counter(), time.process_time()
    failure = replay_into(engine, target)
    seconds, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    print(f"replay into memory: {seconds:.2f} s ({seconds / result.events * 1e6:.0f} µs/event, "
          f"CPU {cpu / result.events * 1e6:.0f}), failure: {failure}")  # fmt: skip
    engine.dispose()


if __name__ == "__main__":
    main()
