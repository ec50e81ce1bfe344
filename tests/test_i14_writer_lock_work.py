"""What a write does while it holds the writers' lock (issue 14, Performance: 8 concurrent
writers against a raw psycopg loop).

- Round trips after the lock is granted, counted in libpq's own protocol trace (PostgreSQL).
  A long-lived writer's transaction (services in `db.transaction`): the acting person and the
  command's own lookup by key go in the lock's own pipeline, then the last rows and the COMMIT
  together: 1 (the raw baseline's INSERT and COMMIT: 2). A write the checks look at (a sample,
  a loan's step) reads what they need with the lock too: 1; a loan's request, whose checks'
  neighbours are not known before, sends its rows with the checks' reads: 2.
  A CLI command, which begins before it reads anything: 3. A pipelined block inside another
  used to end with a Sync of its own, one more round trip before the COMMIT.
- The acting person read with the lock is read after the grant, in every transaction: a person
  deactivated between two writes of the same process is refused on the second.
- The write side (`apply`, the checks) is loaded and the ORM's mappers are configured before a
  write transaction begins, not by the process's first append inside the lock (both engines:
  the CLI's write path is the same code).
"""

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from psycopg import pq
from sqlalchemy import Engine, event
from sqlmodel import Session
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.errors import PermissionDenied
from sampleloans.services import loans
from sampleloans.services.reference import (
    add_institution,
    add_person,
    deactivate_person,
    reactivate_person,
)
from sampleloans.services.samples import move_sample
from sampleloans.services.verify import verify
from tests.conftest import CURATOR, ctx_for, demo_copy

ROOT = Path(__file__).resolve().parent.parent
LEDGER_ID = "0d9ba0c2-5b8e-4a57-9d0e-6a1f0e3c1a2b"
LATER = datetime(2026, 4, 28, 9, 0, tzinfo=UTC)


def _protocol_trace(url: str, short_name: str) -> list[str]:
    """libpq's trace of one `add_institution` transaction on a fresh engine (one line per
    protocol message: direction, length, message type, details)."""

    def write(session: Session) -> None:
        add_institution(
            session, ctx_for(now=LATER), short_name=short_name, name="Lab T",
            country="CN", city="Beijing", institution_kind="borrower",
        )  # fmt: skip

    return _trace_of(url, write)


def _trace_of(url: str, write: Callable[[Session], object]) -> list[str]:
    """libpq's trace of one write transaction on a fresh engine; the ledger verifies after."""
    engine = db.open_engine(url)
    with tempfile.TemporaryFile("w+") as trace:

        def start_trace(dbapi_connection: Any, *_args: Any) -> None:
            dbapi_connection.pgconn.trace(trace.fileno())
            dbapi_connection.pgconn.set_trace_flags(
                pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE
            )

        event.listen(engine.pool, "checkout", start_trace)
        try:
            with db.transaction(engine) as session:
                write(session)
            assert verify(engine).problems == []
        finally:
            engine.dispose()
        trace.seek(0)
        return trace.read().splitlines()


def _round_trips_after_the_grant(lines: list[str]) -> int:
    """Syncs and simple queries the client sent after the Sync that asked for the writers'
    lock, up to the COMMIT's answer: each is a wait for the server while the lock is held (a
    COMMIT sent on its own, as a simple query, is one too)."""
    lock = next(n for n, line in enumerate(lines) if "pg_advisory_xact_lock" in line)
    lock_sync = next(n for n in range(lock, len(lines)) if lines[n].startswith("F\t4\tSync"))
    committed = next(n for n, line in enumerate(lines) if 'CommandComplete\t "COMMIT"' in line)
    return sum(
        line.startswith("F\t4\tSync") or (line.startswith("F\t") and "\tQuery\t" in line)
        for line in lines[lock_sync + 1 : committed + 1]
    )


def _executed(lines: list[str], start: int, end: int) -> list[str]:
    """The Parse message of each statement executed (each Bind) in `lines[start:end]`: a
    statement prepared once and executed twice counts twice (the lock's pipeline prepares its
    statements on first use and binds them by name)."""
    parsed: dict[str, str] = {}
    executed = []
    for n, line in enumerate(lines[:end]):
        if "\tParse\t" in line:
            parsed[line.split('"')[1]] = line  # by the statement's name ("" for unnamed)
        elif "\tBind\t" in line and n >= start:
            executed.append(parsed[line.split('"')[3]])
    return executed


