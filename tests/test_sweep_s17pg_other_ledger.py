"""Sweep s17, two secured ledgers on one PostgreSQL server (roles are cluster-wide).

Li Na is the curator of ledger A alone. With her login she connected with psql to ledger B, where
she is no person at all: `SELECT * FROM loan` listed every loan of B, `SELECT * FROM person`
every person, and `UPDATE loan SET due_at = …` changed B's loan (the curators' group policy let
any member see and change every row). The `sampleloans` CLI already refused her ('not a
registered person', exit 4). Now the staff policy also asks that the login be a curator or
compliance officer of this ledger: in B she sees no row and changes none."""

from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.pgcluster import PgServer, fresh_database

OTHER_CURATOR = "li.other@naoc.example"
PASSWORD = "s17-other"


@pytest.fixture
def ledger_a(pg_server: PgServer) -> Iterator[str]:
    """Ledger A: a new ledger whose only curator is OTHER_CURATOR, secured, her password set."""
    with fresh_database(pg_server) as url:
        made = CliRunner().invoke(
            app,
            ["--db", url, "init", "--curator-email", OTHER_CURATOR, "--curator-name", "Li Other"],
        )
        assert made.exit_code == 0, made.stderr
        secured = CliRunner().invoke(app, ["--db", url, "--as", OTHER_CURATOR, "db", "secure"])
        assert secured.exit_code == 0, secured.stderr
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(OTHER_CURATOR), sql.Literal(PASSWORD)
                )
            )
        yield url


def test_a_curator_of_another_ledger_sees_and_changes_nothing(
    pg_server: PgServer, ledger_a: str, demo_url: str
) -> None:
    """Ledger B (the demo, secured): her psql reads no row of B's tables and updates none."""
    secured = CliRunner().invoke(
        app, ["--db", demo_url, "--as", "curator@naoc.example", "db", "secure"]
    )
    assert secured.exit_code == 0, secured.stderr
    database_b = str(psycopg.conninfo.conninfo_to_dict(demo_url)["dbname"])
    login = PgServer(pg_server.host, pg_server.port, OTHER_CURATOR, PASSWORD).url(database_b)
    with psycopg.connect(login) as connection:
        for table in ("loan", "person", "ledger_event", "sample", "agreement", "event_subject"):
            row = connection.execute(f"SELECT count(*) FROM {table}").fetchone()
            assert row == (0,), table
        changed = connection.execute(
            "UPDATE loan SET due_at = '2030-01-01T00:00:00Z' WHERE number = 'L-2025-Osaka'"
        )
        assert changed.rowcount == 0
        connection.rollback()
    # her own ledger is unchanged for her: she still reads it whole
    own = PgServer(pg_server.host, pg_server.port, OTHER_CURATOR, PASSWORD).url(
        str(psycopg.conninfo.conninfo_to_dict(ledger_a)["dbname"])
    )
    with psycopg.connect(own) as connection:
        row = connection.execute("SELECT count(*) FROM person").fetchone()
    assert row == (1,)
    listed = CliRunner().invoke(app, ["--db", own, "people", "list", "--json"])
    assert listed.exit_code == 0, listed.stderr
    assert OTHER_CURATOR in listed.stdout


def test_verify_names_a_loose_staff_policy_and_db_upgrade_narrows_it(
    pg_server: PgServer, ledger_a: str, demo_url: str
) -> None:
    """A ledger secured before revision 0008 (its staff policies `USING (true)`, revision
    0006's `sampleloans_set_login`): `verify` names the policies; the DBA's `db upgrade`
    narrows them and replaces the function, and the other ledger's curator then reads nothing
    and revokes no login."""
    curator = "curator@naoc.example"
    secured = CliRunner().invoke(app, ["--db", demo_url, "--as", curator, "db", "secure"])
    assert secured.exit_code == 0, secured.stderr
    with psycopg.connect(demo_url, autocommit=True) as connection:
        tables = [
            str(row[0])
            for row in connection.execute(
                "SELECT c.relname FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid "
                "WHERE p.polname = 'staff_all'"
            )
        ]
        assert "loan" in tables
        for table in tables:
            connection.execute(
                sql.SQL("ALTER POLICY staff_all ON {} USING (true) WITH CHECK (true)").format(
                    sql.Identifier(table)
                )
            )
        connection.execute(_revision_0006_set_login())
        connection.execute("UPDATE alembic_version SET version_num = '0007_loan_number_case'")
    checked = CliRunner().invoke(app, ["--db", demo_url, "--as", curator, "verify"])
    assert checked.exit_code == 1
    assert "the staff policy on" in checked.stdout + checked.stderr
    upgraded = CliRunner().invoke(app, ["--db", demo_url, "--as", curator, "db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.stderr
    checked = CliRunner().invoke(app, ["--db", demo_url, "--as", curator, "verify"])
    assert checked.exit_code == 0, checked.stdout + checked.stderr
    database_b = str(psycopg.conninfo.conninfo_to_dict(demo_url)["dbname"])
    login = PgServer(pg_server.host, pg_server.port, OTHER_CURATOR, PASSWORD).url(database_b)
    with psycopg.connect(login) as connection:
        assert connection.execute("SELECT count(*) FROM loan").fetchone() == (0,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            connection.execute(
                "SELECT sampleloans_set_login('terada@osaka-u.example', 'researcher', false)"
            )


def _revision_0006_set_login() -> str:
    """`sampleloans_set_login` as revision 0006 installed it (any curator-group login)."""
    import importlib

    module = importlib.import_module("sampleloans.migrations.versions.0006_definer_search_path")
    return str(module.SET_LOGIN)


def test_a_curator_of_another_ledger_cannot_revoke_a_login_here(
    pg_server: PgServer, ledger_a: str, demo_url: str
) -> None:
    """`SELECT sampleloans_set_login('terada@…', 'researcher', false)` in ledger B with the
    other ledger's curator's psql revoked Terada's login (roles are cluster-wide) with no event
    recorded anywhere; now refused, and the login stays."""
    secured = CliRunner().invoke(
        app, ["--db", demo_url, "--as", "curator@naoc.example", "db", "secure"]
    )
    assert secured.exit_code == 0, secured.stderr
    database_b = str(psycopg.conninfo.conninfo_to_dict(demo_url)["dbname"])
    login = PgServer(pg_server.host, pg_server.port, OTHER_CURATOR, PASSWORD).url(database_b)
    with psycopg.connect(login) as connection, pytest.raises(psycopg.errors.InsufficientPrivilege):
        connection.execute(
            "SELECT sampleloans_set_login('terada@osaka-u.example', 'researcher', false)"
        )
    with psycopg.connect(demo_url) as connection:
        row = connection.execute(
            "SELECT rolcanlogin FROM pg_roles WHERE rolname = 'terada@osaka-u.example'"
        ).fetchone()
    assert row == (True,)
