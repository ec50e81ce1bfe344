"""Sweep s33 (lead): a login that holds the writers' lock is named to those it blocks.

On PostgreSQL any login that may write can take the writers' advisory lock and keep it (a
researcher in `psql`: `SELECT pg_advisory_lock(…)`, or a transaction left open after
`pg_advisory_xact_lock`). Every writer then waited out its lock timeout and read only "locked by
another writer", with no way to tell whose session to end. The refusal now names the login and
server process holding the lock; still exit 3, nothing written.
"""

from collections.abc import Iterator

import psycopg
import pytest
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from tests.pgcluster import PgServer
from tests.test_sweep_pg_attacks import CURATOR, ENV, RESEARCHER, _events, _login, secured_database


@pytest.fixture(scope="module")
def secured(pg_server: PgServer) -> Iterator[str]:
    """A secured demo ledger in a database of its own."""
    with secured_database(pg_server, "s33lock") as name:
        yield name


def test_a_curators_write_blocked_by_a_researchers_session_names_it(
    pg_server: PgServer, secured: str
) -> None:
    """The researcher's own login holds the lock at session level; the curator's move waits
    out its timeout, exits 3 naming that login and its server process, and writes nothing."""
    before = _events(pg_server, secured)
    with psycopg.connect(_login(pg_server, secured), autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (db.WRITER_LOCK_KEY,))
        pid = holder.info.backend_pid
        args = ["--db", _login(pg_server, secured, CURATOR), "samples", "move"]
        blocked = CliRunner().invoke(
            app,
            [*args, "CE5C0400YJFM00505", "--location", "Cabinet C"],
            env={**ENV, "SAMPLELOANS_LOCK_TIMEOUT": "0.3"},
        )
    assert blocked.exit_code == 3, (blocked.stdout, blocked.stderr)
    said = blocked.stderr
    assert said.count("\n") == 1 and said.startswith("Error: the database is locked")
    assert f"the login '{RESEARCHER}', server process {pid}, holds it" in said
    assert f"pg_terminate_backend({pid})" in said
    assert "nothing was written" in said
    assert _events(pg_server, secured) == before


def test_the_holder_is_read_while_held_and_none_after(pg_server: PgServer, secured: str) -> None:
    """Service level: `writer_lock_holder` names the session holding the lock in this ledger's
    database, None once it is released; the message without a holder is the plain one."""
    engine = db.make_engine(pg_server.url(secured))
    try:
        assert db.writer_lock_holder(engine) is None
        with psycopg.connect(_login(pg_server, secured), autocommit=True) as holder:
            holder.execute("SELECT pg_advisory_lock(%s)", (db.WRITER_LOCK_KEY,))
            found = db.writer_lock_holder(engine)
            assert found == db.LockHolder(RESEARCHER, holder.info.backend_pid)
            holder.execute("SELECT pg_advisory_unlock(%s)", (db.WRITER_LOCK_KEY,))
            assert db.writer_lock_holder(engine) is None
    finally:
        engine.dispose()
    assert db.locked_message(None) == db.LOCKED_MESSAGE
    named = db.locked_message(db.LockHolder("x@y.example", 42))
    assert named.startswith(db.LOCKED_MESSAGE.split(";")[0] + " (the login 'x@y.example'")


def test_another_databases_holder_is_not_named(pg_server: PgServer, secured: str) -> None:
    """The same advisory key held in another database of the cluster (another ledger) is not
    this ledger's holder."""
    engine = db.make_engine(pg_server.url(secured))
    try:
        with psycopg.connect(pg_server.url("postgres"), autocommit=True) as elsewhere:
            elsewhere.execute("SELECT pg_advisory_lock(%s)", (db.WRITER_LOCK_KEY,))
            assert db.writer_lock_holder(engine) is None
    finally:
        engine.dispose()
