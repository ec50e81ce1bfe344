"""T3 concurrency: real processes appending to one ledger at once (docs/reliability.md).

Nothing raising is not enough: the hash chain must not fork, so every event must have exactly
one successor, seq must be gapless, and every append must land exactly once.
"""

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import Engine

from sampleloans import crashpoints
from sampleloans.services.verify import verify
from tests.conftest import CURATOR, fingerprint

SOAK = os.environ.get("SAMPLELOANS_SOAK") == "1"

WORKER = textwrap.dedent(
    """
    import sys, time
    from datetime import UTC, datetime
    from pathlib import Path
    from sampleloans import db
    from sampleloans.ledger.store import Context
    from sampleloans.services.reference import add_institution

    path, worker, count, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
    engine = db.open_engine(db.url_for_path(path))
    ctx = Context(actor="curator@naoc.example", os_user="tester",
                  now=datetime(2025, 4, 1, 9, 0, tzinfo=UTC))
    while not go.exists():
        time.sleep(0.005)
    for i in range(count):
        with db.transaction(engine) as session:
            add_institution(session, ctx, short_name=f"W{worker}-{i}", name=f"Lab {worker}/{i}",
                            country="CN", city="Beijing", institution_kind="borrower")
    """
)


def event_count(path: Path) -> int:
    """Events in the ledger file."""
    with sqlite3.connect(path) as connection:
        return connection.execute("SELECT count(*) FROM ledger_event").fetchone()[0]


def chain_problems(path: Path) -> list[str]:
    """Gaps in seq, broken links and forks, read with raw sqlite3."""
    with sqlite3.connect(path) as connection:
        rows = connection.execute("SELECT seq, prev_hash, hash FROM ledger_event ORDER BY seq")
        events = rows.fetchall()
    found = []
    for index, (seq, prev_hash, _) in enumerate(events):
        if seq != index + 1:
            found.append(f"seq {seq} at position {index + 1}")
        if index and prev_hash != events[index - 1][2]:
            found.append(f"event {seq} does not link to event {events[index - 1][0]}")
    successors = Counter(prev_hash for _, prev_hash, _ in events)
    found += [f"fork: {n} events follow {h[:12]}" for h, n in successors.items() if n != 1]
    return found


def run_workers(path: Path, processes: int, appends: int) -> None:
    """`processes` real Python processes, each appending `appends` events, started together."""
    go = path.with_name("go")
    env = {k: v for k, v in os.environ.items() if k != crashpoints.ENV_VAR}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(path), str(w), str(appends), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for w in range(processes)
    ]
    time.sleep(1.0)  # let every process import and open the database
    go.touch()
    outcomes = [(w.wait(timeout=1800), *w.communicate()) for w in workers]
    for code, _stdout, stderr in outcomes:
        assert "Traceback" not in stderr, stderr[-2000:]
        assert code == 0, stderr[-2000:]


def check_concurrent_appends(engine: Engine, db_path: Path, processes: int, appends: int) -> None:
    """Run the workers and check that every append landed exactly once, with no fork."""
    before = event_count(db_path)
    started = time.monotonic()
    run_workers(db_path, processes, appends)
    elapsed = time.monotonic() - started
    total = processes * appends
    assert event_count(db_path) == before + total, "lost or duplicated events"
    with sqlite3.connect(db_path) as connection:
        names = [
            r[0]
            for r in connection.execute(
                "SELECT short_name FROM institution WHERE short_name GLOB 'W*'"
            )
        ]
    assert sorted(names) == sorted(f"W{w}-{i}" for w in range(processes) for i in range(appends))
    assert chain_problems(db_path) == []
    result = verify(engine)
    assert result.problems == []
    print(f"{processes} processes x {appends} appends: {total} events in {elapsed:.1f} s, 0 forks")


@pytest.mark.skipif(SOAK, reason="fast tier only (the soak tier runs 16 x 1,000)")
def test_eight_processes_append_without_loss_or_fork(engine: Engine, db_path: Path) -> None:
    check_concurrent_appends(engine, db_path, 8, 100)


@pytest.mark.skipif(not SOAK, reason="soak tier: set SAMPLELOANS_SOAK=1")
def test_sixteen_processes_soak(engine: Engine, db_path: Path) -> None:
    check_concurrent_appends(engine, db_path, 16, 1000)


def cli(db_path: Path, *args: str, timeout: str = "10") -> subprocess.Popen:
    """Start the real CLI as the curator."""
    env = {k: v for k, v in os.environ.items() if k != crashpoints.ENV_VAR}
    env.update(
        SAMPLELOANS_DB=str(db_path),
        SAMPLELOANS_USER=CURATOR,
        SAMPLELOANS_LOCK_TIMEOUT=timeout,
        COLUMNS="120",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "sampleloans", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def add_institution_args(name: str) -> list[str]:
    """`institutions add` arguments for a test institution."""
    return [
        "institutions", "add", name, "--name", f"Lab {name}", "--country", "CN",
        "--city", "Beijing", "--kind", "borrower",
    ]  # fmt: skip


def test_concurrent_cli_writers(engine: Engine, db_path: Path) -> None:
    before = event_count(db_path)
    processes = [
        cli(db_path, *add_institution_args(f"C{p}-{i}")) for p in range(4) for i in range(4)
    ]
    for process in processes:
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr
        assert stderr == ""
    assert event_count(db_path) == before + 16
    assert chain_problems(db_path) == []
    assert verify(engine).problems == []


def test_lock_timeout_is_a_clean_exit_3_with_nothing_written(engine: Engine, db_path: Path) -> None:
    engine.dispose()
    before = fingerprint(db_path)
    holder = sqlite3.connect(db_path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        process = cli(db_path, *add_institution_args("LOCKED"), timeout="0.5")
        stdout, stderr = process.communicate(timeout=60)
        waited = time.monotonic() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert process.returncode == 3
    assert stdout == ""
    assert stderr == (
        "Error: the database is locked by another writer past the lock timeout; nothing was "
        "written, try again (or raise SAMPLELOANS_LOCK_TIMEOUT)\n"
    )
    assert waited < 10, "the 0.5 s lock timeout was not honoured"
    assert fingerprint(db_path) == before
    assert process.returncode != -signal.SIGKILL


def test_lock_timeout_zero_means_do_not_wait(engine: Engine, db_path: Path) -> None:
    holder = sqlite3.connect(db_path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        process = cli(db_path, *add_institution_args("NOWAIT"), timeout="0")
        _, stderr = process.communicate(timeout=60)
        waited = time.monotonic() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert process.returncode == 3, stderr
    assert waited < 5, "SAMPLELOANS_LOCK_TIMEOUT=0 waited for the default 10 s"
