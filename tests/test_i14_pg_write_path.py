"""The PostgreSQL write path's round trips (issue 14, Performance): the writers' lock, the chain
head and the last rows with the COMMIT in pipelines, the acting person read with their
institution, and what a command found missing not read again; the rules and the chain exactly
as before. Also: row-level security keeps the researcher's reads on indexes.
On a throwaway PostgreSQL 15 cluster (skipped with the reason where there is none)."""

import os
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.exc import IntegrityError
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.models import Institution
from sampleloans.services.reference import add_institution
from sampleloans.services.verify import verify
from tests.conftest import CURATOR, ctx_for
from tests.pgcluster import PgServer

LEDGER_ID = "0d9ba0c2-5b8e-4a57-9d0e-6a1f0e3c1a2b"
DEMO_AT = "2025-04-01T09:00:00Z"
NOW = "2026-04-28T09:00:00Z"
LATER = datetime(2026, 4, 28, 9, 0, tzinfo=UTC)
RESEARCHER = "moynier@ipgp.example"  # IPGP, loan L-2025-IPGP
PASSWORD = "index-check"


def _institution_args(short: str) -> list[str]:
    return [
        "--as", CURATOR, "institutions", "add", short, "--name", f"Lab {short}",
        "--country", "CN", "--city", "Beijing", "--kind", "borrower",
    ]  # fmt: skip


def test_a_write_command_reads_the_head_once_and_each_row_once(
    demo_url: str, statements: list[str]
) -> None:
    """`institutions add` through the CLI: the head comes with the lock (no second head query),
    the new short name is looked up once (apply does not read it again), and the chain and
    every rule still hold (`verify`)."""
    result = CliRunner().invoke(
        app, ["--db", demo_url, *_institution_args("PIPE")], env={"SAMPLELOANS_NOW": NOW}
    )
    assert result.exit_code == 0, result.stderr
    # the lock and the head go in one pipeline on the driver's connection, not through here
    assert not any("max(ledger_event.seq)" in s for s in statements)  # no second head query
    by_name = [s for s in statements if s.startswith("SELECT institution.")]
    assert sum("lower(" not in s for s in by_name) == 1  # by its key once: not again in apply
    assert sum("lower(" in s for s in by_name) == 1  # and the one case-twin check
    people = [s for s in statements if s.startswith("SELECT person.")]
    assert len(people) == 1 and "LEFT OUTER JOIN institution" in people[0]
    # the rows go on the driver's own cursor in the COMMIT's pipeline, not through here
    assert not any(s.startswith("INSERT INTO ledger_event") for s in statements)
    engine = db.open_engine(demo_url)
    try:
        with db.transaction(engine, write=False) as session:
            assert session.get(Institution, "PIPE") is not None
            recorded = session.connection().exec_driver_sql(
                "SELECT count(*) FROM ledger_event WHERE position('\"PIPE\"' in payload) > 0"
            )
            assert recorded.scalar() == 1
        assert verify(engine).problems == []
    finally:
        engine.dispose()


def test_two_appends_in_one_transaction_chain_in_order(demo_url: str) -> None:
    """Rows left for the COMMIT are written before any later statement (even one sent with
    `exec_driver_sql`): a second append in the same transaction links to the first, and the
    session reads what the first wrote."""
    engine = db.open_engine(demo_url)
    try:
        with db.transaction(engine) as session:
            first = add_institution(
                session, ctx_for(now=LATER), short_name="TWO-A", name="Lab A", country="CN",
                city="Beijing", institution_kind="borrower",
            )  # fmt: skip
            # the first statement after the append, at the driver's level: the rows come first
            count = "SELECT count(*) FROM institution WHERE short_name = 'TWO-A'"
            assert session.connection().exec_driver_sql(count).scalar() == 1
            assert session.get(Institution, "TWO-A") is not None
            second = add_institution(
                session, ctx_for(now=LATER), short_name="TWO-B", name="Lab B", country="CN",
                city="Beijing", institution_kind="borrower",
            )  # fmt: skip
        assert second.seq == first.seq + 1
        assert verify(engine).problems == []
    finally:
        engine.dispose()


def test_a_refusal_at_the_pipelined_commit_writes_nothing(demo_url: str) -> None:
    """A row that another client slipped in (without the writers' lock) makes the server refuse
    the pipelined INSERTs at COMMIT: SQLAlchemy's IntegrityError, as at a flush before, and
    nothing of the transaction is written."""
    engine = db.open_engine(demo_url)
    with psycopg.connect(demo_url) as other:
        events = other.execute("SELECT count(*) FROM ledger_event").fetchone()
    try:
        with pytest.raises(IntegrityError), db.transaction(engine) as session:
            add_institution(
                session, ctx_for(now=LATER), short_name="RACE", name="Lab R", country="CN",
                city="Beijing", institution_kind="borrower",
            )  # fmt: skip
            with psycopg.connect(demo_url, autocommit=True) as other:
                other.execute(
                    "INSERT INTO institution (short_name, name, country, city, kind) "
                    "VALUES ('RACE', 'Other', 'CN', 'Beijing', 'borrower')"
                )
    finally:
        engine.dispose()
    with psycopg.connect(demo_url) as other:
        assert other.execute("SELECT count(*) FROM ledger_event").fetchone() == events
        kept = other.execute("SELECT name FROM institution WHERE short_name = 'RACE'").fetchall()
    assert kept == [("Other",)]


