"""Issue 14, points 3, 5 and 8: attacks with a researcher's own login through psycopg (what
`psql` does) that got past the hardening, found by trying them on a secured demo ledger.

- A temporary table named `ledger_event` gave `ledger_event_next()` (which runs as the owner to
  see the whole chain) a fake chain head: the function read it through the caller's search path,
  where pg_temp comes first, so an event with any seq and previous hash was appended.
- A subject row (`event_subject`) attached to someone else's event made that event "mine" for
  row-level security: one forged event of their own, and the researcher read every event.

Each is now refused by the database; `verify` names either defence when it is missing, and
revision 0006 installs both on a ledger secured before."""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import count

import psycopg
import pytest
from psycopg import sql
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from tests.pg_secured import database_copy, sessions_outlive_deactivation
from tests.pgcluster import PgServer, fresh_database

CURATOR = "curator@naoc.example"
RESEARCHER = "anand@open.example"  # OU
PASSWORD = "s3cret-login"  # the other PostgreSQL tests' password: login roles are cluster-wide
LEDGER_ID = "0d9ba0c2-5b8e-4a57-9d0e-6a1f0e3c1a2b"
ENV = {"SAMPLELOANS_NOW": "2025-04-01T09:00:00Z", "COLUMNS": "200", "NO_COLOR": "1"}
SERVER_NOW = "to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
"""An event's recorded_at as the actor trigger accepts it: the server's clock, now."""
OWN_EVENT = (
    "INSERT INTO public.ledger_event (seq, kind, payload, occurred_at, recorded_at, actor, "
    "os_user, prev_hash, hash) SELECT h.seq + 1, 'loan.inventory', '{\"number\":\"L-2025-OU\"}', "
    f"'2026-01-01T00:00:00Z', {SERVER_NOW}, session_user, 'x', h.hash, repeat('b', 64) "
    "FROM sampleloans_chain_head() h"
)
"""A forged event of the researcher's own, correctly linked to the head (the README's honest
limit: the database checks link, actor, clock and that it is lab work on their own loan, not the
hash or the rest of the payload)."""


def secure_demo(server: PgServer, url: str) -> None:
    """The demo ledger at `url`, secured; the curator and the researcher have a password."""
    demo = CliRunner().invoke(app, ["--db", url, "demo", "--ledger-id", LEDGER_ID], env=ENV)
    assert demo.exit_code == 0, demo.stdout[-2000:] + demo.stderr
    secure(server, url)


def secure(server: PgServer, url: str) -> None:
    """`db secure` on the ledger at `url`; the curator and the researcher have a password."""
    done = CliRunner().invoke(app, ["--db", url, "--as", CURATOR, "db", "secure"], env=ENV)
    assert done.exit_code == 0, done.stderr
    for email in (RESEARCHER, CURATOR):
        server.admin(
            sql.SQL("ALTER ROLE {} PASSWORD {}")
            .format(sql.Identifier(email), sql.Literal(PASSWORD))
            .as_string(None)
        )


@pytest.fixture(scope="module")
def demo_template(pg_server: PgServer) -> Iterator[str]:
    """The demo ledger (not yet secured) in a database of its own, made once per module: its
    database's name, which `secured_copy` copies."""
    with fresh_database(pg_server) as url:
        demo = CliRunner().invoke(app, ["--db", url, "demo", "--ledger-id", LEDGER_ID], env=ENV)
        assert demo.exit_code == 0, demo.stdout[-2000:] + demo.stderr
        yield url.rsplit("/", 1)[1]


_copies = count(1)


@contextmanager
def secured_copy(pg_server: PgServer, demo_template: str) -> Iterator[str]:
    """A copy of the demo ledger (`CREATE DATABASE … TEMPLATE`: the demo costs ~2 s of CPU
    each time), secured by `db secure` as `secure_demo` does; its URL, dropped after."""
    with database_copy(pg_server, demo_template, f"copy{next(_copies)}") as url:
        secure(pg_server, url)
        yield url


@contextmanager
def secured_database(pg_server: PgServer, purpose: str) -> Iterator[str]:
    """A secured demo ledger in a database of its own (its name), dropped after."""
    name = f"sampleloans_sweep_{purpose}_{os.getpid()}"
    pg_server.admin(f"CREATE DATABASE {name} TEMPLATE template0")
    try:
        secure_demo(pg_server, pg_server.url(name))
        yield name
    finally:
        pg_server.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="module")
