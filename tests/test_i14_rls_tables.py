"""Issue 14 points 3 and 5 at the database level, table by table: connected with a
researcher's own login through psycopg (what `psql` does), every table shows only their
institution's rows, and INSERT, UPDATE, DELETE and TRUNCATE on the events and projections are
refused; what their own projection rows allow is caught by `verify`. On the demo ledger,
secured with `db secure`, on a throwaway PostgreSQL 15 cluster."""

import os
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from sqlmodel import SQLModel
from typer.testing import CliRunner

import sampleloans.models
from sampleloans import pgsecurity
from sampleloans.cli import app
from tests.pgcluster import PgServer

CURATOR = "curator@naoc.example"
RESEARCHER = "moynier@ipgp.example"  # IPGP
INSTITUTION = "IPGP"
PASSWORD = "s3cret-login"  # as tests/test_i14_logins.py: login roles are cluster-wide
LEDGER_ID = "0d9ba0c2-5b8e-4a57-9d0e-6a1f0e3c1a2b"

MY_EVENTS = (
    "SELECT s.seq FROM event_subject s JOIN loan l ON l.number = s.subject_key "
    "WHERE s.subject_type = 'loan' AND l.institution = %(me)s "
    "UNION (SELECT s.seq FROM event_subject s JOIN sample x ON x.code = s.subject_key "
    "JOIN loan l ON l.number = x.loan_number "
    "WHERE s.subject_type = 'sample' AND l.institution = %(me)s "
    "UNION SELECT s.seq FROM event_subject s "
    "WHERE s.subject_type = 'institution' AND s.subject_key = %(me)s "
    "EXCEPT SELECT s.seq FROM event_subject s JOIN loan l ON l.number = s.subject_key "
    "WHERE s.subject_type = 'loan' AND l.institution <> %(me)s)"
)
"""The events a researcher reads: about their loans; or about their institution or a sample on
their loans and naming no other institution's loan (what `custody history` shows on SQLite)."""

# How each table's rows belong to an institution, as the superuser computes it: the set of
# keys the researcher may see (a query over the whole table, run as the superuser)
MINE = {
    "loan": "SELECT number FROM loan WHERE institution = %(me)s",
    **{
        table: f"SELECT loan_number FROM {table} WHERE loan_number IN "
        "(SELECT number FROM loan WHERE institution = %(me)s)"
        for table in pgsecurity.LOAN_SCOPED_TABLES
    },
    "sample": "SELECT code FROM sample WHERE loan_number IN "
    "(SELECT number FROM loan WHERE institution = %(me)s)",
    "person": "SELECT email FROM person WHERE institution = %(me)s "
    "OR role IN ('curator', 'compliance_officer')",
    "agreement": "SELECT number FROM agreement WHERE institution = %(me)s",
    "ledger_event": f"SELECT seq::text FROM ledger_event WHERE seq IN ({MY_EVENTS})",
    "event_subject": f"SELECT seq::text FROM event_subject WHERE seq IN ({MY_EVENTS})",
    "note": f"SELECT seq::text FROM note WHERE seq IN ({MY_EVENTS})",
    "notification_sent": "SELECT id::text FROM notification_sent WHERE false",
}
"""The researcher's own rows of each scoped table (keys the researcher's query returns too)."""
KEYS = {
    **{table: "loan_number" for table in pgsecurity.LOAN_SCOPED_TABLES},
    "event_subject": "seq::text",
    "notification_sent": "id::text",
    "loan": "number",
    "sample": "code",
    "person": "email",
    "agreement": "number",
    "ledger_event": "seq::text",
    "note": "seq::text",
}
PROJECTIONS = [str(model.__tablename__) for model in sampleloans.models.PROJECTION_TABLES]


@pytest.fixture(scope="module")
def secured(pg_server: PgServer) -> Iterator[str]:
    """The demo ledger (several institutions' loans), secured; the researcher has a password."""
    name = f"sampleloans_rls_{os.getpid()}"
    pg_server.admin(f"CREATE DATABASE {name} TEMPLATE template0")
    url = pg_server.url(name)
    runner = CliRunner()
    env = {"SAMPLELOANS_NOW": "2025-04-01T09:00:00Z", "COLUMNS": "200"}
    demo = runner.invoke(app, ["--db", url, "demo", "--ledger-id", LEDGER_ID], env=env)
    assert demo.exit_code == 0, demo.stdout[-2000:] + demo.stderr
    done = runner.invoke(app, ["--db", url, "--as", CURATOR, "db", "secure"], env=env)
    assert done.exit_code == 0, done.stderr
    for email in (RESEARCHER, CURATOR):
        pg_server.admin(
            sql.SQL("ALTER ROLE {} PASSWORD {}")
            .format(sql.Identifier(email), sql.Literal(PASSWORD))
            .as_string(None)
        )
    try:
        yield name
    finally:
        pg_server.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _login(server: PgServer, database: str, email: str = RESEARCHER) -> str:
    return PgServer(server.host, server.port, email, PASSWORD).url(database)


