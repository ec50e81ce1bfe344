"""Per-event cost at two sizes, and the floors import and verify are measured against (issue 13).

- `per_event(n, work)`: a collection shaped like the bench's (15 % samples, 2 % loans) with
  about `n` events, imported as `sampleloans import` does, then `verify`: µs per event of
  each, and of verify's chain stage alone.
- `capture_writes` records every INSERT / UPDATE statement a real import issues (SQL text and
  parameters, streamed to a file); `replay_writes` writes exactly those rows with raw
  `sqlite3` executemany, in one transaction, on a copy of the ledger as it was before the
  import (same schema, same indexes, same pragmas): the floor of the import's own writes.
- `chain_stage(path)`: seconds of verify's chain recompute alone (`_check_chain`).

`python -m bench.scaling [EVENTS ...]` prints the figures for each size (default 10,000 and
100,000 events); `python -m bench` uses the same functions.
"""

import pickle
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.generate import CURATOR, NOW, START, Scale, write_catalogue, write_history

WRITES = ("INSERT", "UPDATE", "DELETE")


def shape(events: int) -> Scale:
    """The bench collection's proportions at about `events` events (full: 1M, 150k, 20k)."""
    return Scale(
        samples=events * 15 // 100,
        institutions=max(4, events // 2500),
        loans=max(10, events // 50),
        events=events,
        report_events=max(1, events // 100),
        runs=1,
    )


@contextmanager
def capture_writes(engine: Any, path: Path) -> Iterator[None]:
    """Stream every write statement `engine` runs (SQL, parameters, executemany) to `path`."""
    from sqlalchemy import event

    handle = path.open("wb")

    def record(
        _conn: Any, _cursor: Any, statement: str, params: Any, _ctx: Any, many: bool
    ) -> None:
        if statement.lstrip()[:6].upper() in WRITES:
            pickle.dump((statement, params, many), handle, protocol=pickle.HIGHEST_PROTOCOL)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", record)
        handle.close()


def _statements(path: Path) -> Iterator[tuple[str, Any, bool]]:
    """The recorded statements, in order."""
    with path.open("rb") as handle:
        while True:
            try:
                yield pickle.load(handle)
            except EOFError:
                return


def replay_writes(before: Path, statements: Path, work: Path) -> float:
    """Seconds to write the recorded statements with raw sqlite3, one transaction, onto a copy
    of the ledger as it was before the import (the copy and the reading of the file are not
    timed: the statements are loaded first, as an application holds its rows)."""
    from sampleloans import db

    target = work / "same-rows.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(before, target)
    recorded = list(_statements(statements))
    con = sqlite3.connect(target, isolation_level=None)
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("PRAGMA synchronous = FULL")  # as db.open_engine
    con.execute("PRAGMA foreign_keys = ON")
    con.execute(f"PRAGMA cache_size = {db.IMPORT_CACHE_KIB}")  # as the import's (`db.import_cache`)
    start = time.perf_counter()
    con.execute("BEGIN")
    for statement, params, many in recorded:
        if many:
            con.executemany(statement, params)
        else:
            con.execute(statement, params)
    con.execute("COMMIT")
    seconds = time.perf_counter() - start
    con.close()
    return seconds


def build(db_path: Path, scale: Scale, work: Path, capture: Path | None = None) -> dict[str, Any]:
    """A ledger through the import (catalogue, then history); seconds and events, optionally
    recording the import's writes (and keeping a copy of the ledger before them)."""
    from sampleloans import db
    from sampleloans.ledger.store import Context
    from sampleloans.services import setup
    from sampleloans.services.bulk import import_records

    catalogue, history = work / "catalogue.csv", work / "history.jsonl"
    write_catalogue(catalogue, scale)
    write_history(history, scale)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    engine = db.open_engine(db.url_for_path(db_path), create=True)
    early = Context(CURATOR, "bench", START - timedelta(days=1))
    with db.transaction(engine) as session:
        setup.init_ledger(session, early, curator_name="Bench Curator")
    before = work / "before-import.db"
    if capture is not None:
        with sqlite3.connect(db_path) as live, sqlite3.connect(before) as copy:
            live.backup(copy)
    events, seconds, cpu = 0, 0.0, 0.0
    for path, fmt, ctx in (
        (catalogue, "csv", early),
        (history, "jsonl", Context(CURATOR, "bench", NOW)),
    ):
        recording = capture_writes(engine, capture.with_suffix(f".{fmt}")) if capture else None
        start, start_cpu = time.perf_counter(), time.process_time()
        with db.transaction(engine) as session, path.open(encoding="utf-8", newline="") as lines:
            if recording is not None:
                with recording:
                    events += import_records(session, ctx, lines, fmt=fmt, source=path.name).events
            else:
                events += import_records(session, ctx, lines, fmt=fmt, source=path.name).events
        seconds += time.perf_counter() - start
        cpu += time.process_time() - start_cpu
    engine.dispose()
    return {"events": events, "seconds": seconds, "cpu": cpu, "before": str(before)}


def chain_stage(path: Path) -> float:
    """Seconds of verify's chain stage alone on a ledger file."""
    from sampleloans import db
    from sampleloans.services.verify import VerifyResult, _check_chain

    engine = db.open_engine(db.url_for_path(path))
    with engine.connect() as connection:
        start = time.perf_counter()
        result = VerifyResult()
        _check_chain(connection, result, None, None)
        seconds = time.perf_counter() - start
    engine.dispose()
    assert result.ok, result.problems[:3]
    return seconds


def verify_seconds(path: Path) -> tuple[float, float]:
    """Wall and CPU seconds of a full `verify` of a ledger file (which must pass)."""
    from sampleloans import db
    from sampleloans.services.verify import verify

    engine = db.open_engine(db.url_for_path(path))
    start, start_cpu = time.perf_counter(), time.process_time()
    found = verify(engine)
    seconds, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    engine.dispose()
    assert found.ok, found.problems[:3]
    return seconds, cpu


def per_event(events: int, work: Path, *, same_rows: bool = True) -> dict[str, float]:
    """Import, verify and chain-stage µs per event at about `events` events, and the import's
    same-rows floor (seconds of the raw replay of exactly the rows it wrote)."""
    work.mkdir(parents=True, exist_ok=True)
    path = work / "ledger.db"
    built = build(path, shape(events), work)  # timed without the recording
    figures = {
        "events": float(built["events"]),
        "import_s": built["seconds"],
        "import_us": built["seconds"] / built["events"] * 1e6,
        "import_cpu_us": built["cpu"] / built["events"] * 1e6,
    }
    if same_rows:
        capture = work / "writes"
        recorded = build(work / "recorded.db", shape(events), work, capture)
        floor = 0.0
        before = Path(recorded["before"])
        for fmt in ("csv", "jsonl"):
            # each file was its own transaction: replayed in order on the growing copy
            floor += replay_writes(before, capture.with_suffix(f".{fmt}"), work)
            shutil.copyfile(work / "same-rows.db", before)
            Path(f"{work / 'same-rows.db'}-wal").unlink(missing_ok=True)
        figures["same_rows_s"] = floor
    from bench.__main__ import raw_chain

    wall, cpu = verify_seconds(path)
    figures["verify_us"] = wall / built["events"] * 1e6
    figures["verify_cpu_us"] = cpu / built["events"] * 1e6
    figures["chain_us"] = chain_stage(path) / built["events"] * 1e6
    figures["raw_chain_us"] = raw_chain(path) / built["events"] * 1e6
    return figures


def main(argv: list[str]) -> None:
    """Print the per-event figures at each size given (default 10,000 and 100,000 events)."""
    sizes = [int(arg) for arg in argv] or [10_000, 100_000]
    for events in sizes:
        work = Path(tempfile.mkdtemp(prefix=f"sampleloans-scaling-{events}-"))
        try:
            f = per_event(events, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        print(
            f"{f['events']:.0f} events: import {f['import_us']:.0f} µs/event "
            f"(CPU {f['import_cpu_us']:.0f}) "
            f"(same-rows raw floor {f['same_rows_s'] / f['events'] * 1e6:.0f} µs/event, "
            f"ratio {f['same_rows_s'] / f['import_s']:.2f}); verify {f['verify_us']:.0f} µs/event "
            f"(CPU {f['verify_cpu_us']:.0f}; {f['verify_us'] / f['raw_chain_us']:.1f}× raw chain); "
            "chain stage "
            f"{f['chain_us']:.1f} µs/event ({f['chain_us'] / f['raw_chain_us']:.2f}× raw "
            f"{f['raw_chain_us']:.1f})",
            flush=True,
        )


if __name__ == "__main__":
    main(sys.argv[1:])
