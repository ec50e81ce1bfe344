"""Stop 35, attack 3: what revision 0014 closes on a secured PostgreSQL ledger.

1. A login's psql event whose `recorded_at` is not the server's clock in the stored form: the
   text `now` (the old clock check read it as the transaction's time), a time in PostgreSQL's
   own form, or a time before the last event's. Each was kept; every later write, checkpoint and
   verify then failed on it. Now the actor trigger refuses it, and `verify` names an actor
   trigger without that check ("run 'db upgrade'").
2. A ledger secured at the baseline revision: `db upgrade` made the kept records' tables
   (`checkpoint`, `notification_sent`) with no grant, owner or row-level security, and left the
   sequences' grants of the release that secured it: verify failed until `db secure` ran again.
3. A person deactivated while connected kept that session (a curator's still changed the shared
   tables and inserted checkpoints): now `people deactivate` ends it.
"""

import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from alembic import command
from psycopg import sql
from sqlalchemy import create_engine, text

from sampleloans import db, migrate, pgsecurity
from sampleloans.ledger import chain
from sampleloans.services.verify import replay_into
from tests.pg_secured import (
    CURATOR,
    as_dba,
    cli,
    database_copy,
    revision_module,
    secured_demo_database,
)
from tests.pgcluster import PgServer, fresh_database

PASSWORD = "s3cret-login"  # as the other modules: login roles are cluster-wide
SECOND = "second.curator@naoc.example"
THIRD = "third.curator@naoc.example"
GOLDEN = Path(__file__).parent / "golden"
SEQUENCE_GRANTS_BEFORE = (
    "GRANT USAGE ON ALL SEQUENCES IN SCHEMA public "
    "TO sampleloans_curator, sampleloans_compliance, sampleloans_researcher"
)
"""What `db secure` granted on the sequences before stop 34: every group USAGE."""


def _password(server: PgServer, email: str) -> None:
    statement = sql.SQL("ALTER ROLE {} PASSWORD {}").format(
        sql.Identifier(email), sql.Literal(PASSWORD)
    )
    server.admin(statement.as_string(None))


def _login(server: PgServer, database: str, email: str) -> str:
    return PgServer(server.host, server.port, email, PASSWORD).url(database)


@pytest.fixture(scope="module")
def template(pg_server: PgServer) -> Iterator[str]:
    """The secured demo with two more curators (a template database); all three log in."""
    with secured_demo_database(pg_server) as name:
        _password(pg_server, CURATOR)
        curator = _login(pg_server, name, CURATOR)
        for email in (SECOND, THIRD):
            added = cli(
                curator, "people", "add", email, "--name", "Extra Curator",
                "--institution", "NAOC", "--role", "curator",
            )  # fmt: skip
            assert added.exit_code == 0, added.stderr
            _password(pg_server, email)
        yield name


def _forge(connection: psycopg.Connection, recorded_at: str) -> None:
    """Append, as the connection's curator login, a correctly hashed and linked event whose
    recorded_at is `recorded_at`."""
    head = connection.execute("SELECT * FROM sampleloans_chain_head()").fetchone()
    assert head is not None
    seq, prev, _ = head
    fields = {
        "seq": seq + 1,
        "kind": "institution.added",
        "payload": '{"city":"X","country":"Y","institution_kind":"borrower",'
        '"name":"Zed","short_name":"ZED"}',
        "occurred_at": "2026-01-01T00:00:00Z",
        "recorded_at": recorded_at,
        "actor": CURATOR,
        "os_user": "root",
        "corrects_seq": None,
        "reason": None,
    }
    digest = chain.link_hash(prev, chain.event_body(**fields))
    connection.execute(
        "INSERT INTO ledger_event (seq, kind, payload, occurred_at, recorded_at, actor, "
        "os_user, prev_hash, hash) VALUES (%(seq)s, %(kind)s, %(payload)s, %(occurred_at)s, "
        "%(recorded_at)s, %(actor)s, %(os_user)s, %(prev)s, %(hash)s)",
        {**fields, "prev": prev, "hash": digest},
    )


SERVER_TIME_FORMS = {
    "the word now": "SELECT 'now'",
    "PostgreSQL's own form": "SELECT transaction_timestamp()::text",
    "a zero fraction": "SELECT to_char(transaction_timestamp() AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD\"T\"HH24:MI:SS.000000Z')",
}
"""recorded_at texts the old check read as the server's clock (within the transaction)."""


@pytest.mark.parametrize("form", sorted(SERVER_TIME_FORMS))
def test_a_psql_event_not_in_the_stored_form_of_the_servers_clock_is_refused(
    pg_server: PgServer, template: str, form: str
) -> None:
    """In psql, a curator's login appends an event whose recorded_at the server reads as its
    clock but the program cannot (before: kept, and every later write failed on it)."""
    curator = _login(pg_server, template, CURATOR)
    with psycopg.connect(curator) as connection:
        row = connection.execute(SERVER_TIME_FORMS[form]).fetchone()
        assert row is not None
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="in the stored form"):
            _forge(connection, str(row[0]))