@pytest.fixture
def secured_url(pg_server: PgServer, demo_url: str) -> str:
    """The demo ledger secured with `db secure`; the researcher's own login URL."""
    result = CliRunner().invoke(app, ["--db", demo_url, "--as", CURATOR, "db", "secure"])
    assert result.exit_code == 0, result.stderr
    with psycopg.connect(demo_url, autocommit=True) as connection:
        connection.execute(
            sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                sql.Identifier(RESEARCHER), sql.Literal(PASSWORD)
            )
        )
    database = str(psycopg.conninfo.conninfo_to_dict(demo_url)["dbname"])
    return PgServer(pg_server.host, pg_server.port, RESEARCHER, PASSWORD).url(database)


@pytest.mark.parametrize(
    "query",
    [
        "SELECT * FROM loan WHERE number = 'L-2025-IPGP'",
        "SELECT * FROM loan_item WHERE loan_number = 'L-2025-IPGP'",
        "SELECT * FROM incident WHERE loan_number = 'L-2025-IPGP' AND status = 'open'",
        "SELECT * FROM shipment WHERE loan_number = 'L-2025-IPGP'",
        "SELECT seq FROM event_subject WHERE subject_type = 'loan' AND subject_key = 'L-2025-IPGP'",
    ],
)
def test_row_level_security_keeps_a_researchers_reads_on_indexes(
    secured_url: str, query: str
) -> None:
    """The researcher's policies leave the index usable (the policy is a filter on the rows
    the index finds), so `status` stays flat as the ledger grows: with sequential scans
    discouraged, the plan uses an index, and the rows are the researcher's own."""
    with psycopg.connect(secured_url) as connection:
        connection.execute("SET enable_seqscan = off")
        plan = "\n".join(str(row[0]) for row in connection.execute(f"EXPLAIN {query}"))
        rows = connection.execute(query).fetchall()
    assert "Seq Scan" not in plan, plan
    assert "Index" in plan, plan
    if query.startswith("SELECT * FROM loan "):
        assert len(rows) == 1


def test_rls_status_through_the_cli_as_the_researcher(secured_url: str) -> None:
    """`status --loan` with the researcher's own login answers for their loan and refuses
    another institution's as missing (exit 2), through row-level security."""
    env = {"SAMPLELOANS_NOW": NOW, "COLUMNS": "200"}
    own = CliRunner().invoke(app, ["--db", secured_url, "status", "--loan", "L-2025-IPGP"], env=env)
    assert own.exit_code == 0, own.stderr
    assert "L-2025-IPGP" in own.stdout
    foreign = CliRunner().invoke(
        app, ["--db", secured_url, "status", "--loan", "L-2025-OU"], env=env
    )
    assert foreign.exit_code == 2, foreign.stdout
    assert foreign.stderr.startswith("Error: ")


def test_bench_loader_copies_a_ledger_that_verifies(tmp_path: Any, pg_server: PgServer) -> None:
    """bench/pg_rls.py's COPY loader (used for the 1M-event row): the copied ledger verifies
    on PostgreSQL with the head of the SQLite file."""
    from bench.pg_rls import load_ledger

    demo = CliRunner().invoke(
        app,
        ["demo", "--dir", str(tmp_path), "--ledger-id", LEDGER_ID],
        env={"SAMPLELOANS_NOW": DEMO_AT},
    )
    assert demo.exit_code == 0, demo.stderr
    name = f"sampleloans_loader_{os.getpid()}"
    pg_server.admin(f"DROP DATABASE IF EXISTS {name}")
    pg_server.admin(f"CREATE DATABASE {name} TEMPLATE template0")
    url = pg_server.url(name)
    assert load_ledger(tmp_path / "ledger.db", url) == db.file_head(tmp_path / "ledger.db")[0]
    engine = db.open_engine(url)
    try:
        found = verify(engine)
    finally:
        engine.dispose()
        pg_server.admin(f"DROP DATABASE IF EXISTS {name}")
    assert found.problems == []


def test_a_row_inserted_by_one_event_is_found_by_the_next_in_the_same_transaction(
    pg_url: str,
) -> None:
    """The keys a command found missing are handed to its own event's unit once: the next
    event of the same transaction finds the row the first one inserted (it was refused as
    "does not exist" when the missing keys outlived the unit that inserted them)."""
    from sampleloans.services.reference import add_person, deactivate_person

    made = CliRunner().invoke(
        app, ["--db", pg_url, "demo", "--ledger-id", LEDGER_ID], env={"SAMPLELOANS_NOW": DEMO_AT}
    )
    assert made.exit_code == 0, made.stderr
    engine = db.open_engine(pg_url)
    try:
        with db.transaction(engine) as session:
            ctx = ctx_for(now=LATER)
            add_institution(session, ctx, short_name="ABS-A", name="Lab A", country="CN",
                            city="Beijing", institution_kind="curator")  # fmt: skip
            add_person(session, ctx, email="new@absa.example", name="New Person",
                       institution="ABS-A", role="curator")  # fmt: skip
            deactivate_person(session, ctx, email="new@absa.example", reason="left")
        assert verify(engine).problems == []
    finally:
        engine.dispose()
