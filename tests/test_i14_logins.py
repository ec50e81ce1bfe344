"""People who log in to a secured PostgreSQL ledger (issue 14, points 4, 5 and 8): the opt-in
hardening (`db secure`), the actor checked against the login, row-level security for
researchers, and `verify` reporting every missing defence. On a throwaway PostgreSQL 15."""

import os
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.pgcluster import PgServer

CURATOR = "curator@naoc.example"
RESEARCHER = "moynier@ipgp.example"  # IPGP
FOREIGN_RESEARCHER = "anand@open.example"  # OU
PASSWORD = "s3cret-login"
LEDGER_ID = "0d9ba0c2-5b8e-4a57-9d0e-6a1f0e3c1a2b"


def _login_url(server: PgServer, database: str, email: str, password: str = PASSWORD) -> str:
    """The URL a person connects with: their e-mail is the role name (percent-encoded)."""
    return PgServer(server.host, server.port, email, password).url(database)


@pytest.fixture(scope="module")
def secured(pg_server: PgServer) -> Iterator[str]:
    """The demo ledger on PostgreSQL, secured with `db secure`, two people given passwords;
    the database's name. Shared by the module's tests (they only read or are refused)."""
    name = f"sampleloans_logins_{os.getpid()}"
    pg_server.admin(f"CREATE DATABASE {name} TEMPLATE template0")
    admin_url = pg_server.url(name)
    runner = CliRunner()
    env = {"SAMPLELOANS_NOW": "2025-04-01T09:00:00Z", "COLUMNS": "200"}
    demo = runner.invoke(app, ["--db", admin_url, "demo", "--ledger-id", LEDGER_ID], env=env)
    assert demo.exit_code == 0, demo.stdout[-2000:] + demo.stderr
    done = runner.invoke(app, ["--db", admin_url, "db", "secure"], env=env)
    assert done.exit_code == 0, done.stderr
    assert f"login role {RESEARCHER}" in done.stdout
    for email in (CURATOR, RESEARCHER, FOREIGN_RESEARCHER):
        pg_server.admin(
            sql.SQL("ALTER ROLE {} PASSWORD {}")
            .format(sql.Identifier(email), sql.Literal(PASSWORD))
            .as_string(None)
        )
    try:
        yield name
    finally:
        pg_server.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _rows(url: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as connection:
        return list(connection.execute(query).fetchall())  # type: ignore[arg-type]


def test_a_researcher_sees_only_their_institution(pg_server: PgServer, secured: str) -> None:
    """As with psql: the researcher's own connection shows IPGP's loans and nothing else;
    the superuser sees that other institutions' rows exist."""
    admin = pg_server.url(secured)
    mine = _login_url(pg_server, secured, RESEARCHER)
    all_institutions = {row[0] for row in _rows(admin, "SELECT institution FROM loan")}
    assert len(all_institutions) > 1
    assert {row[0] for row in _rows(mine, "SELECT institution FROM loan")} == {"IPGP"}
    ipgp_loans = {row[0] for row in _rows(admin, "SELECT number FROM loan WHERE institution = 'IPGP'")}
    for table in ("loan_item", "shipment", "weighing", "consumption", "incident", "inventory"):
        seen = {row[0] for row in _rows(mine, f"SELECT loan_number FROM {table}")}
        assert seen <= ipgp_loans, table
    total = _rows(admin, "SELECT count(*) FROM ledger_event")[0][0]
    events = [row[0] for row in _rows(mine, "SELECT seq FROM ledger_event")]
    assert 0 < len(events) < int(total)  # type: ignore[call-overload]
    foreign = _rows(
        mine,
        "SELECT count(*) FROM event_subject WHERE subject_type = 'loan' "
        "AND subject_key NOT IN (SELECT number FROM loan)",
    )
    assert foreign == [(0,)]


def test_a_curator_sees_every_loan(pg_server: PgServer, secured: str) -> None:
    """Curators are not scoped: their login sees every row the superuser sees."""
    admin = _rows(pg_server.url(secured), "SELECT count(*) FROM loan")
    assert _rows(_login_url(pg_server, secured, CURATOR), "SELECT count(*) FROM loan") == admin


def test_a_wrong_password_is_refused(pg_server: PgServer, secured: str) -> None:
    """scram-sha-256 refuses a person's login with a wrong password."""
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(_login_url(pg_server, secured, RESEARCHER, "wrong"))


@pytest.mark.parametrize(
    ("statement", "refusal"),
    [
        ("UPDATE ledger_event SET actor = 'x' WHERE seq = 1", "permission denied"),
        ("DELETE FROM ledger_event WHERE seq = 1", "permission denied"),
        ("TRUNCATE ledger_event", "permission denied"),
        ("ALTER TABLE ledger_event DISABLE TRIGGER ALL", "must be owner"),
        ("UPDATE ledger_meta SET value = 'x'", "permission denied"),
        ("DELETE FROM loan", "permission denied"),
    ],
)
def test_a_curator_login_cannot_change_history(
    pg_server: PgServer, secured: str, statement: str, refusal: str
) -> None:
    """At the database level, a curator's own login may not rewrite, empty or unprotect."""
    with psycopg.connect(_login_url(pg_server, secured, CURATOR)) as connection:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match=refusal):
            connection.execute(statement)  # type: ignore[arg-type]