def test_a_writers_transaction_waits_once_for_the_server_after_the_lock(demo_url: str) -> None:
    """`add_institution` in a long-lived writer's transaction on PostgreSQL: the person and the
    short name's row come with the lock, then the INSERTs with the COMMIT in one pipeline. The
    rows are written and the chain holds (`verify`)."""
    lines = _protocol_trace(demo_url, "TRACE-1")
    lock = next(n for n, line in enumerate(lines) if "pg_advisory_xact_lock" in line)
    person = next(n for n, line in enumerate(lines) if "Parse" in line and "SELECT person." in line)
    name = next(
        n
        for n, line in enumerate(lines)
        if "Parse" in line and "SELECT institution.short_name" in line
    )
    sync = next(n for n in range(lock, len(lines)) if lines[n].startswith("F\t4\tSync"))
    assert lock < person < sync  # the person's read is in the lock's pipeline
    # the transaction's BEGIN too: the first message sent, with no Sync (round trip) of its own
    assert "BEGIN ISOLATION LEVEL READ COMMITTED" in lines[0]
    assert not any(line.startswith("F\t4\tSync") for line in lines[:lock])
    assert lock < name < sync  # and so is "does the short name exist yet?"
    commit = next(n for n, line in enumerate(lines) if '"COMMIT"' in line and "Parse" in line)
    selects = [line for line in lines[:commit] if "Parse" in line and "SELECT" in line]
    # the lock, the head, the person, the short name with its case twin: nothing else
    assert len(selects) == 4
    names = [
        n
        for n, line in enumerate(lines)
        if "Parse" in line and "SELECT institution.short_name" in line
    ]
    # the row by its key and a code differing only in case: one statement, with the lock
    assert len(names) == 1 and lock < names[0] < sync
    commit = next(n for n, line in enumerate(lines) if '"COMMIT"' in line and "Parse" in line)
    inserts = [n for n, line in enumerate(lines) if "Parse" in line and '"INSERT INTO' in line]
    assert len(inserts) == 3  # institution, ledger_event, event_subject
    # no Sync between the last rows and the COMMIT: they go in one round trip
    assert not any(line.startswith("F\t4\tSync") for line in lines[inserts[0] : commit])
    assert _round_trips_after_the_grant(lines) == 1
    # the pipeline's end is the COMMIT's Sync: nothing is sent after the COMMIT's answer (psycopg's
    # commit() added a Sync of its own, and the pipeline's end then a second round trip)
    committed = next(n for n, line in enumerate(lines) if 'CommandComplete\t "COMMIT"' in line)
    rest = lines[committed + 1 :]
    upto = next((n for n, line in enumerate(rest) if "\tParse\t" in line), len(rest))
    assert sum(line.startswith("F\t4\tSync") for line in rest[:upto]) == 0
    assert sum(line.startswith("F\t4\tSync") for line in lines[commit:committed]) == 1
    # a second engine (another process's): the same, nothing of the first one's reused
    assert _round_trips_after_the_grant(_protocol_trace(demo_url, "TRACE-2")) == 1


def test_a_sample_writes_checks_are_answered_with_the_lock(demo_url: str) -> None:
    """A write that changes only a sample (a move) runs the write path's checks while it holds
    the lock: what they read about the sample (it and its children, its items, its open
    incidents) comes with the lock, the checks answer from it and the move's own rows, and the
    rows go with the COMMIT: one wait after the grant (four before: the rows, the items, the
    samples, the COMMIT). The move is recorded and the ledger verifies."""

    def move(session: Session) -> None:
        move_sample(
            session, ctx_for(now=LATER), code="CE5C0400YJFM00505", storage_location="Shelf T"
        )

    lines = _trace_of(demo_url, move)
    assert _round_trips_after_the_grant(lines) == 1
    lock = next(n for n, line in enumerate(lines) if "pg_advisory_xact_lock" in line)
    sync = next(n for n in range(lock, len(lines)) if lines[n].startswith("F\t4\tSync"))
    committed = next(n for n, line in enumerate(lines) if 'CommandComplete\t "COMMIT"' in line)
    reads = [n for n in range(committed) if "\tParse\t" in lines[n] and '"SELECT' in lines[n]]
    assert all(n < sync for n in reads)  # every read with the lock, none after it
    selected = " ".join(lines[n] for n in reads)
    for table in ("sample.parent_code", "loan_item.sample_code", "incident.status"):
        assert table in selected, table
    assert any("UPDATE sample SET storage_location" in line for line in lines)


