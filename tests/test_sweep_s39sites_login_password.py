"""Sweep s39 (several sites): a researcher's first login, before the DBA has set its password.

`people add` on a secured ledger says "Login role created: the DBA sets its password". A person
who connected before that, or with a mistyped password, read libpq's own words, "cannot connect
to the database …: connection failed: connection to server at "…", port … failed: FATAL:
password authentication failed for user "…"", and with no password in the URL "fe_sendauth: no
password supplied". Each is now one line naming the login and what to do: the DBA sets a
person's password (psql's `\\password "EMAIL"`), or give it in the URL, PGPASSWORD or ~/.pgpass.
Exit 3 as before, the password never printed.
"""

import psycopg
from psycopg import sql
from typer.testing import CliRunner, Result

from sampleloans.cli import app
from tests.pgcluster import PgServer

CURATOR = "curator@naoc.example"
RESEARCHER = "anand@open.example"
ENV = {"SAMPLELOANS_DB": None, "SAMPLELOANS_USER": None, "PGPASSWORD": None,
       "PGPASSFILE": "/nonexistent/pgpass", "COLUMNS": "400"}  # fmt: skip


def _list(url: str) -> Result:
    return CliRunner().invoke(app, ["--db", url, "loans", "list"], env=ENV)


def test_a_login_without_its_password_is_told_who_sets_it(
    pg_server: PgServer, demo_url: str
) -> None:
    secured = CliRunner().invoke(app, ["--db", demo_url, "--as", CURATOR, "db", "secure"])
    assert secured.exit_code == 0, secured.stderr
    database = str(psycopg.conninfo.conninfo_to_dict(demo_url)["dbname"])
    mine = PgServer(pg_server.host, pg_server.port, RESEARCHER, "guessed-pw").url(database)

    before = _list(mine)  # the DBA has set no password yet
    assert before.exit_code == 3, before.output
    assert before.stderr.count("\n") == 1 and "guessed-pw" not in before.stderr
    assert (
        f"password authentication failed for {RESEARCHER}: a wrong password, or none set yet "
        f"(a person's login has none until the DBA sets it: psql's \\password \"{RESEARCHER}\")"
    ) in before.stderr, before.stderr
    assert "FATAL" not in before.stderr

    bare = _list(mine.replace(":guessed-pw@", "@"))
    assert bare.exit_code == 3, bare.output
    assert (
        f"it asks {RESEARCHER} for a password and none was given: put it in the URL "
        "(postgresql://USER:PASSWORD@…), or in PGPASSWORD or ~/.pgpass"
    ) in bare.stderr, bare.stderr

    with psycopg.connect(demo_url, autocommit=True) as connection:
        connection.execute(
            sql.SQL("ALTER ROLE {} PASSWORD 'guessed-pw'").format(sql.Identifier(RESEARCHER))
        )
    after = _list(mine)
    assert after.exit_code == 0, after.stderr