def secured(pg_server: PgServer) -> Iterator[str]:
    """A secured demo ledger the tests of this module only read or roll back on."""
    with secured_database(pg_server, "attacks") as name:
        yield name


def _login(server: PgServer, database: str, email: str = RESEARCHER) -> str:
    return PgServer(server.host, server.port, email, PASSWORD).url(database)


def _events(server: PgServer, database: str) -> tuple[int, int]:
    """The number of events and event subjects, as the superuser sees them."""
    with psycopg.connect(server.url(database)) as admin:
        row = admin.execute(
            "SELECT (SELECT count(*) FROM ledger_event), (SELECT count(*) FROM event_subject)"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def _verify(url: str) -> tuple[int, str]:
    """`verify` with the curator's own login: exit code and output."""
    result = CliRunner().invoke(app, ["--db", url, "verify"], env=ENV)
    return result.exit_code, result.stdout + result.stderr


def test_a_temporary_table_cannot_fake_the_chain_head(pg_server: PgServer, secured: str) -> None:
    """The researcher's temp table `ledger_event` (readable by the owner) with a made-up head:
    the link trigger still reads the real chain, and an event at seq 1000 linking to nothing
    is refused; nothing is written."""
    before = _events(pg_server, secured)
    with psycopg.connect(_login(pg_server, secured)) as connection:
        connection.execute("CREATE TEMP TABLE ledger_event (seq bigint, hash text)")
        connection.execute("GRANT SELECT ON pg_temp.ledger_event TO PUBLIC")
        connection.execute("INSERT INTO pg_temp.ledger_event VALUES (999, 'forged-link')")
        with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="expected"):
            connection.execute(
                "INSERT INTO public.ledger_event (seq, kind, payload, occurred_at, "
                "recorded_at, actor, os_user, prev_hash, hash) VALUES (1000, 'loan.received', "
                f"'{{}}', '2026-01-01T00:00:00Z', {SERVER_NOW}, session_user, 'x', "
                "'forged-link', repeat('a', 64))"
            )
    assert _events(pg_server, secured) == before


@pytest.mark.parametrize(
    ("subject", "why"),
    [
        ("SELECT s, 'loan', 'L-2025-OU' FROM generate_series(1, 40) s", "earlier events"),
        ("SELECT h.seq, 'loan', 'L-2025-UoC' FROM sampleloans_chain_head() h", "foreign loan"),
    ],
)
def test_a_researcher_attaches_subjects_only_to_their_new_event(
    pg_server: PgServer, secured: str, subject: str, why: str
) -> None:
    """With a forged event of their own in the same transaction, a subject row naming someone
    else's event (which would show it to them) or another institution's loan is refused by the
    row-level security check; nothing is written, and the researcher still sees no foreign
    event."""
    before = _events(pg_server, secured)
    with psycopg.connect(_login(pg_server, secured)) as connection:
        seen_before = connection.execute("SELECT count(*) FROM ledger_event").fetchone()
        connection.execute(OWN_EVENT)
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            connection.execute(
                f"INSERT INTO event_subject (seq, subject_type, subject_key) {subject}"
            )
    assert _events(pg_server, secured) == before, why
    with psycopg.connect(_login(pg_server, secured)) as connection:
        assert connection.execute("SELECT count(*) FROM ledger_event").fetchone() == seen_before


def test_a_researchers_own_subject_rows_still_go_in(pg_server: PgServer, secured: str) -> None:
    """The policy lets through what a lab event writes: subjects of the event just appended in
    their name, their own loan (rolled back: the event is forged)."""
    with psycopg.connect(_login(pg_server, secured)) as connection:
        connection.execute(OWN_EVENT)
        connection.execute(
            "INSERT INTO event_subject (seq, subject_type, subject_key) "
            "SELECT h.seq, 'loan', 'L-2025-OU' FROM sampleloans_chain_head() h"
        )
        connection.rollback()


def test_verify_names_a_definer_function_without_a_fixed_search_path(
    pg_server: PgServer,
    demo_template: str,
) -> None:
    """The owner (here the superuser) resets the search path of ledger_event_next(): verify
    names the function (exit 1); `db secure` again puts it back (exit 0)."""
    with secured_copy(pg_server, demo_template) as url:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("ALTER FUNCTION ledger_event_next() RESET search_path")
        curator = _login(pg_server, url.rsplit("/", 1)[1], CURATOR)
        code, out = _verify(curator)
        assert code == 1, out
        assert "function ledger_event_next() runs as its owner without a fixed search path" in out
        again = CliRunner().invoke(app, ["--db", url, "--as", CURATOR, "db", "secure"], env=ENV)
        assert again.exit_code == 0, again.stderr
        assert _verify(curator)[0] == 0


