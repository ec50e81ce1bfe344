"""PostgreSQL writes: the BEGIN, the writers' lock, the chain head and the rows a write reads
with the lock go by libpq's own pipeline (`db._lock_by_libpq`), each statement prepared once on
the server session, their rows loaded by psycopg's own loaders (issue 14, Performance: a
writer's client CPU per write, much of it after the lock's grant). The head and rows are what
psycopg's pipeline read; a refused write leaves the prepared statements prepared (none made
again under a new name); a lock wait past the timeout is still the lock's message (exit 3);
a value with no text form still goes by psycopg's pipeline; a Ctrl-C while the write waits for
the lock leaves the connection out of libpq's pipeline mode (exit 130, one line)."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine

from sampleloans import db
from sampleloans.errors import RecordConflict, StorageError
from sampleloans.services.reference import add_institution
from sampleloans.services.samples import move_sample
from sampleloans.services.verify import verify
from tests.conftest import ctx_for

LATER = datetime(2026, 4, 28, 9, 0, tzinfo=UTC)
SAMPLE = "CE5C0400YJFM00505"  # in the vault of the demo


@pytest.fixture(scope="module")
def ledger(pg_server: Any) -> Iterator[str]:
    """One demo ledger for the module (its tests add distinct names)."""
    from typer.testing import CliRunner

    from sampleloans.cli import app
    from tests.pgcluster import fresh_database

    with fresh_database(pg_server) as url:
        result = CliRunner().invoke(
            app, ["--db", url, "demo", "--ledger-id", "0d9ba0c2-5b8e-4a57-9d0e-6a1f0e3c1a2b"],
            env={"SAMPLELOANS_NOW": "2025-04-01T09:00:00Z"},
        )  # fmt: skip
        assert result.exit_code == 0, result.stderr
        yield url


@pytest.fixture
def writer(ledger: str) -> Iterator[Engine]:
    """A long-lived writer's engine (2 s lock timeout)."""
    engine = db.open_engine(ledger, lock_timeout_ms=2000)
    yield engine
    engine.dispose()


def _add(engine: Engine, short_name: str) -> None:
    """Add one institution in one write transaction."""
    with db.transaction(engine) as session:
        add_institution(
            session, ctx_for(now=LATER), short_name=short_name, name=f"Lab {short_name}",
            country="CN", city="Beijing", institution_kind="borrower",
        )  # fmt: skip


def _prepared_on_the_server(engine: Engine) -> set[str]:
    """The statements prepared on the writer's own server session (its one pooled
    connection)."""
    with db.transaction(engine, write=False) as session:
        found = session.connection().exec_driver_sql("SELECT name FROM pg_prepared_statements")
        return {str(row[0]) for row in found}


def test_refused_writes_leave_the_prepared_statements_as_they_were(writer: Engine) -> None:
    """Two adds prepare the lock's and the rows' statements; three refused adds (a name taken,
    found with the lock) and one more add prepare none again (failed before: each refusal
    forgot them, 8 more prepared under new names by the next write)."""
    _add(writer, "LIB-1")
    _add(writer, "LIB-2")
    prepared = _prepared_on_the_server(writer)
    assert len([name for name in prepared if name.startswith("sampleloans_w")]) >= 5
    for _ in range(3):
        with pytest.raises(RecordConflict, match="institution LIB-1 already exists"):
            _add(writer, "LIB-1")
    _add(writer, "LIB-3")
    assert _prepared_on_the_server(writer) == prepared
    assert verify(writer).problems == []


