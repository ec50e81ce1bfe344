"""Issue 10 item 3: `verify` reads one consistent snapshot while other processes write.

Before, each stage opened its own connection: the replay saw N events and the comparison saw
the tables after N + k, so `verify` reported rows "no event produced" on a healthy ledger.
"""

import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from sampleloans import crashpoints, db
from sampleloans.services.reference import add_institution
from sampleloans.services.verify import verify
from tests.conftest import COMPLIANCE, ctx_for

WRITER = textwrap.dedent(
    """
    import sys, time
    from datetime import UTC, datetime
    from pathlib import Path
    from sampleloans import db
    from sampleloans.ledger.store import Context
    from sampleloans.services.reference import add_institution

    path, worker, stop = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    engine = db.open_engine(db.url_for_path(path))
    ctx = Context(actor="curator@naoc.example", os_user="tester",
                  now=datetime(2025, 4, 1, 9, 0, tzinfo=UTC))
    count = 0
    while not stop.exists():
        with db.transaction(engine) as session:
            add_institution(session, ctx, short_name=f"V{worker}-{count}", name=f"Lab {count}",
                            country="CN", city="Beijing", institution_kind="borrower")
        count += 1
        time.sleep(0.002)  # leave the cores to the verifier too
    print(count)
    """
)


def clean_env() -> dict[str, str]:
    """The environment of a real subprocess, without the crash-test hook."""
    return {k: v for k, v in os.environ.items() if k != crashpoints.ENV_VAR}


def start_writers(db_path: Path, processes: int) -> tuple[list[subprocess.Popen], Path]:
    """Writer processes that keep appending until the stop file appears."""
    stop = db_path.with_name("stop")
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(db_path), str(w), str(stop)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env(),
        )
        for w in range(processes)
    ]
    return writers, stop


def run_verify(db_path: Path) -> subprocess.CompletedProcess:
    """`sampleloans verify` as a real subprocess, as the compliance officer."""
    env = clean_env()
    env.update(SAMPLELOANS_DB=str(db_path), SAMPLELOANS_USER=COMPLIANCE, COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "sampleloans", "verify"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def event_count(db_path: Path) -> int:
    """Events in the ledger file, read with raw sqlite3."""
    with closing(sqlite3.connect(db_path)) as connection:
        return int(connection.execute("SELECT count(*) FROM ledger_event").fetchone()[0])


def wait_for_writes(db_path: Path, before: int, timeout_s: float = 30.0) -> None:
    """Wait until the writers have appended at least one event."""
    deadline = time.monotonic() + timeout_s
    while event_count(db_path) <= before:
        assert time.monotonic() < deadline, "the writers never appended"
        time.sleep(0.05)


def test_verify_is_clean_every_time_while_writers_append(engine: Engine, db_path: Path) -> None:
    before = event_count(db_path)
    writers, stop = start_writers(db_path, 3)
    try:
        wait_for_writes(db_path, before)
        started = event_count(db_path)
        results = [run_verify(db_path) for _ in range(3)]
        during = event_count(db_path) - started
    finally:
        stop.touch()
        for writer in writers:
            writer.communicate(timeout=60)
    assert during > 0, "no write happened while verify ran: the test proved nothing"
    for result in results:
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.startswith("verify: OK"), result.stdout
    assert [w.returncode for w in writers] == [0, 0, 0]
    assert verify(engine).ok  # and the ledger they left is clean too


def add_lab(engine: Engine, short_name: str) -> None:
    """One more event, written through its own connection and transaction."""
    with db.transaction(engine) as session:
        add_institution(
            session, ctx_for(), short_name=short_name, name="Lab", country="CN", city="Beijing",
            institution_kind="borrower",
        )  # fmt: skip


def test_a_write_between_the_replay_and_the_comparison_is_not_seen(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Service level, deterministic: an event committed right after the replay (the window
    where the old code compared the replay with newer tables) is outside verify's snapshot."""
    from sampleloans.services import verify as verify_module

    replay = verify_module.replay_into

    def replay_then_write(*args: Any, **kwargs: Any) -> Any:
        failure = replay(*args, **kwargs)
        add_lab(engine, "RACE")
        return failure

    monkeypatch.setattr(verify_module, "replay_into", replay_then_write)
    first = verify(engine)
    assert first.problems == []
    monkeypatch.setattr(verify_module, "replay_into", replay)
    second = verify(engine)
    assert second.problems == []
    assert second.events == first.events + 1  # the write landed, after the first snapshot
