"""Sweep s37 (task A, users): what `people add --print-sql` prints, on each engine.

Before, on a secured PostgreSQL ledger it printed a GRANT the command had already done, and a
`\\password` line even for a login the server already had (another ledger's person, roles being
cluster-wide): run, it replaced the password that person logs in with elsewhere. On an unsecured
PostgreSQL ledger and on SQLite it printed `CREATE ROLE … ; GRANT sampleloans_researcher …`,
which no DBA could run (that group exists only once `db secure` made it; a SQLite ledger has no
logins at all). Now a secured ledger prints only psql's `\\password "<role>"` (the password is
asked for, never printed nor put in a statement), or, for a login that existed, a comment that
there is nothing to run; elsewhere `--print-sql` is refused (exit 2, one line naming it and what
to do instead, nothing written).
"""

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner, Result

from sampleloans.cli import app
from sampleloans.errors import InvalidInput
from sampleloans.services.logins import require_logins
from tests.conftest import CURATOR, fingerprint
from tests.pgcluster import PgServer, fresh_database
from tests.test_sweep_pg_attacks import ENV, PASSWORD, _events, _login, secured_database

ADD = ("people", "add")
PERSON = ("--name", "Kit Wren", "--institution", "OU", "--role", "researcher")


@pytest.fixture(scope="module")
def secured(pg_server: PgServer) -> Iterator[str]:
    """A secured demo ledger (its database's name); the curator logs in with PASSWORD."""
    with secured_database(pg_server, "s37print") as name:
        yield name


def _add(url: str, email: str, *extra: str, env: dict[str, str] = ENV) -> Result:
    return CliRunner().invoke(app, ["--db", url, *extra, *ADD, email, *PERSON, "--print-sql"],
                              env=env)  # fmt: skip


def _psql() -> str:
    found = shutil.which("psql") or shutil.which("psql", path="/usr/lib/postgresql/15/bin")
    if found is None:
        pytest.skip("no psql")
    return found


def test_a_secured_ledger_prints_the_password_line_alone(pg_server: PgServer, secured: str) -> None:
    email = f"wren-{os.getpid()}@open.example"  # roles outlive the database
    added = _add(_login(pg_server, secured, CURATOR), email)
    assert added.exit_code == 0, added.stderr
    lines = added.stdout.splitlines()
    assert lines[0].endswith("Login role created: the DBA sets its password."), lines
    assert lines[1:] == [f'\\password "{email}"'], lines
    for secret in (PASSWORD, "PASSWORD '", "ALTER ROLE", "CREATE ROLE", "GRANT"):
        assert secret not in added.stdout, added.stdout
    # nothing else is left to run: the login exists, in the researchers' group
    with psycopg.connect(pg_server.url(secured)) as admin:
        row = admin.execute(
            "SELECT rolcanlogin, pg_has_role(oid, 'sampleloans_researcher', 'MEMBER') "
            "FROM pg_roles WHERE rolname = %s",
            (email,),
        ).fetchone()
    assert row == (True, True)


def test_a_login_the_server_had_gets_no_new_password(pg_server: PgServer, secured: str) -> None:
    """The same person added to a second secured ledger on the server: their login exists,
    with the password they use for the first; a DBA running what is printed keeps it."""
    email = f"twice-{os.getpid()}@open.example"
    assert _add(_login(pg_server, secured, CURATOR), email).exit_code == 0
    pg_server.admin(f"ALTER ROLE \"{email}\" PASSWORD '{PASSWORD}'")
    with secured_database(pg_server, "s37print2") as second:
        added = _add(_login(pg_server, second, CURATOR), email)
        assert added.exit_code == 0, added.stderr
        printed = added.stdout.splitlines()[1:]
        assert printed == [
            f'-- "{email}" already logs in to this server (another ledger\'s person): it keeps '
            "its password; nothing to run"
        ], printed
        done = subprocess.run(
            [_psql(), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", pg_server.url(second), "-f", "-"],
            input="\n".join(printed) + "\n", capture_output=True, text=True, timeout=120,
            check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        psycopg.connect(_login(pg_server, second, email)).close()  # the password it had


def test_an_unsecured_postgresql_ledger_refuses_it(pg_server: PgServer) -> None:
    with fresh_database(pg_server) as url:
        demo = CliRunner().invoke(app, ["--db", url, "demo"], env=ENV)
        assert demo.exit_code == 0, demo.stderr
        database = url.rsplit("/", 1)[1]
        before = _events(pg_server, database)
        later = {**ENV, "SAMPLELOANS_NOW": "2026-05-01T00:00:00Z"}  # after the demo's events
        added = _add(url, "wren@open.example", "--as", CURATOR, env=later)
        assert added.exit_code == 2, added.stdout
        assert added.stderr == (
            "Error: --print-sql: this PostgreSQL ledger is not secured: nobody logs in as "
            "themselves (people act with --as); the DBA's 'db secure' makes every person's "
            "login, this one's too, and prints what to run; leave --print-sql out\n"
        )
        assert _events(pg_server, database) == before
        assert CliRunner().invoke(app, ["--db", url, "--as", CURATOR, *ADD, "wren@open.example",
                                        *PERSON], env=later).exit_code == 0  # fmt: skip


@pytest.mark.usefixtures("cli_env", "engine")
def test_a_sqlite_ledger_refuses_it(db_path: Path) -> None:
    before = fingerprint(db_path)
    added = CliRunner().invoke(app, ["--as", CURATOR, *ADD, "wren@open.example", *PERSON,
                                     "--print-sql"])  # fmt: skip
    assert added.exit_code == 2, added.output
    assert added.stderr == (
        "Error: --print-sql: this ledger is a SQLite file: nobody logs in to it (people act "
        "with --as), so there is no login for a DBA to set up; leave --print-sql out\n"
    )
    assert fingerprint(db_path) == before


@pytest.mark.usefixtures("engine")
def test_a_sqlite_ledger_refuses_it_at_service_level(db_path: Path) -> None:
    from sampleloans import db

    engine = db.open_engine(db.url_for_path(db_path))
    try:
        with db.transaction(engine) as session, pytest.raises(InvalidInput, match="SQLite"):
            require_logins(session, "--print-sql")
    finally:
        engine.dispose()
