"""Sweep s23 (trust): a researcher's own `report statement` on a secured PostgreSQL ledger.

The "later events" note (events after the statement's checkpoint about its loans) reads
`event_subject`, which row-level security narrows for a researcher's own login. Checked: it cannot
be wrong there, because a researcher's login never builds a statement on a checkpoint older than
the head (it would have to replay events it cannot see): that is refused in one line, and on a
checkpoint at the head nothing came later. Nothing of another institution's later event shows.
"""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from psycopg import sql
from typer.testing import CliRunner, Result

from sampleloans.cli import app
from tests.pgcluster import PgServer

CURATOR = "curator@naoc.example"
OU_PI = "anand@open.example"
PASSWORD = "s3cret-login"
LEDGER_ID = "5d9ba0c2-5b8e-4a57-9d0e-6a1f0e3c1a2c"
NOW = "2026-05-01T10:00:00Z"


def _login(server: PgServer, database: str, email: str) -> str:
    """The URL a person connects with (their e-mail is the role name)."""
    return PgServer(server.host, server.port, email, PASSWORD).url(database)


def _run(url: str, email: str, *args: str) -> Result:
    """One CLI command as `email` on `url`, at NOW."""
    env = {"SAMPLELOANS_NOW": NOW, "COLUMNS": "200"}
    return CliRunner().invoke(app, ["--db", url, "--as", email, *args], env=env)


@pytest.fixture(scope="module")
def secured(pg_server: PgServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The demo on PostgreSQL, secured, a checkpoint of its head, then a curator's extension
    consumption on OU's loan and one on Osaka's; the database's name (PostgreSQL records
    the server's clock)."""
    name = f"sampleloans_s23trust_{os.getpid()}"
    pg_server.admin(f"CREATE DATABASE {name} TEMPLATE template0")
    admin = pg_server.url(name)
    folder = tmp_path_factory.mktemp("s23trust")
    try:
        demo = CliRunner().invoke(app, ["--db", admin, "demo", "--ledger-id", LEDGER_ID])
        assert demo.exit_code == 0, demo.stderr
        assert _run(admin, CURATOR, "db", "secure").exit_code == 0
        for email in (CURATOR, OU_PI):
            pg_server.admin(
                sql.SQL("ALTER ROLE {} PASSWORD {}")
                .format(sql.Identifier(email), sql.Literal(PASSWORD))
                .as_string(None)
            )
        curator = _login(pg_server, name, CURATOR)
        key = str(folder / "cp.key")
        assert _run(curator, CURATOR, "keys", "generate", "--out", key).exit_code == 0
        made = _run(curator, CURATOR, "checkpoint", "--key", key)
        assert made.exit_code == 0, made.stderr
        consume = ["loans", "consume", "L-2025-OU", "--sample", "CE5C0300YJFM00307"]
        done = _run(curator, CURATOR, *consume, "--technique", "EPMA", "--mass", "1mg",
                    "--destructive")  # fmt: skip
        assert done.exit_code == 0, done.stderr
        osaka = ["loans", "consume", "L-2025-Osaka", "--sample", "CE5C0100YJFM00201-02"]
        done = _run(curator, CURATOR, *osaka, "--technique", "SIMS", "--mass", "1mg",
                    "--destructive")  # fmt: skip
        assert done.exit_code == 0, done.stderr
        yield name
    finally:
        pg_server.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_a_researchers_own_statement_is_never_built_without_the_later_events_it_hides(
    pg_server: PgServer, secured: str, tmp_path: Path
) -> None:
    """Their own login cannot replay the ledger back to an older checkpoint (row-level security
    hides the other institutions' events), so no statement is built on one, and so no note can
    miss a later event: exit 4, one line saying who can run it, nothing written, and nothing
    of Osaka's event named. Once a curator signs a checkpoint at the head, their statement is
    built on it and has no note (nothing came after it)."""
    mine = _login(pg_server, secured, OU_PI)
    out = tmp_path / "st"
    done = _run(mine, OU_PI, "report", "statement", "--pi", OU_PI, "--out", str(out))
    assert done.exit_code == 4, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "a curator or compliance officer can run it for you" in done.stderr
    assert "Osaka" not in done.stderr and not out.exists()
    curator = _login(pg_server, secured, CURATOR)
    key = str(tmp_path / "head.key")
    assert _run(curator, CURATOR, "keys", "generate", "--out", key).exit_code == 0
    assert _run(curator, CURATOR, "checkpoint", "--key", key).exit_code == 0
    done = _run(mine, OU_PI, "report", "statement", "--pi", OU_PI, "--out", str(out))
    assert done.exit_code == 0, done.stderr
    assert "Note:" not in done.stderr
    assert [p.name for p in out.iterdir()] == ["statement-anand-at-open.example.pdf"]
