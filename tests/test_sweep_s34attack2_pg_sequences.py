"""Stop 34, attack 2: a researcher's or compliance officer's own login, in psql, on the ledger's
sequences. `db secure` granted every group USAGE on them, though only curators insert the rows
that draw ids (`checkpoint`, `notification_sent`): their `nextval()` burnt the kept records' ids
(the next checkpoint was numbered 4, not 1), and `pg_sequence_last_value` told a researcher how
many notifications were sent, rows row-level security hides from them. Now the curators' group
alone has USAGE, and `verify` names any other grant on a sequence."""

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import create_engine

from sampleloans import pgsecurity
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