def test_verify_names_a_subject_policy_that_lets_researchers_claim_events(
    pg_server: PgServer,
    demo_template: str,
) -> None:
    """The researchers' INSERT policy on event_subject put back to `WITH CHECK (true)` (as
    before the fix): verify names it (exit 1)."""
    with secured_copy(pg_server, demo_template) as url:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("DROP POLICY researcher_append ON event_subject")
            admin.execute(
                "CREATE POLICY researcher_append ON event_subject FOR INSERT "
                "TO sampleloans_researcher WITH CHECK (true)"
            )
        code, out = _verify(_login(pg_server, url.rsplit("/", 1)[1], CURATOR))
        assert code == 1, out
        assert "INSERT policy on event_subject does not require an event of their own" in out


def test_revision_0006_secures_a_ledger_secured_before_it(
    pg_server: PgServer, demo_template: str
) -> None:
    """A ledger secured by the previous revision's hardening (no search path, the old policy,
    stamped 0005): `db upgrade` by the DBA installs both defences, and verify is clean; then the
    subject attack is refused."""
    with secured_copy(pg_server, demo_template) as url:
        with psycopg.connect(url, autocommit=True) as admin:
            for name in ("ledger_event_next()", "sampleloans_chain_head()"):
                admin.execute(f"ALTER FUNCTION {name} RESET search_path")
            admin.execute("DROP POLICY researcher_append ON event_subject")
            admin.execute(
                "CREATE POLICY researcher_append ON event_subject FOR INSERT "
                "TO sampleloans_researcher WITH CHECK (true)"
            )
            admin.execute("DROP FUNCTION sampleloans_event_is_new_own(bigint)")
            admin.execute(_set_login_without_the_ledger_check(admin))
            admin.execute("UPDATE alembic_version SET version_num = '0005_researcher_write_guard'")
        database = url.rsplit("/", 1)[1]
        assert _verify(_login(pg_server, database, CURATOR))[0] == 1
        upgrade = CliRunner().invoke(app, ["--db", url, "--as", CURATOR, "db", "upgrade"], env=ENV)
        assert upgrade.exit_code == 0, upgrade.stderr
        assert f"from 0005_researcher_write_guard to {db.SCHEMA_HEAD}" in upgrade.stdout
        code, out = _verify(_login(pg_server, database, CURATOR))
        assert code == 0, out
        with psycopg.connect(_login(pg_server, database)) as connection:
            connection.execute(OWN_EVENT)
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                connection.execute(
                    "INSERT INTO event_subject (seq, subject_type, subject_key) "
                    "VALUES (1, 'loan', 'L-2025-OU')"
                )
        _deactivate(pg_server, database, RESEARCHER)
        with (
            psycopg.connect(_login(pg_server, database, CURATOR)) as connection,
            pytest.raises(psycopg.errors.InsufficientPrivilege, match="deactivated"),
        ):
            connection.execute(
                "SELECT sampleloans_set_login(%s, 'researcher', true)", (RESEARCHER,)
            )


def _set_login_without_the_ledger_check(admin: psycopg.Connection) -> str:
    """sampleloans_set_login as revision 0005's ledgers had it: no check that the ledger
    records the person as active."""
    row = admin.execute(
        "SELECT pg_get_functiondef('sampleloans_set_login(text, text, boolean)'::regprocedure)"
    ).fetchone()
    assert row is not None
    body = str(row[0])
    start = body.index("IF may_login AND NOT EXISTS")
    end = body.index("END IF;", start) + len("END IF;")
    return body[:start] + body[end:]


def _deactivate(server: PgServer, database: str, email: str) -> None:
    """`people deactivate` with the curator's own login."""
    curator = _login(server, database, CURATOR)
    done = CliRunner().invoke(
        app, ["--db", curator, "people", "deactivate", email, "--reason", "left"], env=ENV
    )
    assert done.exit_code == 0, done.stderr


