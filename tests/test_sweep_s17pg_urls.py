"""Sweep s17, PostgreSQL `--db` URLs as psql reads them.

- A unix socket folder written as libpq's documented URI form, the host percent-encoded
  (`postgresql://USER:PW@%2Fvar%2Frun%2Fpostgresql:5432/ledger`), which psql accepts: every
  command stopped with "failed to resolve host '%2Fvar…'" (exit 3). SQLAlchemy decodes every part
  of a URL but the host; the host is now decoded too (a socket folder, or any escaped name)."""

from urllib.parse import quote

import psycopg
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.pgcluster import PgServer

ENV = {"COLUMNS": "200", "NO_COLOR": "1", "PGPASSWORD": ""}


def _url(pg_server: PgServer, database: str, host: str) -> str:
    """A URL of the test server with the host as given (already escaped)."""
    auth = f"{quote(pg_server.user, safe='')}:{quote(pg_server.password, safe='')}"
    return f"postgresql://{auth}@{host}:{pg_server.port}/{database}"


def test_an_escaped_host_is_read_as_libpq_reads_it(pg_server: PgServer, pg_url: str) -> None:
    """`%31%32%37.0.0.1` is 127.0.0.1 to psql; the ledger opens there the same."""
    database = pg_url.rsplit("/", 1)[1]
    init = CliRunner().invoke(
        app,
        ["--db", pg_url, "init", "--curator-email", "li@naoc.example", "--curator-name", "Li Na"],
        env=ENV,
    )
    assert init.exit_code == 0, init.stderr
    escaped = "".join(f"%{ord(c):02X}" if c.isdigit() else c for c in pg_server.host)
    url = _url(pg_server, database, escaped)
    result = CliRunner().invoke(
        app, ["--db", url, "--as", "li@naoc.example", "people", "list", "--json"], env=ENV
    )
    assert result.exit_code == 0, result.stderr
    assert "li@naoc.example" in result.stdout


def test_a_socket_folder_in_the_host_part_connects(pg_server: PgServer, pg_url: str) -> None:
    """libpq's `postgresql://%2Fsocket%2Ffolder:PORT/db` form reaches the server's socket."""
    with psycopg.connect(pg_server.url()) as connection:
        row = connection.execute("SHOW unix_socket_directories").fetchone()
    folders = [f.strip() for f in (row[0] if row else "").split(",") if f.strip()]
    if not folders or not folders[0].startswith("/"):
        import pytest

        pytest.skip(f"the server listens on no socket folder this test can name: {row!r}")
    database = pg_url.rsplit("/", 1)[1]
    url = _url(pg_server, database, quote(folders[0], safe=""))
    result = CliRunner().invoke(
        app,
        ["--db", url, "init", "--curator-email", "li@naoc.example", "--curator-name", "Li Na"],
        env=ENV,
    )
    assert result.exit_code == 0, result.stderr
    listed = CliRunner().invoke(
        app, ["--db", url, "--as", "li@naoc.example", "institutions", "list", "--json"], env=ENV
    )
    assert listed.exit_code == 0, listed.stderr
    assert "NAOC" in listed.stdout
