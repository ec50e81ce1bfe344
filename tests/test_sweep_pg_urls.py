"""Issue 14, point 1 and the bad-input standard: `--db` URLs a user mistypes, tried by hand.

- A port that is not a number (or a broken IPv6 host) stopped every command, `db upgrade --sql`
  included, with a ValueError traceback (exit 1): now one `Error:` line naming --db, exit 2.
- A password given in the URL's query (`?password=…`, which libpq reads too) was printed in the
  error message of a refused login: now shown as `***` like the one before the @."""

import pytest
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from tests.pgcluster import PgServer

ENV = {"COLUMNS": "200", "NO_COLOR": "1", "PGPASSWORD": ""}


@pytest.mark.parametrize(
    "url",
    ["postgresql://dba:SECRET@127.0.0.1:notaport/demo", "postgresql://dba:SECRET@[::1/demo"],
)
@pytest.mark.parametrize(
    "command", [["loans", "list"], ["verify"], ["db", "upgrade", "--sql"], ["init"]]
)
def test_an_unreadable_url_is_invalid_input(url: str, command: list[str]) -> None:
    """One `Error:` line naming --db and the form it takes, exit 2, the password hidden."""
    extra = (
        ["--curator-email", "li@naoc.example", "--curator-name", "Li"]
        if command == ["init"]
        else []
    )
    result = CliRunner().invoke(
        app, ["--db", url, "--as", "li@naoc.example", *command, *extra], env=ENV
    )
    assert result.exit_code == 2, result.stdout + result.stderr
    assert result.stderr.startswith("Error: --db (or SAMPLELOANS_DB): postgresql://dba:***@")
    assert "postgresql://USER:PASSWORD@HOST:PORT/DATABASE" in result.stderr
    assert result.stderr.count("\n") == 1 and "SECRET" not in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.parametrize("key", ["password", "PASSWORD", "sslpassword"])
def test_display_url_hides_a_password_in_the_query(key: str) -> None:
    """The user part's password and a query password are both shown as ***."""
    shown = db.display_url(f"postgresql://u:SECRET@h:5432/d?sslmode=require&{key}=OTHER")
    assert "SECRET" not in shown and "OTHER" not in shown
    assert shown.startswith("postgresql://u:***@h:5432/d?")  # SQLAlchemy sorts the query
    assert sorted(shown.split("?")[1].split("&")) == sorted(["sslmode=require", f"{key}=***"])


def test_a_refused_query_password_is_not_printed(pg_server: PgServer) -> None:
    """A wrong password given as `?password=`: exit 3, one line, the password not in it."""
    url = (
        f"postgresql://{pg_server.user}@{pg_server.host}:{pg_server.port}/postgres"
        "?password=WRONG-SECRET"
    )
    result = CliRunner().invoke(app, ["--db", url, "--as", "li@naoc.example", "verify"], env=ENV)
    assert result.exit_code == 3, result.stdout + result.stderr
    assert "password=***" in result.stderr and "WRONG-SECRET" not in result.stderr
    assert "Traceback" not in result.stderr
