"""Stop 34, attack 2: a researcher's or compliance officer's own login, in psql, on the ledger's
sequences. `db secure` granted every group USAGE on them, though only curators insert the rows
that draw ids (`checkpoint`, `notification_sent`): their `nextval()` burnt the kept records' ids
(the next checkpoint was numbered 4, not 1), and `pg_sequence_last_value` told a researcher how
many notifications were sent, rows row-level security hides from them. Now the curators' group
alone has USAGE, and `verify` names any other grant on a sequence. Also: a curator's psql event
whose recorded_at is the text `now` (test_sweep_s34attack2_head_time.py for SQLite)."""

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import create_engine

from sampleloans import pgsecurity
from sampleloans.ledger import chain
from tests.pg_secured import (
    CURATOR,
    as_dba,
    cli,
    database_copy,
    secured_demo_database,
)
from tests.pgcluster import PgServer

RESEARCHER = "moynier@ipgp.example"
COMPLIANCE = "compliance@naoc.example"
OLD_EVENT_ACTOR = """CREATE OR REPLACE FUNCTION ledger_event_actor() RETURNS trigger
    LANGUAGE plpgsql AS $fn$
    BEGIN
        IF NEW.actor IS DISTINCT FROM session_user::text THEN
            RAISE EXCEPTION 'event actor % is not the login %', NEW.actor, session_user;
        END IF;
        IF NEW.recorded_at::timestamptz NOT BETWEEN transaction_timestamp()
                                            AND clock_timestamp() THEN
            RAISE EXCEPTION 'event recorded_at % is not the server''s clock', NEW.recorded_at;
        END IF;
        RETURN NEW;
    END $fn$"""
"""The clock check of the actor trigger before revision 0014 (revision 0006's, shortened)."""
PASSWORD = "s3cret-login"  # as tests/test_i14_rls_tables.py: login roles are cluster-wide
SEQUENCES = ("checkpoint_id_seq", "notification_sent_id_seq")


@pytest.fixture(scope="module")
def template(pg_server: PgServer) -> Iterator[str]:
    """The secured demo (a template database); the researcher and compliance officer log in."""
    with secured_demo_database(pg_server) as name:
        for email in (RESEARCHER, COMPLIANCE, CURATOR):
            statement = sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                sql.Identifier(email), sql.Literal(PASSWORD)
            )
            pg_server.admin(statement.as_string(None))
        yield name


def _login(server: PgServer, database: str, email: str) -> str:
    return PgServer(server.host, server.port, email, PASSWORD).url(database)


@pytest.mark.parametrize("email", [RESEARCHER, COMPLIANCE])
@pytest.mark.parametrize("sequence", SEQUENCES)
@pytest.mark.parametrize(
    "query", ["SELECT nextval(%s)", "SELECT pg_sequence_last_value(%s::regclass)"]
)
def test_a_login_that_records_no_kept_row_draws_and_reads_no_id(
    pg_server: PgServer, template: str, email: str, sequence: str, query: str
) -> None:
    """In psql, a researcher's or compliance officer's login may neither burn an id of the
    checkpoints or notifications nor read how many were drawn: the database refuses it."""
    login = _login(pg_server, template, email)
    refused = pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied")
    with psycopg.connect(login, autocommit=True) as connection, refused:
        connection.execute(query, (sequence,))


def test_a_curator_still_draws_the_next_checkpoint_id(
    pg_server: PgServer, template: str, tmp_path: Path
) -> None:
    """The curators' group keeps USAGE: their checkpoint is numbered 1 (through the CLI)."""
    with database_copy(pg_server, template, "cp") as url:
        curator = _login(pg_server, url.rsplit("/", 1)[1], CURATOR)
        key = str(tmp_path / "k")
        assert cli(curator, "keys", "generate", "--out", key).exit_code == 0
        made = cli(curator, "checkpoint", "--key", key)
        assert made.exit_code == 0, made.stderr
        assert "Checkpoint 1:" in made.stderr