def _lock_answers(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    """The head and the rows read with the lock by a sample move (its sample and what its
    checks read), in a transaction rolled back."""
    seen: list[tuple[Any, Any]] = []
    begin_write = db._begin_write

    def kept(connection: Any, **options: Any) -> None:
        begin_write(connection, **options)
        state = db.connection_state(connection)
        seen.append((dict(state.prefetched_head or {}), state.prefetched_rows))

    monkeypatch.setattr(db, "_begin_write", kept)
    with pytest.raises(LookupError), db.transaction(engine) as session:
        move_sample(session, ctx_for(now=LATER), code=SAMPLE, storage_location="Shelf L")
        raise LookupError("rolled back")
    monkeypatch.setattr(db, "_begin_write", begin_write)
    return seen[0]


def test_the_head_and_rows_are_what_psycopgs_pipeline_reads(
    writer: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same write's lock answers by libpq and by psycopg's pipeline (a value with no text
    form sends them so: `_lock_commands` None): equal, value for value and type for type."""
    by_libpq = _lock_answers(writer, monkeypatch)
    with monkeypatch.context() as patched:
        patched.setattr(db, "_lock_commands", lambda *_args: None)
        by_psycopg = _lock_answers(writer, monkeypatch)
    assert by_libpq[0] and by_libpq[1]  # a head, and rows read with the lock
    assert by_libpq == by_psycopg
    assert [type(value) for value in by_libpq[0].values()] == [
        type(value) for value in by_psycopg[0].values()
    ]
    with db.transaction(writer) as session:  # and psycopg's way still writes
        monkeypatch.setattr(db, "_lock_commands", lambda *_args: None)
        move_sample(session, ctx_for(now=LATER), code=SAMPLE, storage_location="Shelf P")
    assert verify(writer).problems == []


def test_a_value_with_no_text_form_is_left_to_psycopg() -> None:
    """`_lock_commands`: a read whose value has no text form (a datetime) gives None; else the
    statements numbered as libpq takes them, their values as text."""
    reads = [("SELECT 1 FROM sample WHERE code = %(code)s", {"code": SAMPLE})]
    assert db._lock_commands(["BEGIN"], reads) == [
        (b"BEGIN", []),
        (b"SELECT 1 FROM sample WHERE code = $1", [SAMPLE.encode()]),
    ]
    assert db._lock_commands(["BEGIN"], [("SELECT %(at)s", {"at": LATER})]) is None


def test_a_lock_wait_past_the_timeout_is_the_locks_message_and_the_next_write_works(
    writer: Engine, ledger: str
) -> None:
    """Another session holds the writers' lock: the write is refused with the lock's message
    (exit 3), nothing written; once it is free, the same writer writes."""
    _add(writer, "LIB-T0")  # the statements prepared on this session
    with psycopg.connect(ledger) as holder:
        holder.execute("SELECT pg_advisory_xact_lock(%s)", (db.WRITER_LOCK_KEY,))
        with pytest.raises(StorageError, match="lock") as refused:
            _add(writer, "LIB-T1")
        assert refused.value.exit_code == 3
    _add(writer, "LIB-T2")
    names = {"LIB-T0", "LIB-T1", "LIB-T2"}
    with db.transaction(writer, write=False) as session:
        found = session.connection().exec_driver_sql(
            "SELECT short_name FROM institution WHERE short_name LIKE 'LIB-T%%'"
        )
        assert {str(row[0]) for row in found} == names - {"LIB-T1"}
    assert verify(writer).problems == []


def _interrupt_after(seconds: float) -> None:
    """A Ctrl-C (KeyboardInterrupt) raised in this thread after `seconds`, by SIGALRM."""

    def interrupt(*_args: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds)


def test_a_ctrl_c_while_waiting_for_the_lock_leaves_the_pipeline(
    writer: Engine, ledger: str
) -> None:
    """Service level: interrupted while another session holds the lock, the write raises the
    interrupt with nothing written and its connection out of pipeline mode; the same writer
    writes once the lock is free. CLI: exit 130, the interrupt's one line (failed before: a
    psycopg traceback, "PQsendQuery not allowed in pipeline mode", from the rollback)."""
    _add(writer, "LIB-C0")
    previous = signal.getsignal(signal.SIGALRM)
    try:
        with psycopg.connect(ledger) as holder:
            holder.execute("SELECT pg_advisory_xact_lock(%s)", (db.WRITER_LOCK_KEY,))
            _interrupt_after(0.3)
            with pytest.raises(KeyboardInterrupt):
                _add(writer, "LIB-C1")
            with writer.connect() as connection:
                raw: Any = connection.connection.driver_connection
                assert not raw.pgconn.pipeline_status
            command = [
                sys.executable, "-m", "sampleloans", "--db", ledger, "--as",
                "curator@naoc.example", "institutions", "add", "LIB-C2", "--name", "Lab C",
                "--country", "CN", "--city", "Beijing", "--kind", "borrower",
            ]  # fmt: skip
            cli = subprocess.Popen(
                command, stderr=subprocess.PIPE, text=True,
                env={**os.environ, "SAMPLELOANS_NOW": "2026-04-28T09:00:00Z"},
            )  # fmt: skip
            while not _waiting_for_the_lock(holder):
                time.sleep(0.05)
            cli.send_signal(signal.SIGINT)
            _out, err = cli.communicate(timeout=60)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert cli.returncode == 130, err
    assert err.strip().splitlines() == [
        "Error: interrupted (Ctrl-C); nothing that was not yet committed was recorded and no "
        "partial output file was left: run the command again"
    ]
    _add(writer, "LIB-C3")
    with db.transaction(writer, write=False) as session:
        found = session.connection().exec_driver_sql(
            "SELECT short_name FROM institution WHERE short_name LIKE 'LIB-C%%'"
        )
        assert {str(row[0]) for row in found} == {"LIB-C0", "LIB-C3"}
    assert verify(writer).problems == []


def _waiting_for_the_lock(holder: psycopg.Connection[Any]) -> bool:
    """Whether another session waits for the writers' advisory lock (`pg_locks`)."""
    found = holder.execute(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
    ).fetchone()
    return bool(found and found[0])