def _tables(server: PgServer, database: str) -> list[str]:
    with psycopg.connect(server.url(database)) as connection:
        rows = connection.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
        ).fetchall()
    return [str(row[0]) for row in rows]


def test_every_table_is_scoped_or_shared(pg_server: PgServer, secured: str) -> None:
    """Every table of the ledger is either scoped to an institution or shared reference data:
    a new table cannot escape this test."""
    tables = set(_tables(pg_server, secured))
    assert tables == set(MINE) | set(pgsecurity.SHARED_TABLES)
    assert tables >= {str(table.name) for table in SQLModel.metadata.sorted_tables}


@pytest.mark.parametrize("table", sorted(MINE))
def test_a_researchers_login_sees_only_their_institutions_rows(
    pg_server: PgServer, secured: str, table: str
) -> None:
    """SELECT * as the researcher returns exactly the rows of their institution (the same
    rows the superuser finds for it), and other institutions' rows do exist."""
    key = KEYS[table]
    with psycopg.connect(pg_server.url(secured)) as admin:
        everything = {row[0] for row in admin.execute(f"SELECT {key} FROM {table}")}
        mine = {row[0] for row in admin.execute(MINE[table], {"me": INSTITUTION})}
    with psycopg.connect(_login(pg_server, secured)) as connection:
        seen = {row[0] for row in connection.execute(f"SELECT {key} FROM {table}")}
    assert seen == mine, table
    if table in {"loan", "loan_item", "sample", "person", "agreement", "ledger_event"}:
        assert everything - mine, f"{table}: the demo has other institutions' rows"


@pytest.mark.parametrize("table", sorted(pgsecurity.SHARED_TABLES))
def test_shared_tables_show_every_row(pg_server: PgServer, secured: str, table: str) -> None:
    """Reference data is everyone's: the researcher sees what the superuser sees."""
    query = f"SELECT count(*) FROM {table}"
    with psycopg.connect(pg_server.url(secured)) as admin:
        total = admin.execute(query).fetchone()
    with psycopg.connect(_login(pg_server, secured)) as connection:
        assert connection.execute(query).fetchone() == total


def _refused(server: PgServer, database: str, statement: str) -> str:
    """Run one statement as the researcher; the error class name (it must fail)."""
    with psycopg.connect(_login(server, database)) as connection:
        try:
            connection.execute(statement)
        except psycopg.Error as exc:
            return type(exc).__name__
        rows = connection.execute("SELECT 1").fetchall()
    raise AssertionError(f"not refused: {statement} ({rows})")


@pytest.mark.parametrize("table", sorted(set(_ for _ in MINE) | set(pgsecurity.SHARED_TABLES)))
def test_delete_and_truncate_are_refused_on_every_table(
    pg_server: PgServer, secured: str, table: str
) -> None:
    """No login of a researcher may DELETE or TRUNCATE any table."""
    for statement in (f"DELETE FROM {table}", f"TRUNCATE {table}"):
        assert _refused(pg_server, secured, statement) == "InsufficientPrivilege", statement


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_event SET actor = 'x'",
        "UPDATE event_subject SET subject_key = 'x'",
        "UPDATE ledger_meta SET value = 'x'",
        "INSERT INTO ledger_meta (key, value) VALUES ('x', 'y')",
        "UPDATE person SET institution = 'NAOC' WHERE email = 'moynier@ipgp.example'",
        "UPDATE person SET role = 'curator' WHERE email = 'moynier@ipgp.example'",
        "INSERT INTO person (email, name, institution, role, active) "
        "VALUES ('x@ipgp.example', 'X', 'IPGP', 'curator', true)",
        "UPDATE agreement SET max_total_mass_ug = 1",
        "UPDATE institution SET kind = 'curator'",
        "INSERT INTO checkpoint (tree_size, note, public_key, frontier, created_at) "
        "VALUES (1, 'n', 'k', '[]', 'now')",
        "ALTER TABLE loan DISABLE ROW LEVEL SECURITY",
        "ALTER TABLE ledger_event DISABLE TRIGGER ALL",
    ],
)
def test_a_researcher_cannot_rewrite_or_unprotect(
    pg_server: PgServer, secured: str, statement: str
) -> None:
    """Events are never updated; people, agreements, institutions, checkpoints and the
    metadata are not the researcher's to write; nothing can be unprotected."""
    assert _refused(pg_server, secured, statement) == "InsufficientPrivilege"


def test_an_event_in_someone_elses_name_is_refused(pg_server: PgServer, secured: str) -> None:
    """INSERT of an event whose actor is not the login: refused (row-level security's check)."""
    statement = (
        "INSERT INTO ledger_event (seq, kind, payload, occurred_at, recorded_at, actor, "
        "os_user, prev_hash, hash) VALUES (100000, 'note', '{}', 'x', now()::text, "
        f"'{CURATOR}', 'x', repeat('1', 64), repeat('0', 64))"
    )
    assert _refused(pg_server, secured, statement) == "InsufficientPrivilege"


