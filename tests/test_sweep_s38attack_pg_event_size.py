"""Stop 38, attack: an event of any length on a secured PostgreSQL ledger.

A researcher's login, in psql, appended a lab event of their own loan whose payload (or OS user,
or reason) was 100 MB: the database checked its link, actor, clock, kind and loan, and kept it
for good. Every later export of the ledger then held a line longer than the 16 MiB that `import`
and `restore --events` read (no backup of it restored), and `verify` held it in memory several
times over. Now the actor trigger refuses an event whose own texts are longer than 1,048,576
characters together (revision 0016), and `verify` names an actor trigger without that check.
"""

from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import create_engine

from sampleloans import db, pgsecurity
from tests.pg_secured import (
    CURATOR,
    as_dba,
    cli,
    database_copy,
    revision_module,
    secured_demo_database,
)
from tests.pgcluster import PgServer

PASSWORD = "s3cret-login"  # as the other modules: login roles are cluster-wide
RESEARCHER = "moynier@ipgp.example"
LOAN = "L-2025-IPGP"  # the researcher's institution's loan in the demo
STORED_NOW = "to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
"""The server's clock in the form the actor trigger accepts (`recorded_at`)."""
OLD_ACTOR = (
    "the actor trigger accepts an event of any length (a login's psql event of 100 MB is kept "
    "for good, and no export of the ledger is read back by restore; at most 1,048,576 "
    "characters are needed)"
)
KIND = "loan.consumed"
OCCURRED = "2026-01-01T00:00:00Z"


@pytest.fixture(scope="module")
def template(pg_server: PgServer) -> Iterator[str]:
    """The secured demo (a template database); the researcher logs in with a password."""
    with secured_demo_database(pg_server) as name:
        statement = sql.SQL("ALTER ROLE {} PASSWORD {}").format(
            sql.Identifier(RESEARCHER), sql.Literal(PASSWORD)
        )
        pg_server.admin(statement.as_string(None))
        yield name


def _researcher(server: PgServer, database: str) -> str:
    return PgServer(server.host, server.port, RESEARCHER, PASSWORD).url(database)


def _consumption(technique_chars: int) -> str:
    """A consumption's payload on the researcher's own loan, its technique that long."""
    return (
        '{"destructive":true,"mass_ug":1,"number":"' + LOAN + '",'
        '"sample":"CE5C0100YJFM00201-01","technique":"' + "x" * technique_chars + '"}'
    )


def _append(
    connection: psycopg.Connection, payload: str, os_user: str = "x", reason: str | None = None
) -> None:
    """Append, as the connection's researcher login, a consumption with these texts, linked
    to the head, at the server's clock."""
    connection.execute(
        "INSERT INTO ledger_event (seq, kind, payload, occurred_at, recorded_at, actor, "
        "os_user, reason, prev_hash, hash) SELECT h.seq + 1, %(kind)s, %(payload)s, "
        f"%(occurred)s, {STORED_NOW}, session_user, %(os_user)s, %(reason)s, h.hash, "
        "repeat('a', 64) FROM sampleloans_chain_head() h",
        {
            "kind": KIND,
            "payload": payload,
            "occurred": OCCURRED,
            "os_user": os_user,
            "reason": reason,
        },
    )


def _head(url: str) -> tuple[int, str]:
    with psycopg.connect(url) as connection:
        row = connection.execute("SELECT seq, hash FROM sampleloans_chain_head()").fetchone()
    assert row is not None
    return int(row[0]), str(row[1])


HUGE = "y" * 5_000_000
HUGE_TEXTS = {
    "payload": {"payload": _consumption(5_000_000)},
    "os_user": {"payload": _consumption(1), "os_user": HUGE},
    "reason": {"payload": _consumption(1), "reason": HUGE},
}
"""Where a psql event carries 5 MB: each text of the event the database does not check."""


