"""What a write does while it holds the writers' lock (issue 14, Performance: 8 concurrent
writers against a raw psycopg loop).

- Round trips after the lock is granted, counted in libpq's own protocol trace (PostgreSQL):
  the acting person, the command's own lookup, then the last rows and the COMMIT together: 3.
  A pipelined block inside another used to end with a Sync of its own, one more round trip
  before the COMMIT.
- The write side (`apply`, the checks) is loaded and the ORM's mappers are configured before a
  write transaction begins, not by the process's first append inside the lock (both engines:
  the CLI's write path is the same code).
"""

import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from psycopg import pq
from sqlalchemy import event
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.services.reference import add_institution
from sampleloans.services.verify import verify
from tests.conftest import CURATOR, ctx_for

ROOT = Path(__file__).resolve().parent.parent
LEDGER_ID = "0d9ba0c2-5b8e-4a57-9d0e-6a1f0e3c1a2b"
LATER = datetime(2026, 4, 28, 9, 0, tzinfo=UTC)


def _protocol_trace(url: str, short_name: str) -> list[str]:
    """libpq's trace of one `add_institution` transaction on a fresh engine (one line per
    protocol message: direction, length, message type, details)."""
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
                add_institution(
                    session, ctx_for(now=LATER), short_name=short_name, name="Lab T",
                    country="CN", city="Beijing", institution_kind="borrower",
                )  # fmt: skip
            assert verify(engine).problems == []
        finally:
            engine.dispose()
        trace.seek(0)
        return trace.read().splitlines()


def _round_trips_after_the_grant(lines: list[str]) -> int:
    """Syncs the client sent after the one that asked for the writers' lock, up to the COMMIT's
    answer: each is a wait for the server while the lock is held."""
    lock = next(n for n, line in enumerate(lines) if "pg_advisory_xact_lock" in line)
    lock_sync = next(n for n in range(lock, len(lines)) if lines[n].startswith("F\t4\tSync"))
    committed = next(n for n, line in enumerate(lines) if 'CommandComplete\t "COMMIT"' in line)
    return sum(line.startswith("F\t4\tSync") for line in lines[lock_sync + 1 : committed])


def test_a_write_waits_three_times_for_the_server_after_the_lock(pg_url: str) -> None:
    """`institutions add` on PostgreSQL: after the grant, the person, the short name, and the
    INSERTs with the COMMIT in one pipeline; the rows written are there and the chain holds."""
    result = CliRunner().invoke(
        app,
        ["--db", pg_url, "demo", "--ledger-id", LEDGER_ID],
        env={"SAMPLELOANS_NOW": "2025-04-01T09:00:00Z"},
    )
    assert result.exit_code == 0, result.stderr
    lines = _protocol_trace(pg_url, "TRACE-1")
    assert any("pg_advisory_xact_lock" in line for line in lines)  # the trace saw the lock
    commit = next(n for n, line in enumerate(lines) if '"COMMIT"' in line and "Parse" in line)
    inserts = [n for n, line in enumerate(lines) if "Parse" in line and '"INSERT INTO' in line]
    assert len(inserts) == 3  # institution, ledger_event, event_subject
    # no Sync between the last rows and the COMMIT: they go in one round trip
    assert not any(line.startswith("F\t4\tSync") for line in lines[inserts[0] : commit])
    assert _round_trips_after_the_grant(lines) == 3
    # a second write in a new process's engine: the same count (nothing cached goes stale)
    assert _round_trips_after_the_grant(_protocol_trace(pg_url, "TRACE-2")) == 3


PROBE = """
import json, sys
import sqlalchemy
from sqlalchemy import event
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
    assert CliRunner().invoke(app, ["demo", "--dir", str(folder)]).exit_code == 0
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
    assert CliRunner().invoke(app, ["demo", "--dir", str(folder)]).exit_code == 0
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