def test_a_lab_write_reads_its_loan_item_and_sample_with_the_lock(demo_url: str) -> None:
    """A consumption on PostgreSQL: the loan, the item, the sample, the loan's agreement and
    all its items, and what the checks read, come with the lock (not a wait each while it is
    held, nor a second read by `apply`); then the rows with the COMMIT: one wait after the
    grant (seven before, the COMMIT counted)."""

    def consume(session: Session) -> None:
        loans.consume(
            session, ctx_for(now=LATER), number="L-2025-UoC", sample="CE5C0000YJYX052",
            technique="bench", mass_ug=1, destructive=True,
        )  # fmt: skip

    lines = _trace_of(demo_url, consume)
    assert _round_trips_after_the_grant(lines) == 1
    lock = next(n for n, line in enumerate(lines) if "pg_advisory_xact_lock" in line)
    sync = next(n for n in range(lock, len(lines)) if lines[n].startswith("F\t4\tSync"))
    with_the_lock = _executed(lines, lock, sync)
    # each by its key, then the loan's items and agreement, then the checks' (samples on the
    # loan with their children, their items, the loan; its agreement only for an issue)
    expected = {'"SELECT loan.number': 2, '"SELECT sample.code': 2, '"SELECT agreement.number': 1}
    expected['"SELECT loan_item.loan_number'] = 3
    for columns, count in expected.items():
        assert sum(columns in line for line in with_the_lock) == count, columns
    assert any("INSERT INTO consumption" in line for line in lines)


ROUND = "L-T-ROUND"
ROUND_SAMPLE = "CE5C0000YJYX048"
ROUND_STEPS: list[tuple[str, Callable[..., object], dict[str, Any], int]] = [
    # the step, its service, its arguments, its waits for the server after the lock's grant:
    # a step of the loan reads with the lock what it and its checks look at, then sends its
    # rows with the COMMIT; the request (a new loan: its checks' neighbours are not known
    # before) sends its rows with the checks' reads, then the COMMIT. Before (the COMMIT
    # counted too): request 5, approve 5, issue 12, ship 8, receive 13, consume 7, release 10,
    # accept 12.
    ("request", loans.request_loan, {"agreement": "AG-2025-UoC",
     "pi": "muenker@uni-koeln.example", "samples": [ROUND_SAMPLE]}, 2),
    ("approve", loans.approve_loan, {}, 1),
    ("issue", loans.issue_loan, {}, 1),
    ("ship", loans.ship_loan, {"container": "box", "seal_number": "S-R1"}, 1),
    # receive and accept-return read the default parties' standing too (a deactivated PI)
    ("receive", loans.receive_loan, {"seal_intact": True, "condition": "good"}, 1),
    ("consume", loans.consume, {"sample": ROUND_SAMPLE, "technique": "x", "mass_ug": 1,
     "destructive": True}, 1),
    ("release the return", loans.release_return, {"container": "box",
     "seal_number": "S-R2"}, 1),
    ("accept the return", loans.accept_return, {"seal_intact": True, "condition": "good",
     "weighed_ug": {ROUND_SAMPLE: 17_599}}, 1),
]  # fmt: skip


def _round_step(
    service: Callable[..., object], when: datetime, arguments: dict[str, Any], session: Session
) -> None:
    """One step of the round, in `session`'s transaction."""
    service(session, ctx_for(now=when), number=ROUND, **arguments)


def test_a_loans_whole_round_waits_for_the_server_few_times_while_it_holds_the_lock(
    demo_url: str,
) -> None:
    """A loan from request to accepted return on PostgreSQL, one transaction per step: the
    waits after the writers' lock is granted, step by step. The rows a step looks up by key
    come with the lock, a row it loaded stays in the session for `apply` (not read again), and
    the checks read few queries."""
    waits = {}
    for minutes, (step, service, arguments, _expected) in enumerate(ROUND_STEPS):
        when = LATER + timedelta(minutes=minutes)
        write = partial(_round_step, service, when, arguments)
        waits[step] = _round_trips_after_the_grant(_trace_of(demo_url, write))
    assert waits == {step: expected for step, _s, _a, expected in ROUND_STEPS}