def test_verify_names_a_grant_on_a_sequence_until_db_secure_runs_again(
    pg_server: PgServer, template: str
) -> None:
    """A grant on a sequence beyond the curators' USAGE (a ledger secured before this release
    has one for every group) is a finding of `verify` (CLI, exit 1) and of the defence check
    (service level), gone once `db secure` runs again."""
    with database_copy(pg_server, template, "seq") as url:
        as_dba(
            url,
            "GRANT USAGE ON SEQUENCE checkpoint_id_seq TO PUBLIC",
            "GRANT SELECT ON SEQUENCE notification_sent_id_seq TO sampleloans_researcher",
        )
        findings = [
            "PUBLIC may USAGE sequence checkpoint_id_seq: only curators draw ids (USAGE); "
            "run 'db secure' again",
            "sampleloans_researcher may SELECT sequence notification_sent_id_seq: only "
            "curators draw ids (USAGE); run 'db secure' again",
        ]
        checked = cli(url, "--as", CURATOR, "verify")
        assert checked.exit_code == 1, checked.stdout + checked.stderr
        for finding in findings:
            assert f"[defence] {finding}" in checked.stdout
        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
        try:
            with engine.connect() as connection:
                assert pgsecurity.sequence_grant_problems(connection) == findings
            assert cli(url, "--as", CURATOR, "db", "secure").exit_code == 0
            with engine.connect() as connection:
                assert pgsecurity.sequence_grant_problems(connection) == []
        finally:
            engine.dispose()
        assert cli(url, "--as", CURATOR, "verify").exit_code == 0


def test_a_curators_psql_event_recorded_now_stops_writes_in_one_line(
    pg_server: PgServer, template: str
) -> None:
    """A curator's login appends in psql an event whose recorded_at is the text `now` (the
    clock check of a ledger secured before revision 0014 reads it as the transaction's time);
    the next write through the CLI is refused in one line, exit 3, nothing written (before: a
    traceback). Revision 0014's trigger refuses such an event (see
    test_sweep_s35attack3_pg_hardening.py)."""
    with database_copy(pg_server, template, "now") as url:
        as_dba(
            url,
            OLD_EVENT_ACTOR,
            "ALTER FUNCTION ledger_event_actor() SET search_path = public, pg_temp",
        )
        curator = _login(pg_server, url.rsplit("/", 1)[1], CURATOR)
        with psycopg.connect(curator) as connection:
            head = connection.execute("SELECT * FROM sampleloans_chain_head()").fetchone()
            assert head is not None
            seq, prev, _ = head
            fields = {
                "seq": seq + 1,
                "kind": "institution.added",
                "payload": '{"city":"X","country":"Y","institution_kind":"borrower",'
                '"name":"Zed","short_name":"ZED"}',
                "occurred_at": "2026-01-01T00:00:00Z",
                "recorded_at": "now",
                "actor": CURATOR,
                "os_user": "root",
                "corrects_seq": None,
                "reason": None,
            }
            digest = chain.link_hash(prev, chain.event_body(**fields))
            connection.execute(
                "INSERT INTO ledger_event (seq, kind, payload, occurred_at, recorded_at, actor, "
                "os_user, prev_hash, hash) VALUES (%(seq)s, %(kind)s, %(payload)s, "
                "%(occurred_at)s, %(recorded_at)s, %(actor)s, %(os_user)s, %(prev)s, %(hash)s)",
                {**fields, "prev": prev, "hash": digest},
            )
        added = cli(
            curator, "institutions", "add", "QQQ", "--name", "Q", "--country", "France",
            "--city", "Paris", "--kind", "borrower",
        )  # fmt: skip
        assert added.exit_code == 3, added.stderr
        assert added.stderr.startswith(
            f"Error: the ledger was changed outside sampleloans: event {seq + 1} (the last) has "
            "no readable recorded_at time ('now'); nothing was written"
        )
        assert len(added.stderr.splitlines()) == 1
        with psycopg.connect(url) as connection:
            assert connection.execute("SELECT max(seq) FROM ledger_event").fetchone() == (seq + 1,)