def test_an_actor_that_is_not_the_login_is_refused(pg_server: PgServer, secured: str) -> None:
    """The trigger refuses an event whose actor is not the login that inserts it."""
    with psycopg.connect(_login_url(pg_server, secured, CURATOR)) as connection:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="is not the login"):
            connection.execute(
                "INSERT INTO ledger_event (seq, kind, payload, occurred_at, recorded_at, actor, "
                "os_user, prev_hash, hash) SELECT max(seq) + 1, 'note', '{}', 'x', 'x', "
                "'compliance@naoc.example', 'x', 'x', repeat('0', 64) FROM ledger_event"
            )


GROUPS = ("sampleloans_curator", "sampleloans_compliance", "sampleloans_researcher")


@pytest.mark.parametrize("group", GROUPS)
def test_role_table_privilege_matrix(pg_server: PgServer, secured: str, group: str) -> None:
    """Every group: SELECT on every table, INSERT only (never UPDATE/DELETE/TRUNCATE) on the
    events, nothing but SELECT on the metadata, no DELETE/TRUNCATE anywhere; tables owned
    by a role that cannot log in."""
    admin = pg_server.url(secured)
    tables = [row[0] for row in _rows(admin, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
    granted: dict[str, set[str]] = {}
    for table in tables:
        granted[str(table)] = {
            verb
            for verb in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE")
            if _rows(admin, f"SELECT has_table_privilege('{group}', '{table}', '{verb}')")[0][0]
        }
    assert all("SELECT" in verbs for verbs in granted.values())
    assert granted["ledger_event"] == {"SELECT", "INSERT"}
    assert granted["event_subject"] == {"SELECT", "INSERT"}
    assert granted["ledger_meta"] == {"SELECT"}
    assert granted["loan"] == {"SELECT", "INSERT", "UPDATE"}
    assert not any(verbs & {"DELETE", "TRUNCATE"} for verbs in granted.values())
    owners = _rows(
        admin,
        "SELECT DISTINCT r.rolname, r.rolcanlogin FROM pg_tables t "
        "JOIN pg_roles r ON r.rolname = t.tableowner WHERE t.schemaname = 'public'",
    )
    assert owners == [("sampleloans_owner", False)]


def test_verify_is_clean_on_a_secured_ledger(pg_server: PgServer, secured: str) -> None:
    """`verify` as the DBA: no defence is missing."""
    result = CliRunner().invoke(
        app, ["--db", pg_server.url(secured), "--as", "compliance@naoc.example", "verify"]
    )
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "defence" not in result.stdout