def test_a_cli_write_waits_three_times_after_the_lock(demo_url: str, statements: list[str]) -> None:
    """The CLI begins (takes the lock) before it reads the clock and the person: the person,
    the short name, then the rows with the COMMIT."""
    result = CliRunner().invoke(
        app,
        ["--db", demo_url, "--as", CURATOR, "institutions", "add", "CLI-RT", "--name", "Lab",
         "--country", "CN", "--city", "Beijing", "--kind", "borrower"],
        env={"SAMPLELOANS_NOW": "2026-04-28T09:00:00Z"},
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    people = [s for s in statements if s.startswith("SELECT person.")]
    assert len(people) == 1 and "LEFT OUTER JOIN institution" in people[0]


SECOND = "second.curator@naoc.example"


def _write(engine: Engine, actor: str, short_name: str) -> None:
    """One institution added by `actor` in its own transaction."""
    with db.transaction(engine) as session:
        add_institution(
            session, ctx_for(actor, LATER), short_name=short_name, name="Lab S",
            country="CN", city="Beijing", institution_kind="borrower",
        )  # fmt: skip


def test_a_person_deactivated_between_two_writes_of_one_process_is_refused(
    demo_url: str,
) -> None:
    """A long-lived writer (one engine, one connection) writes as a curator; another process
    deactivates them; the writer's very next write is refused (exit 4's error) and writes
    nothing; reactivated, the next one is recorded. An unknown actor is refused too."""
    writer, other = db.open_engine(demo_url), db.open_engine(demo_url)
    try:
        with db.transaction(other) as session:
            add_person(
                session, ctx_for(now=LATER), email=SECOND, name="Second Curator",
                institution="NAOC", role="curator",
            )  # fmt: skip
        _write(writer, SECOND, "STALE-1")
        with db.transaction(other) as session:
            deactivate_person(session, ctx_for(now=LATER), email=SECOND, reason="left")
        before = _event_count(demo_url)
        with pytest.raises(PermissionDenied, match="deactivated"):
            _write(writer, SECOND, "STALE-2")
        assert _event_count(demo_url) == before
        with db.transaction(other) as session:
            reactivate_person(session, ctx_for(now=LATER), email=SECOND, reason="back")
        _write(writer, SECOND, "STALE-3")
        with pytest.raises(PermissionDenied, match="not a registered person"):
            _write(writer, "nobody@nowhere.example", "STALE-4")
        assert _event_count(demo_url) == before + 2
        assert verify(writer).problems == []
    finally:
        writer.dispose()
        other.dispose()


def _event_count(url: str) -> int:
    """How many events the ledger holds (read by another client)."""
    import psycopg

    with psycopg.connect(url) as connection:
        found = connection.execute("SELECT count(*) FROM ledger_event").fetchone()
    assert found is not None
    return int(found[0])


def test_read_with_lock_is_an_ordinary_query_where_it_cannot_go_with_the_lock(
    tmp_path: Path, demo_url: str
) -> None:
    """SQLite, a transaction already begun, or a session with rows of its own to write first:
    NOT_READ, and the caller runs its query as usual."""
    from sampleloans.services.lock_reads import _PERSON_ROW

    params = {"email": CURATOR}
    sqlite = db.open_engine(db.url_for_path(tmp_path / "r.db"), create=True)
    postgres = db.open_engine(demo_url)
    try:
        with db.transaction(sqlite) as session:
            assert db.read_with_lock(session, ((_PERSON_ROW, params),)) is db.NOT_READ
        with db.transaction(postgres) as session:
            session.connection()  # begun: the lock is taken already
            assert db.read_with_lock(session, ((_PERSON_ROW, params),)) is db.NOT_READ
        with db.transaction(postgres) as session:
            rows = db.read_with_lock(session, ((_PERSON_ROW, params),))
            assert rows is not db.NOT_READ and rows[0] is not None and rows[0][0] == CURATOR
    finally:
        sqlite.dispose()
        postgres.dispose()


PROBE = """
import json, sys
import sqlalchemy
from sqlalchemy import Engine, event
from sqlmodel import Session
from sqlalchemy.engine import Engine
seen = []

@event.listens_for(Engine, "begin")
def _begin(connection):
    if connection.get_execution_options().get("sqlite_begin") == "IMMEDIATE" and not seen:
        from sampleloans.models import Person
        seen.append({
            "apply": "sampleloans.ledger.apply" in sys.modules,
            "checks": "sampleloans.ledger.checks" in sys.modules,
            "mappers_configured": Person.__mapper__.configured,
        })

sys.argv = ["sampleloans", *json.loads(sys.argv[1])]
from sampleloans.cli import main
try:
    main()
except SystemExit as exit:
    code = exit.code or 0
else:
    code = 0
sys.stderr.write("\\n" + json.dumps({"code": code, "seen": seen}) + "\\n")
"""


def test_the_write_side_is_ready_before_a_write_command_takes_the_lock(tmp_path: Path) -> None:
    """A cold `institutions add` (SQLite: BEGIN IMMEDIATE is the lock) has loaded `apply` and
    the checks and configured the mappers before it begins; its write is recorded."""
    folder = tmp_path / "demo"
    demo_copy(folder)
    env = {
        **os.environ,
        "SAMPLELOANS_DB": str(folder / "ledger.db"),
        "SAMPLELOANS_USER": CURATOR,
        "SAMPLELOANS_NOW": "2026-04-28T09:00:00Z",
    }
    args = ["institutions", "add", "WARM", "--name", "Lab W", "--country", "CN",
            "--city", "Beijing", "--kind", "borrower"]  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args)],
        capture_output=True, text=True, env=env, cwd=ROOT, check=False,
    )  # fmt: skip
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report["code"] == 0, done.stderr
    assert report["seen"] == [{"apply": True, "checks": True, "mappers_configured": True}]
    shown = CliRunner().invoke(
        app, ["--db", str(folder / "ledger.db"), "--as", CURATOR, "institutions", "list"]
    )
    assert "WARM" in shown.stdout