@pytest.mark.parametrize("field", sorted(HUGE_TEXTS))
def test_a_researchers_psql_event_of_5_mb_is_refused(
    pg_server: PgServer, template: str, field: str
) -> None:
    """5 MB in the payload, the OS user or the reason: refused by the actor trigger, naming
    the event's length and the limit; the chain's head is the same afterwards (before: kept,
    for good)."""
    texts = HUGE_TEXTS[field]
    length = len(KIND) + len(OCCURRED) + sum(len(t) for t in texts.values())
    length += 0 if "os_user" in texts else 1  # the OS user 'x'
    with database_copy(pg_server, template, "huge") as url:
        before = _head(url)
        researcher = _researcher(pg_server, url.rsplit("/", 1)[1])
        with (
            psycopg.connect(researcher) as connection,
            pytest.raises(
                psycopg.errors.ProgramLimitExceeded,
                match=rf"^event of {length} characters \(its kind, payload, occurred_at, os_user "
                r"and reason\) is longer than the 1,048,576 an event may hold",
            ),
        ):
            _append(connection, **texts)
        assert _head(url) == before


def test_the_limit_is_the_last_length_accepted(pg_server: PgServer, template: str) -> None:
    """An event whose texts are exactly 1,048,576 characters together passes the trigger
    (rolled back here); one more character is refused."""
    researcher = _researcher(pg_server, template)
    others = len(KIND) + len(OCCURRED) + len("x")
    longest = _consumption(pgsecurity.EVENT_MAX_CHARS - others - len(_consumption(0)))
    assert others + len(longest) == 1_048_576
    with psycopg.connect(researcher) as connection:
        _append(connection, longest)
        connection.rollback()
        with pytest.raises(psycopg.errors.ProgramLimitExceeded):
            _append(connection, longest, reason="z")


def _as_secured_by_0015(url: str) -> None:
    """Put back what a ledger secured by the release of revision 0015 has: the actor
    trigger's function without the length check, the schema at 0015."""
    as_dba(
        url,
        revision_module("0014_clock_sessions_kept_records").EVENT_ACTOR,
        "UPDATE alembic_version SET version_num = '0015_loan_item_samples'",
    )


def test_verify_names_the_older_actor_trigger_until_db_upgrade(
    pg_server: PgServer, template: str
) -> None:
    """A ledger secured by the previous release: `verify` names the actor trigger that takes
    an event of any length, once, saying to run `db upgrade` (CLI, exit 1); the huge event is
    then still kept. `db upgrade` installs the check: verify is clean and the event refused."""
    with database_copy(pg_server, template, "old") as url:
        _as_secured_by_0015(url)
        checked = cli(url, "--as", CURATOR, "verify")
        assert checked.exit_code == 1, checked.stdout + checked.stderr
        assert f"[defence] {OLD_ACTOR}; run 'db upgrade'" in checked.stdout
        assert "function ledger_event_actor() is not" not in checked.stdout
        researcher = _researcher(pg_server, url.rsplit("/", 1)[1])
        with psycopg.connect(researcher) as connection:
            _append(connection, _consumption(2_000_000))  # kept by the older trigger
            connection.rollback()
        upgraded = cli(url, "--as", CURATOR, "db", "upgrade")
        assert upgraded.exit_code == 0, upgraded.stderr
        assert f"from 0015_loan_item_samples to {db.SCHEMA_HEAD}" in upgraded.stdout
        clean = cli(url, "--as", CURATOR, "verify")
        assert clean.exit_code == 0, clean.stdout + clean.stderr
        with (
            psycopg.connect(researcher) as connection,
            pytest.raises(psycopg.errors.ProgramLimitExceeded),
        ):
            _append(connection, _consumption(2_000_000))


def test_verify_at_this_revision_says_to_secure_again(pg_server: PgServer, template: str) -> None:
    """The length check dropped from the actor trigger by hand at this release's revision:
    the finding says `db secure` again (service level as well), which puts it back."""
    with database_copy(pg_server, template, "dropped") as url:
        as_dba(url, revision_module("0014_clock_sessions_kept_records").EVENT_ACTOR)
        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
        try:
            with engine.connect() as connection:
                found = pgsecurity.defence_problems(connection)
        finally:
            engine.dispose()
        assert f"{OLD_ACTOR}; run 'db secure' again" in found
        assert cli(url, "--as", CURATOR, "db", "secure").exit_code == 0
        clean = cli(url, "--as", CURATOR, "verify")
        assert clean.exit_code == 0, clean.stdout + clean.stderr