def test_a_psql_event_recorded_before_the_last_one_is_refused(
    pg_server: PgServer, template: str
) -> None:
    """A transaction opened before another login's event, appending at its own start time
    (the server's clock, in the stored form, but before the head's): refused (before: kept,
    and verify found recorded_at going back for good)."""
    with database_copy(pg_server, template, "back") as url:
        curator = _login(pg_server, url.rsplit("/", 1)[1], CURATOR)
        with psycopg.connect(curator) as connection:
            started = connection.execute(
                "SELECT to_char(transaction_timestamp() AT TIME ZONE 'UTC', "
                '\'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\')'
            ).fetchone()
            assert started is not None
            added = cli(
                curator, "institutions", "add", "QQQ", "--name", "Q", "--country", "France",
                "--city", "Paris", "--kind", "borrower",
            )  # fmt: skip
            assert added.exit_code == 0, added.stderr
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="when the last event"):
                _forge(connection, str(started[0]))
        assert cli(url, "--as", CURATOR, "verify").exit_code == 0


def _as_secured_by_0013(url: str) -> None:
    """Put back what a ledger secured by the release of revision 0013 has: the actor trigger's
    and the login helper's older functions, the owner no member of pg_signal_backend, and every
    group's USAGE on the sequences."""
    as_dba(
        url,
        revision_module("0006_definer_search_path").EVENT_ACTOR,
        "ALTER FUNCTION ledger_event_actor() SET search_path = public, pg_temp",  # as db secure
        revision_module("0011_active_staff").SET_LOGIN,
        "REVOKE pg_signal_backend FROM sampleloans_owner",
        SEQUENCE_GRANTS_BEFORE,
        "UPDATE alembic_version SET version_num = '0013_notification_append_only'",
    )


OLD_CLOCK = (
    "the actor trigger accepts an event whose recorded_at is not the server's clock in the "
    "stored form (the text 'now', or a time before the last event's), which no later write, "
    "checkpoint or verify reads; run 'db upgrade'"
)
OLD_SESSIONS = (
    "sampleloans_set_login() revokes a login without ending its open sessions: a person "
    "deactivated while connected keeps that session, reading and writing the rows every login "
    "may; run 'db upgrade'"
)


def test_verify_names_the_older_hardening_until_db_upgrade(
    pg_server: PgServer, template: str
) -> None:
    """A ledger secured by the previous release: verify names the actor trigger's older clock
    check and the login helper that ends no session, each saying what to run (CLI, exit 1;
    service level); `db upgrade` installs them, and the sequences' grants, and verify is clean."""
    with database_copy(pg_server, template, "old") as url:
        _as_secured_by_0013(url)
        checked = cli(url, "--as", CURATOR, "verify")
        assert checked.exit_code == 1, checked.stdout + checked.stderr
        for finding in (OLD_CLOCK, OLD_SESSIONS):
            assert f"[defence] {finding}" in checked.stdout
        # one finding each, not also "not the ledger's own … run 'db secure' again"
        assert "function ledger_event_actor() is not" not in checked.stdout
        assert "function sampleloans_set_login" not in checked.stdout
        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
        try:
            with engine.connect() as connection:
                found = pgsecurity.defence_problems(connection)
            assert OLD_CLOCK in found and OLD_SESSIONS in found
            upgraded = cli(url, "--as", CURATOR, "db", "upgrade")
            assert upgraded.exit_code == 0, upgraded.stderr
            with engine.connect() as connection:
                assert pgsecurity.defence_problems(connection) == []
        finally:
            engine.dispose()
            as_dba(url, "GRANT pg_signal_backend TO sampleloans_owner")  # roles: cluster-wide
        assert cli(url, "--as", CURATOR, "verify").exit_code == 0


def test_an_owner_that_may_not_end_sessions_is_named_with_db_secure(
    pg_server: PgServer, template: str
) -> None:
    """At this release's revision, the owner's pg_signal_backend revoked by the DBA: verify
    names it and says `db secure` (which `db upgrade`, with nothing to do, would not fix);
    `db secure` gives it back. (Deactivation then still revokes the login: the tests that use
    `sessions_outlive_deactivation`.)"""
    with database_copy(pg_server, template, "sig") as url:
        try:
            as_dba(url, "REVOKE pg_signal_backend FROM sampleloans_owner")
            checked = cli(url, "--as", CURATOR, "verify")
            assert checked.exit_code == 1, checked.stdout
            assert (
                "[defence] sampleloans_owner is not a member of pg_signal_backend: a person "
                "deactivated while connected keeps that session, reading and writing the rows "
                "every login may; run 'db secure' again"
            ) in checked.stdout
            assert cli(url, "--as", CURATOR, "db", "secure").exit_code == 0
            assert cli(url, "--as", CURATOR, "verify").exit_code == 0
        finally:
            as_dba(url, "GRANT pg_signal_backend TO sampleloans_owner")