def test_a_read_command_still_loads_no_write_side(tmp_path: Path) -> None:
    """The probe can tell: a read command begins with none of it loaded."""
    folder = tmp_path / "demo"
    demo_copy(folder)
    done = subprocess.run(
        [sys.executable, "-c", PROBE.replace('== "IMMEDIATE"', '== "DEFERRED"'),
         json.dumps(["institutions", "list"])],
        capture_output=True, text=True, cwd=ROOT, check=False,
        env={**os.environ, "SAMPLELOANS_DB": str(folder / "ledger.db"),
             "SAMPLELOANS_USER": CURATOR},
    )  # fmt: skip
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report["code"] == 0, done.stderr
    assert report["seen"] and report["seen"][0]["apply"] is False
    assert report["seen"][0]["checks"] is False


@pytest.mark.parametrize("nested", [False, True])
def test_pipelined_blocks_on_sqlite_run_as_is(tmp_path: Path, nested: bool) -> None:
    """`db.pipelined` is a no-op on SQLite, nested or not: statements run and are seen at once."""
    engine = db.open_engine(db.url_for_path(tmp_path / "p.db"), create=True)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
            with db.pipelined(connection):
                if nested:
                    with db.pipelined(connection):
                        connection.exec_driver_sql("INSERT INTO t VALUES (1)")
                else:
                    connection.exec_driver_sql("INSERT INTO t VALUES (1)")
                assert connection.exec_driver_sql("SELECT count(*) FROM t").scalar() == 1
    finally:
        engine.dispose()


def test_a_read_after_a_write_on_the_same_connection_is_one_repeatable_read_snapshot(
    demo_url: str,
) -> None:
    """The write sent its own BEGIN (psycopg in autocommit for it); the next read on the same
    pooled connection is again one transaction in REPEATABLE READ, READ ONLY (its statements see
    one transaction time), and after a refused write nothing is left open."""
    engine = db.open_engine(demo_url)
    try:
        _write(engine, CURATOR, "SNAP-1")
        with db.transaction(engine, write=False) as session:
            connection = session.connection()
            show = connection.exec_driver_sql
            assert show("SHOW transaction_isolation").scalar() == "repeatable read"
            assert show("SHOW transaction_read_only").scalar() == "on"
            first = show("SELECT now()").scalar()
            show("SELECT pg_sleep(0.01)")
            assert show("SELECT now()").scalar() == first  # one transaction, not autocommit
        with pytest.raises(PermissionDenied):
            _write(engine, "nobody@nowhere.example", "SNAP-2")
        with engine.connect() as connection:
            raw: Any = connection.connection.driver_connection
            assert raw.pgconn.transaction_status == pq.TransactionStatus.IDLE
        _write(engine, CURATOR, "SNAP-3")
        with db.transaction(engine) as session:  # a write still runs in READ COMMITTED
            level = session.connection().exec_driver_sql("SHOW transaction_isolation").scalar()
            assert level == "read committed"
        assert verify(engine).problems == []
    finally:
        engine.dispose()