def test_a_curators_login_cannot_undo_a_deactivation(
    pg_server: PgServer, demo_template: str
) -> None:
    """After `people deactivate`, a curator calling sampleloans_set_login in psql to give the
    login back is refused (the ledger still says deactivated); the DBA's ALTER ROLE … LOGIN is
    named by verify; `people reactivate` gives the login back."""
    with secured_copy(pg_server, demo_template) as url:
        database = url.rsplit("/", 1)[1]
        _deactivate(pg_server, database, RESEARCHER)
        with (
            psycopg.connect(_login(pg_server, database, CURATOR)) as connection,
            pytest.raises(psycopg.errors.InsufficientPrivilege, match="deactivated"),
        ):
            connection.execute(
                "SELECT sampleloans_set_login(%s, 'researcher', true)", (RESEARCHER,)
            )
        with pytest.raises(psycopg.OperationalError, match="not permitted to log in"):
            psycopg.connect(_login(pg_server, database)).close()
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(sql.SQL("ALTER ROLE {} LOGIN").format(sql.Identifier(RESEARCHER)))
        code, out = _verify(_login(pg_server, database, CURATOR))
        assert code == 1, out
        assert f"person {RESEARCHER} is deactivated in the ledger but their role may log in" in out
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(sql.SQL("ALTER ROLE {} NOLOGIN").format(sql.Identifier(RESEARCHER)))
        back = CliRunner().invoke(
            app,
            ["--db", _login(pg_server, database, CURATOR), "people", "reactivate", RESEARCHER,
             "--reason", "back"],
            env=ENV,
        )  # fmt: skip
        assert back.exit_code == 0, back.stderr
        psycopg.connect(_login(pg_server, database)).close()  # logs in again


def test_verify_names_a_delete_truncate_or_rewrite_grant_on_any_table(
    pg_server: PgServer,
    demo_template: str,
) -> None:
    """Beyond the events: TRUNCATE on a projection (it ignores row-level security), DELETE for
    one researcher's login, UPDATE of an append-only record: each is named with the login."""
    with secured_copy(pg_server, demo_template) as url:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("GRANT TRUNCATE ON loan TO sampleloans_curator")
            admin.execute(
                sql.SQL("GRANT DELETE ON sample TO {}").format(sql.Identifier(RESEARCHER))
            )
            admin.execute("GRANT UPDATE ON checkpoint TO sampleloans_compliance")
        code, out = _verify(_login(pg_server, url.rsplit("/", 1)[1], CURATOR))
    assert code == 1, out
    assert f"login {CURATOR} may TRUNCATE loan: revoke it" in out
    assert f"login {RESEARCHER} may DELETE sample: revoke it" in out
    assert "login compliance@naoc.example may UPDATE checkpoint: revoke it" in out
    assert "may UPDATE loan:" not in out  # staff's own UPDATE of projections is no finding


def test_a_compliance_officers_login_writes_nothing(
    pg_server: PgServer, demo_template: str
) -> None:
    """Compliance officers record no event: their psql may not append an event nor change a
    projection (their group reads only); a write grant put back is named by verify."""
    officer = "compliance@naoc.example"
    with secured_copy(pg_server, demo_template) as url:
        database = url.rsplit("/", 1)[1]
        pg_server.admin(
            sql.SQL("ALTER ROLE {} PASSWORD {}")
            .format(sql.Identifier(officer), sql.Literal(PASSWORD))
            .as_string(None)
        )
        before = _events(pg_server, database)
        for statement in (
            OWN_EVENT,
            "UPDATE loan SET due_at = due_at",
            "INSERT INTO note DEFAULT VALUES",
        ):
            with (
                psycopg.connect(_login(pg_server, database, officer)) as connection,
                pytest.raises(psycopg.errors.InsufficientPrivilege),
            ):
                connection.execute(statement)
        assert _events(pg_server, database) == before
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("GRANT UPDATE ON loan TO sampleloans_compliance")
        code, out = _verify(_login(pg_server, database, CURATOR))
    assert code == 1, out
    assert "sampleloans_compliance may UPDATE loan: compliance officers record nothing" in out


def test_a_session_opened_before_deactivation_appends_nothing(
    pg_server: PgServer, demo_template: str
) -> None:
    """`people deactivate` revokes the login and ends the person's open sessions; one that
    outlives it (opened between the two, before the commit) is refused its event by the actor
    trigger (the person is no longer active)."""
    with secured_copy(pg_server, demo_template) as url:
        database = url.rsplit("/", 1)[1]
        with (
            psycopg.connect(_login(pg_server, database)) as early,  # opened before
            sessions_outlive_deactivation(url),
        ):
            _deactivate(pg_server, database, RESEARCHER)
            before = _events(pg_server, database)
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="not an active person"):
                early.execute(OWN_EVENT)
        assert _events(pg_server, database) == before