def test_a_ledger_secured_at_the_baseline_upgrades_to_the_hardening(
    pg_server: PgServer, template: str, tmp_path: Path
) -> None:
    """The golden ledger's events on PostgreSQL at the baseline revision, secured then (every
    group USAGE on the sequences): `db upgrade` gives the kept records' tables, which later
    revisions add, the owner, grants and row-level security `db secure` gives, and the
    sequences the curators' USAGE only; verify is clean and a curator's checkpoint is kept
    (before: row-level security off on notification_sent, and the curators may not insert a
    checkpoint, until `db secure` ran again)."""
    copy = tmp_path / "golden.db"
    shutil.copy(GOLDEN / "ledger-0.1.db", copy)
    source = db.open_engine(db.url_for_path(copy))
    with fresh_database(pg_server) as url:
        target = db.make_engine(url)
        try:
            with target.begin() as connection:
                command.upgrade(migrate.config(connection=connection), "0001_baseline")
            assert replay_into(source, target) is None
            with target.begin() as connection:
                pgsecurity.secure(connection)
                connection.execute(text(SEQUENCE_GRANTS_BEFORE))
        finally:
            target.dispose()
            source.dispose()
        upgraded = cli(url, "--as", CURATOR, "db", "upgrade")
        assert upgraded.exit_code == 0, upgraded.stderr
        checked = cli(url, "--as", CURATOR, "verify")
        assert checked.exit_code == 0, checked.stdout
        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
        try:
            with engine.connect() as connection:
                assert pgsecurity.defence_problems(connection) == []
                assert pgsecurity.policy_check(connection).problems == []
        finally:
            engine.dispose()
        curator = _login(pg_server, url.rsplit("/", 1)[1], CURATOR)
        key = str(tmp_path / "k")
        assert cli(curator, "keys", "generate", "--out", key).exit_code == 0
        made = cli(curator, "checkpoint", "--key", key)
        assert made.exit_code == 0, made.stderr
        with psycopg.connect(url) as connection:
            grants = connection.execute(
                "SELECT DISTINCT COALESCE(r.rolname, 'PUBLIC'), a.privilege_type "
                "FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a "
                "LEFT JOIN pg_roles r ON r.oid = a.grantee "
                "WHERE c.relkind = 'S' AND a.grantee <> c.relowner ORDER BY 1, 2"
            ).fetchall()
        assert grants == [("sampleloans_curator", "USAGE")]


def _session_alive(connection: psycopg.Connection) -> bool:
    """Whether the server still serves this session."""
    try:
        connection.execute("SELECT 1")
    except psycopg.OperationalError:
        return False
    return True


def test_people_deactivate_ends_the_persons_open_sessions(
    pg_server: PgServer, template: str
) -> None:
    """A curator connected in psql is deactivated by another (CLI): their session ends, so it
    changes no shared table any more (before: it went on, e.g. renaming an institution); their
    session on another database of the server (the template ledger) is not this ledger's to end."""
    with database_copy(pg_server, template, "end") as url:
        database = url.rsplit("/", 1)[1]
        with (
            psycopg.connect(_login(pg_server, database, SECOND), autocommit=True) as open_one,
            psycopg.connect(_login(pg_server, template, SECOND), autocommit=True) as elsewhere,
        ):
            assert _session_alive(open_one)
            done = cli(
                _login(pg_server, database, CURATOR),
                "people", "deactivate", SECOND, "--reason", "left",
            )  # fmt: skip
            assert done.exit_code == 0, done.stderr
            assert "Any session they had open on this ledger was ended" in done.stdout
            with pytest.raises(psycopg.OperationalError):
                open_one.execute("UPDATE institution SET city = 'Nowhere'")
            assert _session_alive(elsewhere)
        with psycopg.connect(url) as connection:
            assert connection.execute(
                "SELECT count(*) FROM institution WHERE city = 'Nowhere'"
            ).fetchone() == (0,)


def test_revoking_a_login_ends_its_sessions_but_the_callers(
    pg_server: PgServer, template: str
) -> None:
    """Service level: `pgsecurity.set_login(…, active=False)` ends the login's open sessions;
    giving the login back ends none."""
    with database_copy(pg_server, template, "rev") as url:
        database = url.rsplit("/", 1)[1]
        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
        try:
            with psycopg.connect(_login(pg_server, database, THIRD)) as open_one:
                with engine.begin() as connection:
                    pgsecurity.set_login(connection, THIRD, "curator", active=True)
                assert _session_alive(open_one)
                with engine.begin() as connection:
                    pgsecurity.set_login(connection, THIRD, "curator", active=False)
                    assert connection.execute(text("SELECT 1")).scalar() == 1  # the caller's
                assert not _session_alive(open_one)
        finally:
            with engine.begin() as connection:
                pgsecurity.set_login(connection, THIRD, "curator", active=True)
            engine.dispose()
