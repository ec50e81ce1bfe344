"""Sweep s24 "spec": `db secure` by a login that is not a superuser says who runs it.

README (`db secure`: "run once by the DBA (a superuser) with `--as` a curator … a server
refusal exits 3"). A curator who ran it with their own login (step 2 of "Several sites"
exports their URL) was told `the server refused this login … (permission denied for schema
public)`: true, but it names neither the cause nor who may run it. Now one line says the login
is not a superuser and that the DBA runs it; exit 3 as before, nothing changed.
"""

from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from typer.testing import CliRunner, Result

from sampleloans.cli import app
from tests.pgcluster import PgServer, fresh_database

CURATOR = "curator@naoc.example"
PASSWORD = "s3cret-secure"


def _cli(url: str, *args: str) -> Result:
    env = {"SAMPLELOANS_DB": "", "SAMPLELOANS_USER": "", "COLUMNS": "400"}
    return CliRunner().invoke(app, ["--db", url, *args], env=env)


@pytest.fixture
def secured(pg_server: PgServer) -> Iterator[str]:
    """The demo on PostgreSQL, secured, the curator's login given a password."""
    with fresh_database(pg_server) as url:
        assert _cli(url, "demo").exit_code == 0
        assert _cli(url, "--as", CURATOR, "db", "secure").exit_code == 0
        pg_server.admin(
            sql.SQL("ALTER ROLE {} PASSWORD {}")
            .format(sql.Identifier(CURATOR), sql.Literal(PASSWORD))
            .as_string(None)
        )
        yield url


def _grants(url: str) -> list[tuple[str, str, str]]:
    """Every table grant of the database (who, which table, what)."""
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT grantee, table_name, privilege_type FROM information_schema.table_privileges "
            "WHERE table_schema = 'public' ORDER BY 1, 2, 3"
        ).fetchall()
    return [(str(a), str(b), str(c)) for a, b, c in rows]


def test_a_curators_own_login_is_told_the_dba_runs_it(pg_server: PgServer, secured: str) -> None:
    login = PgServer(pg_server.host, pg_server.port, CURATOR, PASSWORD).url(
        secured.rsplit("/", 1)[1]
    )
    before = _grants(secured)
    result = _cli(login, "db", "secure")
    assert result.exit_code == 3, result.output
    assert result.stderr == (
        f"Error: db secure: the login {CURATOR} is not a superuser; the DBA runs it, connected "
        "as a superuser, with --as a curator; nothing was changed\n"
    )
    assert _grants(secured) == before
    again = _cli(secured, "--as", CURATOR, "db", "secure")  # the DBA: idempotent, as written
    assert again.exit_code == 0, again.output