@pytest.mark.parametrize("table", sorted(MINE))
def test_an_update_of_every_row_reaches_only_their_own(
    pg_server: PgServer, secured: str, table: str
) -> None:
    """`UPDATE table SET … RETURNING` as the researcher: only their own rows are reached (or
    the UPDATE is refused outright); rolled back."""
    key = KEYS[table]
    with psycopg.connect(pg_server.url(secured)) as admin:
        mine = {row[0] for row in admin.execute(MINE[table], {"me": INSTITUTION})}
        column = admin.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
            "ORDER BY ordinal_position LIMIT 1",
            (table,),
        ).fetchone()
    assert column is not None
    statement = sql.SQL("UPDATE {t} SET {c} = {c} RETURNING {k}").format(
        t=sql.Identifier(table), c=sql.Identifier(str(column[0])), k=sql.SQL(key)
    )
    with psycopg.connect(_login(pg_server, secured)) as connection:
        try:
            reached = {row[0] for row in connection.execute(statement)}
        except psycopg.errors.InsufficientPrivilege:
            reached = set()
        connection.rollback()
    assert reached <= mine, table


@pytest.mark.parametrize(
    ("table", "changes"),
    [
        ("loan", '{"number": "L-X", "institution": "OU"}'),
        ("sample", '{"code": "CE5X", "loan_number": "L-2025-OU"}'),
        ("loan_item", '{"loan_number": "L-2025-OU", "sample_code": "CE5X"}'),
    ],
)
def test_another_institutions_row_cannot_be_inserted(
    pg_server: PgServer, secured: str, table: str, changes: str
) -> None:
    """A copy of one of the researcher's own rows, claimed for another institution's loan:
    refused by row-level security's check."""
    statement = (
        f"INSERT INTO {table} SELECT * FROM jsonb_populate_record(NULL::{table}, "
        f"(SELECT to_jsonb(t) || '{changes}'::jsonb FROM {table} t LIMIT 1))"
    )
    assert _refused(pg_server, secured, statement) == "InsufficientPrivilege"


def test_tampering_with_own_projection_rows_is_caught_by_verify(
    pg_server: PgServer, pg_url: str
) -> None:
    """The researcher's login may no longer update their own loans' projection rows directly
    (column grants and the guard trigger, revision 0005: tests/test_i14_researcher_writes.py);
    the change a researcher can still force, with a forged event of their own in the same
    transaction, is named by `verify` (the event's hash, and its replay). Separate database: this
    one is changed."""
    name = pg_url.rsplit("/", 1)[1]
    runner = CliRunner()
    env = {"SAMPLELOANS_NOW": "2025-04-01T09:00:00Z", "COLUMNS": "200"}
    demo = runner.invoke(app, ["--db", pg_url, "demo", "--ledger-id", LEDGER_ID], env=env)
    assert demo.exit_code == 0, demo.stderr
    assert runner.invoke(app, ["--db", pg_url, "--as", CURATOR, "db", "secure"]).exit_code == 0
    for email in (RESEARCHER, CURATOR):
        pg_server.admin(
            sql.SQL("ALTER ROLE {} PASSWORD {}")
            .format(sql.Identifier(email), sql.Literal(PASSWORD))
            .as_string(None)
        )
    with (
        psycopg.connect(_login(pg_server, name)) as connection,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        connection.execute("UPDATE loan SET obligations = 'tampered' WHERE institution = 'IPGP'")
    stamp = "to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
    with psycopg.connect(_login(pg_server, name)) as connection:
        connection.execute(
            "INSERT INTO ledger_event (seq, kind, payload, occurred_at, recorded_at, actor, "
            "os_user, prev_hash, hash) SELECT h.seq + 1, 'loan.inventory', "
            '\'{"held":[],"note":null,"number":"L-2025-IPGP"}\', '
            f"{stamp}, "
            f"{stamp}, session_user, 'psql', h.hash, repeat('e', 64) "
            "FROM sampleloans_chain_head() h"
        )
        changed = connection.execute(
            "UPDATE loan SET last_inventory_at = '2099-01-01T00:00:00Z' WHERE institution = 'IPGP'"
        ).rowcount
    assert changed > 0
    found = runner.invoke(app, ["--db", _login(pg_server, name, CURATOR), "verify"])
    assert found.exit_code == 1, found.stdout
    # the forged event is named (its hash; IPGP's loan is closed, so it cannot be replayed)
    assert "(loan.inventory) does not match its hash" in found.stdout, found.stdout
    assert "cannot be replayed: loan L-2025-IPGP is closed" in found.stdout, found.stdout
