"""Issue 14, point 7, tried by hand: `db upgrade` with a curator's own login on a secured
ledger one revision behind stopped with a psycopg traceback (exit 1): the login may not alter
what the NOLOGIN owner owns. It is now the server's refusal in one line, naming who runs it
(exit 3), with the schema unchanged; the DBA's upgrade then works."""

import psycopg
from typer.testing import CliRunner

from sampleloans import migrate
from sampleloans.cli import app
from tests.pgcluster import PgServer, fresh_database
from tests.test_sweep_pg_attacks import CURATOR, ENV, PASSWORD, secure_demo

BEHIND = "0005_researcher_write_guard"


def _revision(url: str) -> str:
    with psycopg.connect(url) as connection:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    assert row is not None
    return str(row[0])


def test_a_curators_login_cannot_upgrade_a_secured_ledger(pg_server: PgServer) -> None:
    """Curator's login: exit 3, one `Error:` line naming the DBA, no traceback, revision kept;
    the DBA (--as the curator): upgraded to this release's head."""
    with fresh_database(pg_server) as url:
        secure_demo(pg_server, url)
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("UPDATE alembic_version SET version_num = %s", (BEHIND,))
        login = PgServer(pg_server.host, pg_server.port, CURATOR, PASSWORD).url(
            url.rsplit("/", 1)[1]
        )
        result = CliRunner().invoke(app, ["--db", login, "db", "upgrade"], env=ENV)
        assert result.exit_code == 3, result.stdout + result.stderr
        assert result.stderr.startswith("Error: the server refused this login")
        assert "the DBA (a superuser) runs 'db upgrade'" in result.stderr
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
        assert _revision(url) == BEHIND
        by_dba = CliRunner().invoke(app, ["--db", url, "--as", CURATOR, "db", "upgrade"], env=ENV)
        assert by_dba.exit_code == 0, by_dba.stderr
        assert _revision(url) == migrate.head_revision()
