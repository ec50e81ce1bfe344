"""Sweep s31, an attacker and a clumsy user: `--db` URLs that printed the password.

- A URL of another database (`mysql://root:PASSWORD@db/x`) or a PostgreSQL URL whose scheme is
  not in lower case (`Postgresql://…`, refused: the program reads only the lower-case schemes)
  was quoted in its refusal as typed, password and all.
- A password holding an unescaped `@` (`dba:Top@Secret@db.example`): SQLAlchemy ends the
  password at its first `@`, so the rest became the host, and the driver's refusal printed it
  (`failed to resolve host 'Secret@db.example'`).
- A NUL (`%00`) anywhere in the URL: libpq ends every value there, so the program connected to
  another port than the URL named (`post%00gres` on port 50561 tried port 5432).

Each is now one `Error:` line, exit 2, with the password shown as `***`, before any connection.
"""

import pytest
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.errors import InvalidInput

SECRET = "TopSecret"
ENV = {"COLUMNS": "200", "NO_COLOR": "1", "PGPASSWORD": ""}


def _refused(url: str) -> str:
    """The CLI's one refusal line for `url` as --db (exit 2, the password nowhere in it)."""
    result = CliRunner().invoke(
        app, ["--db", url, "--as", "li@naoc.example", "loans", "list"], env=ENV
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: --db"), result.stderr
    for part in (SECRET, "Secret", "cret"):
        assert part not in result.stderr, result.stderr
    return lines[0]


@pytest.mark.parametrize(
    "url",
    [
        f"mysql://root:{SECRET}@db.example/ledger",
        f"Postgresql://dba:{SECRET}@127.0.0.1:5432/ledger",
        f"POSTGRESQL://dba:Top/{SECRET}@127.0.0.1/ledger",
        f"ftp://a:{SECRET}@h/x",
    ],
)
def test_another_database_s_url_is_refused_without_its_password(url: str) -> None:
    line = _refused(url)
    assert ":***@" in line and "which sampleloans does not open" in line, line
    with pytest.raises(InvalidInput) as refused:
        db.refuse_foreign_url(url)
    assert "Secret" not in str(refused.value) and ":***@" in str(refused.value)


def test_a_postgresql_scheme_in_capitals_is_told_to_be_written_in_lower_case() -> None:
    line = _refused(f"Postgresql://dba:{SECRET}@127.0.0.1:5432/ledger")
    assert "write the scheme in lower case, postgresql://" in line, line


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://dba:Top@{SECRET}@127.0.0.1:1/ledger",
        f"postgresql://dba:@{SECRET}@127.0.0.1/ledger",
        f"postgresql://li%40naoc.example:Top@{SECRET}@127.0.0.1:1/ledger",
        f"postgresql://dba:{SECRET}@127.0.0.1:1/led%00ger",
        f"postgresql://dba:Top%00{SECRET}@127.0.0.1:1/ledger",
    ],
)
def test_an_unescaped_at_or_a_nul_is_refused_before_connecting(url: str) -> None:
    """Port 1: had it connected, the refusal would be exit 3 (nobody listens there)."""
    line = _refused(url)
    assert "is not a PostgreSQL URL this program can read" in line, line
    assert "an @ in an e-mail user or a password as %40" in line, line
    with pytest.raises(InvalidInput) as refused:
        db.server_url(url)
    assert "Secret" not in str(refused.value)


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://dba:Top/{SECRET}@127.0.0.1:notaport/x",
        f"postgresql://dba:Top?{SECRET}@127.0.0.1:notaport/x",
        f"postgresql://dba:Top@{SECRET}@127.0.0.1:notaport/x",
    ],
)
def test_a_password_holding_url_delimiters_is_masked_whole(url: str) -> None:
    """An unreadable URL is masked by hand: a `/`, `?` or `@` in the password once ended the
    mask early, or stopped it matching at all."""
    assert "Secret" not in db.display_url(url)
    line = _refused(url)
    assert line.startswith("Error: --db (or SAMPLELOANS_DB): postgresql://dba:***@"), line


def test_a_url_that_reads_fine_keeps_its_parts() -> None:
    """What the stricter reading must keep: an escaped @ in an e-mail user, a socket folder."""
    parsed = db.server_url("postgresql://li%40naoc.example:p%40ss@db.example:5432/ledger")
    assert (parsed.username, parsed.password, parsed.host) == (
        "li@naoc.example",
        "p@ss",
        "db.example",
    )
    socket = db.server_url("postgresql://dba@%2Fvar%2Frun%2Fpostgresql/ledger")
    assert socket.host == "/var/run/postgresql"
    shown = db.display_url("postgresql://li%40naoc.example:p%40ss@db.example:5432/ledger")
    assert shown == "postgresql://li%40naoc.example:***@db.example:5432/ledger"
