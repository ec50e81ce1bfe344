"""Sweep s23 "reads" (1) on PostgreSQL: `loans list` says how a loan ended there too.

The new columns of the loan listing (the last return's arrival, the withdrawal's reason: two
correlated subqueries) run on a secured PostgreSQL ledger, for the curator and for a
researcher's own login (row-level security shows them their own loan's withdrawal event).
"""

import json
import os
from collections.abc import Iterator

import pytest
from psycopg import sql
from typer.testing import CliRunner, Result

from sampleloans.cli import app
from tests.pgcluster import PgServer

CURATOR = "curator@naoc.example"
BROWN_PI = "pi@brown.example"
IPGP_PI = "moynier@ipgp.example"
PASSWORD = "s3cret-ended"
NOW = "2026-06-15T10:00:00Z"


def _cli(url: str, *args: str) -> Result:
    """One CLI command on `url` at NOW (no SAMPLELOANS_USER: `--as` or the login acts)."""
    env = {"SAMPLELOANS_NOW": NOW, "COLUMNS": "200", "SAMPLELOANS_USER": ""}
    return CliRunner().invoke(app, ["--db", url, *args], env=env)


@pytest.fixture(scope="module")
def secured(pg_server: PgServer) -> Iterator[str]:
    """The demo on PostgreSQL with L-2025-Brown withdrawn, secured, two PIs given passwords."""
    name = f"sampleloans_ended_{os.getpid()}"
    pg_server.admin(f"CREATE DATABASE {name} TEMPLATE template0")
    admin = pg_server.url(name)
    try:
        assert _cli(admin, "demo").exit_code == 0
        why = ("--reason", "the PI moved labs")
        withdrawn = _cli(admin, "--as", CURATOR, "loans", "withdraw", "L-2025-Brown", *why)
        assert withdrawn.exit_code == 0, withdrawn.stderr
        assert _cli(admin, "--as", CURATOR, "db", "secure").exit_code == 0
        for email in (BROWN_PI, IPGP_PI):
            pg_server.admin(
                sql.SQL("ALTER ROLE {} PASSWORD {}")
                .format(sql.Identifier(email), sql.Literal(PASSWORD))
                .as_string(None)
            )
        yield name
    finally:
        pg_server.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _login(server: PgServer, database: str, email: str) -> str:
    """The URL a person logs in with (their e-mail is the role)."""
    return PgServer(server.host, server.port, email, PASSWORD).url(database)


def _rows(result: Result) -> dict[str, dict[str, object]]:
    """The JSON rows of a listing that succeeded, by loan number."""
    assert result.exit_code == 0, result.stderr
    return {row["number"]: row for row in json.loads(result.stdout)}


def test_the_curator_reads_how_each_loan_ended(pg_server: PgServer, secured: str) -> None:
    rows = _rows(_cli(pg_server.url(secured), "--as", CURATOR, "loans", "list", "--json"))
    brown, ipgp = rows["L-2025-Brown"], rows["L-2025-IPGP"]
    assert (brown["status"], brown["withdrawn_reason"], brown["closed_at"]) == (
        "closed",
        "the PI moved labs",
        NOW,
    )
    assert (ipgp["returned_at"], ipgp["closed_at"]) == (
        "2025-10-08T10:00:00Z",
        "2025-10-21T10:00:00Z",
    )
    table = _cli(pg_server.url(secured), "--as", CURATOR, "loans", "list", "--status", "withdrawn")
    assert table.exit_code == 0 and "— (withdrawn 2026-06-15 10:00)" in table.stdout


@pytest.mark.parametrize(
    ("email", "number", "key", "value"),
    [
        (BROWN_PI, "L-2025-Brown", "withdrawn_reason", "the PI moved labs"),
        (IPGP_PI, "L-2025-IPGP", "returned_at", "2025-10-08T10:00:00Z"),
    ],
)
def test_a_researchers_own_login_reads_it_of_their_loan(
    pg_server: PgServer, secured: str, email: str, number: str, key: str, value: str
) -> None:
    rows = _rows(_cli(_login(pg_server, secured, email), "loans", "list", "--json"))
    assert list(rows) == [number]
    assert rows[number][key] == value
