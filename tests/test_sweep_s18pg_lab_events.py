"""Sweep s18 (several sites on PostgreSQL): what a researcher's own login appended with psql, and
the `db upgrade --sql` script a DBA runs with psql, tried on the throwaway cluster.

- The researchers' INSERT policy on `ledger_event` checked only the actor: a researcher's login
  appended, correctly hashed and linked to the head, a `loan.closed` of their loan, a
  `person.role_changed` making themselves curator, a consumption on another institution's
  loan. `verify` named each, but an event is never deleted: the ledger failed `verify` for good.
  Revision 0010 (and `db secure`) let them append their lab events on their own loans only.
- A curator deactivated while a psql session of theirs was open: the session still read every
  row, changed projections and revoked other people's logins (the staff test asked the role,
  not whether the person is active). Revision 0011 asks both.
- `people add --print-sql` on a secured ledger printed a CREATE ROLE for the login it had just
  made: the DBA's psql stopped at "already exists".
- `verify`'s note on a secured ledger behind this release said "a curator runs 'sampleloans db
  upgrade'", which a curator's own login may not: the DBA does.
- `db upgrade --sql` for PostgreSQL printed every `%` doubled (psycopg's paramstyle): psql
  refused the script at the first PL/pgSQL RAISE ("too many parameters specified for RAISE").
"""

import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.ledger.chain import event_body, link_hash
from tests.pg_secured import sessions_outlive_deactivation
from tests.pgcluster import PgServer, fresh_database
from tests.test_sweep_pg_attacks import (
    CURATOR,
    ENV,
    PASSWORD,
    RESEARCHER,
    _deactivate,
    _events,
    _login,
    _verify,
    demo_template,
    secured_copy,
    secured_database,
)

__all__ = ["demo_template"]  # the module fixture (a demo copied per test), shared by name

OLD_CHECK = "actor = session_user::text"
"""The researchers' INSERT policy on ledger_event before revision 0010."""
RECORDED_AT = (
    "SELECT to_char(transaction_timestamp() AT TIME ZONE 'UTC', "
    '\'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\')'
)


@pytest.fixture(scope="module")
def secured(pg_server: PgServer) -> Iterator[str]:
    """A secured demo ledger (anand@open.example: a researcher at OU, loan L-2025-OU)."""
    with secured_database(pg_server, "s18pg") as name:
        yield name


def _forge(url: str, kind: str, payload: str) -> None:
    """Append, with the login of `url`, a well-formed event: linked to the head, hashed as the
    application hashes, in the login's name, at the server's clock (what a researcher who read
    docs/ledger-format.md writes with psql)."""
    with psycopg.connect(url) as connection:
        head = connection.execute("SELECT seq, hash FROM sampleloans_chain_head()").fetchone()
        stamp = connection.execute(RECORDED_AT).fetchone()
        login = connection.execute("SELECT session_user").fetchone()
        assert head is not None and stamp is not None and login is not None
        body = event_body(
            seq=head[0] + 1, kind=kind, payload=payload, occurred_at="2026-01-01T00:00:00Z",
            recorded_at=stamp[0], actor=login[0], os_user="psql", corrects_seq=None, reason=None,
        )  # fmt: skip
        connection.execute(
            "INSERT INTO ledger_event (seq, kind, payload, occurred_at, recorded_at, actor, "
            "os_user, prev_hash, hash) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (*(body[k] for k in ("seq", "kind", "payload", "occurred_at", "recorded_at")),
             body["actor"], "psql", head[1], link_hash(head[1], body)),
        )  # fmt: skip


def _payload(**fields: object) -> str:
    return json.dumps(fields, separators=(",", ":"), sort_keys=True)


NOT_LAB_WORK = {
    "a curator's kind on their own loan": ("loan.closed", _payload(number="L-2025-OU")),
    "their own role changed to curator": (
        "person.role_changed",
        _payload(email=RESEARCHER, previous_role="researcher", role="curator"),
    ),
    "a consumption on another institution's loan": (
        "loan.consumed",
        _payload(
            destructive=True,
            mass_ug=1,
            number="L-2025-UoC",
            sample="CE5C0000YJYX052",
            technique="x",
        ),
    ),
    "an incident on another institution's loan": (
        "incident.reported",
        _payload(
            description="x",
            incident_kind="loss",
            loan="L-2025-Osaka",
            mass_lost_ug=0,
            sample="CE5C0000YJYX061",
        ),
    ),
    "a receipt of no outbound shipment of theirs": (
        "loan.received",
        _payload(number="L-2025-OU", shipment_seq=1, seal_intact=True, condition="x"),
    ),
    "a payload that is no JSON": ("loan.inventory", "not json"),
    "a loan named by no field": ("loan.inventory", _payload(held=[], note=None)),
}


@pytest.mark.parametrize("attempt", sorted(NOT_LAB_WORK))
def test_a_researcher_login_appends_no_event_but_its_lab_work(
    pg_server: PgServer, secured: str, attempt: str
) -> None:
    """Each event, well formed and in the researcher's own name, is refused by the database;
    nothing is written and `verify` stays clean."""
    kind, payload = NOT_LAB_WORK[attempt]
    before = _events(pg_server, secured)
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
        _forge(_login(pg_server, secured), kind, payload)
    assert _events(pg_server, secured) == before
    code, out = _verify(_login(pg_server, secured, CURATOR))
    assert code == 0, out


def test_the_lab_commands_still_append_through_the_policy(
    pg_server: PgServer, secured: str
) -> None:
    """The researcher's own commands, with their login, on their loan: consumption, split,
    incident, inventory are all recorded (exit 0), and `verify` is clean after."""
    url = _login(pg_server, secured)
    runner = CliRunner()
    for command in (
        ["loans", "consume", "L-2025-OU", "--sample", "CE5C0200YJFM00112", "--technique", "SEM",
         "--mass", "100ug", "--non-destructive"],
        ["loans", "split", "L-2025-OU", "--sample", "CE5C0300YJFM00307", "--child", "-M1",
         "--mass", "1mg"],
        ["incidents", "report", "--sample", "CE5C0300YJFM00307-M1", "--kind", "damage",
         "--description", "cracked mount"],
        ["loans", "inventory", "L-2025-OU"],
    ):  # fmt: skip
        result = runner.invoke(app, ["--db", url, *command], env=ENV)
        assert result.exit_code == 0, (command, result.stdout, result.stderr)
    code, out = _verify(_login(pg_server, secured, CURATOR))
    assert code == 0, out


def _loosen(url: str) -> None:
    """Put the policy back as it was before revision 0010, and drop its function."""
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"ALTER POLICY researcher_append ON ledger_event WITH CHECK ({OLD_CHECK})")
        admin.execute("DROP FUNCTION sampleloans_event_is_lab_work(text, text)")
        admin.execute("UPDATE alembic_version SET version_num = '0009_case_twin_indexes'")


def test_verify_names_the_loose_event_policy_and_db_upgrade_narrows_it(
    pg_server: PgServer,
    demo_template: str,
) -> None:
    """A ledger secured before revision 0010: `verify` names the policy (exit 1), a forged
    `loan.closed` gets in; `db upgrade` (the DBA) installs the check, then the same forgery is
    refused and `verify` names only the one already in the chain."""
    with secured_copy(pg_server, demo_template) as url:
        _loosen(url)
        database = url.rsplit("/", 1)[1]
        code, out = _verify(_login(pg_server, database, CURATOR))
        assert code == 1, out
        assert "INSERT policy on ledger_event lets them append any kind of event" in out
        # the schema note names who may run it: a curator's own login may not alter the tables
        assert "the DBA (a superuser) runs 'sampleloans db upgrade', --as a curator, to" in out
        _forge(_login(pg_server, database), "loan.closed", _payload(number="L-2025-OU"))
        upgrade = CliRunner().invoke(app, ["--db", url, "--as", CURATOR, "db", "upgrade"], env=ENV)
        assert upgrade.exit_code == 0, upgrade.stderr
        assert f"from 0009_case_twin_indexes to {db.SCHEMA_HEAD}" in upgrade.stdout
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            _forge(_login(pg_server, database), "loan.closed", _payload(number="L-2025-OU"))
        code, out = _verify(_login(pg_server, database, CURATOR))
        assert code == 1, out
        assert "(loan.closed) was recorded by 'anand@open.example', a researcher" in out
        assert "INSERT policy on ledger_event" not in out


def _psql() -> str:
    """The psql client the DBA runs the script with (the server's binaries hold one too)."""
    found = shutil.which("psql") or shutil.which("psql", path="/usr/lib/postgresql/15/bin")
    if found is None:
        pytest.fail("no psql client: install postgresql-client to run this test")
    return found


def _run_script(url: str, script: str) -> subprocess.CompletedProcess[str]:
    """`psql -v ON_ERROR_STOP=1 -f -` with the script on stdin, as a DBA runs it."""
    return subprocess.run(
        [_psql(), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", "-"],
        input=script, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _script(url: str, since: str | None = None) -> str:
    args = ["--db", url, "db", "upgrade", "--sql", *(["--from", since] if since else [])]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_the_whole_upgrade_script_runs_in_psql(pg_server: PgServer) -> None:
    """`db upgrade --sql` from an empty database, run by psql: every statement passes (before:
    ERROR "too many parameters specified for RAISE"), the functions raise with their
    placeholders, and the database is at this release's revision."""
    with fresh_database(pg_server) as url:
        script = _script(url)
        assert "%%" not in script
        done = _run_script(url, script)
        assert done.returncode == 0, done.stderr
        with psycopg.connect(url) as connection:
            revision = connection.execute("SELECT version_num FROM alembic_version").fetchone()
            source = connection.execute(
                "SELECT prosrc FROM pg_proc WHERE proname = 'ledger_event_next'"
            ).fetchone()
        assert revision == (db.SCHEMA_HEAD,)
        assert source is not None and "seq % expected, % given" in source[0]


def test_the_script_from_0009_secures_a_ledger_in_psql(
    pg_server: PgServer, demo_template: str
) -> None:
    """A secured ledger at 0009 with its old policy, upgraded by the DBA with the script
    (`--sql --from 0009_case_twin_indexes`) in psql: verify is clean and the forgery refused."""
    with secured_copy(pg_server, demo_template) as url:
        _loosen(url)
        done = _run_script(url, _script(url, "0009_case_twin_indexes"))
        assert done.returncode == 0, done.stderr
        database = url.rsplit("/", 1)[1]
        code, out = _verify(_login(pg_server, database, CURATOR))
        assert code == 0, out
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            _forge(_login(pg_server, database), "loan.closed", _payload(number="L-2025-OU"))


def test_people_add_print_sql_on_a_secured_ledger_runs_in_psql(
    pg_server: PgServer, secured: str
) -> None:
    """On a secured ledger `people add --print-sql` has made the login role: what it prints for
    the DBA no longer starts with a CREATE ROLE psql refuses ("already exists"); since s37 it
    prints only the interactive `\\password` line, the role being in its group already."""
    email = f"printed-sql-{os.getpid()}@open.example"  # roles outlive the database
    added = CliRunner().invoke(
        app,
        ["--db", _login(pg_server, secured, CURATOR), "people", "add", email, "--name", "P S",
         "--institution", "OU", "--role", "researcher", "--print-sql"],
        env=ENV,
    )  # fmt: skip
    assert added.exit_code == 0, added.stderr
    assert "Login role created" in added.stdout
    assert "CREATE ROLE" not in added.stdout
    printed = [line for line in added.stdout.splitlines() if line.startswith(("GRANT", "\\"))]
    assert printed == [f'\\password "{email}"']
    done = _run_script(
        pg_server.url(secured),
        f"SELECT 1/pg_has_role('{email}', 'sampleloans_researcher', 'MEMBER')::int;",
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.usefixtures("cli_env")
def test_people_add_print_sql_without_a_login_made_is_refused(runner: CliRunner) -> None:
    """Where the ledger makes no login (SQLite here) the SQL it printed created a role in a
    group no server had (s37: refused, exit 2, nothing written; tests/test_sweep_s37a_print_sql)."""
    init = runner.invoke(app, ["init", "--curator-email", CURATOR, "--curator-name", "Li Na"])
    assert init.exit_code == 0, init.stderr
    added = runner.invoke(
        app,
        ["--as", CURATOR, "people", "add", "x@open.example", "--name", "X", "--institution",
         "OU", "--role", "researcher", "--print-sql"],
    )  # fmt: skip
    assert added.exit_code == 2, added.stderr
    assert added.stderr.startswith("Error: --print-sql: this ledger is a SQLite file")


SECOND_CURATOR = "second-curator@naoc.example"


def _second_curator(pg_server: PgServer, url: str) -> str:
    """A second curator of the ledger at `url` (added by the first one's login), with a
    password; their login's URL."""
    database = url.rsplit("/", 1)[1]
    added = CliRunner().invoke(
        app,
        ["--db", _login(pg_server, database, CURATOR), "people", "add", SECOND_CURATOR,
         "--name", "Second Curator", "--institution", "NAOC", "--role", "curator"],
        env=ENV,
    )  # fmt: skip
    assert added.exit_code == 0, added.stderr
    pg_server.admin(
        sql.SQL("ALTER ROLE {} PASSWORD {}")
        .format(sql.Identifier(SECOND_CURATOR), sql.Literal(PASSWORD))
        .as_string(None)
    )
    return _login(pg_server, url.rsplit("/", 1)[1], SECOND_CURATOR)


def _staff_session_after_deactivation(pg_server: PgServer, url: str) -> tuple[int, int, str]:
    """Open the second curator's session, deactivate them (the first curator's command), then
    in that session: the loans it reads, the loans an UPDATE reaches, and what revoking the
    researcher's login says ("" when it ran)."""
    database = url.rsplit("/", 1)[1]
    with (
        psycopg.connect(_second_curator(pg_server, url), autocommit=True) as early,
        sessions_outlive_deactivation(url),
    ):
        _deactivate(pg_server, database, SECOND_CURATOR)
        row = early.execute("SELECT count(*) FROM loan").fetchone()
        assert row is not None
        changed = early.execute("UPDATE loan SET obligations = 'tampered'").rowcount
        try:
            early.execute("SELECT sampleloans_set_login(%s, 'researcher', false)", (RESEARCHER,))
            refused = ""
        except psycopg.errors.InsufficientPrivilege as error:
            refused = str(error)
    return int(row[0]), changed, refused


def test_a_deactivated_curators_open_session_is_no_staff(
    pg_server: PgServer, demo_template: str
) -> None:
    """The second curator's psql session, opened before their deactivation, reads no loan,
    changes none and revokes nobody's login; the researcher still logs in, verify is clean."""
    with secured_copy(pg_server, demo_template) as url:
        seen, changed, refused = _staff_session_after_deactivation(pg_server, url)
        assert (seen, changed) == (0, 0)
        assert f"login {SECOND_CURATOR} is no curator of this ledger" in refused
        database = url.rsplit("/", 1)[1]
        listed = CliRunner().invoke(app, ["--db", _login(pg_server, database), "loans", "list"])
        assert listed.exit_code == 0, listed.stderr
        code, out = _verify(_login(pg_server, database, CURATOR))
        assert code == 0, out


def test_revision_0011_narrows_a_ledger_secured_before_it(
    pg_server: PgServer, demo_template: str
) -> None:
    """The staff test of revision 0008 put back (the role alone) and the ledger stamped 0010:
    `verify` names it, the open session reads all 7 loans; after `db upgrade` by the DBA, none,
    and `verify` is clean."""
    with secured_copy(pg_server, demo_template) as url:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(
                "CREATE OR REPLACE FUNCTION sampleloans_login_is_staff() RETURNS boolean "
                "LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$ "
                "SELECT EXISTS (SELECT 1 FROM person WHERE email = session_user::text "
                "AND role IN ('curator', 'compliance_officer')) $$"
            )
            admin.execute("UPDATE alembic_version SET version_num = '0010_researcher_lab_events'")
        database = url.rsplit("/", 1)[1]
        code, out = _verify(_login(pg_server, database, CURATOR))
        assert code == 1, out
        assert "sampleloans_login_is_staff() does not ask whether the person is active" in out
        with (
            psycopg.connect(_second_curator(pg_server, url), autocommit=True) as early,
            sessions_outlive_deactivation(url),
        ):
            _deactivate(pg_server, database, SECOND_CURATOR)
            assert early.execute("SELECT count(*) FROM loan").fetchone() == (7,)
            upgrade = CliRunner().invoke(
                app, ["--db", url, "--as", CURATOR, "db", "upgrade"], env=ENV
            )
            assert upgrade.exit_code == 0, upgrade.stderr
            assert f"from 0010_researcher_lab_events to {db.SCHEMA_HEAD}" in upgrade.stdout
            assert early.execute("SELECT count(*) FROM loan").fetchone() == (0,)
        code, out = _verify(_login(pg_server, database, CURATOR))
        assert code == 0, out


def test_what_the_catalogs_show_a_researcher_is_what_the_readme_says(
    pg_server: PgServer, secured: str
) -> None:
    """The README's honest limit, checked: a researcher's psql reads another institution's
    researcher's login in pg_roles and the loan table's row count in pg_stat_user_tables, but
    no value of a table under row-level security in pg_stats (after ANALYZE)."""
    with psycopg.connect(pg_server.url(secured), autocommit=True) as admin:
        admin.execute("ANALYZE")
    with psycopg.connect(_login(pg_server, secured)) as connection:
        logins = connection.execute(
            "SELECT count(*) FROM pg_roles WHERE rolname = 'muenker@uni-koeln.example'"
        ).fetchone()
        mine = connection.execute("SELECT count(*) FROM loan").fetchone()
        counted = connection.execute(
            "SELECT n_live_tup FROM pg_stat_user_tables WHERE relname = 'loan'"
        ).fetchone()
        stats = connection.execute(
            "SELECT count(*) FROM pg_stats WHERE tablename IN ('loan', 'sample', 'person')"
        ).fetchone()
    assert logins == (1,)
    assert mine == (1,)
    assert counted is not None and counted[0] > 1  # every institution's loans, counted
    assert stats == (0,)


@pytest.mark.usefixtures("cli_env")
def test_the_schema_note_on_sqlite_names_a_curator(runner: CliRunner, db_path: Path) -> None:
    """Where no DBA stands between the curator and the tables (SQLite), the note names them."""
    init = runner.invoke(app, ["init", "--curator-email", CURATOR, "--curator-name", "Li Na"])
    assert init.exit_code == 0, init.stderr
    with sqlite3.connect(db_path) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0009_case_twin_indexes'")
    found = runner.invoke(app, ["--as", CURATOR, "verify"])
    assert "a curator runs 'sampleloans db upgrade' to bring it up." in found.stderr


def test_a_sampleloans_user_other_than_the_login_is_named_as_such(
    pg_server: PgServer, secured: str
) -> None:
    """SAMPLELOANS_USER set in the profile (the README's single-user setup) to someone else than
    the login: exit 4, and the line names the variable, not only `--as` the user never typed."""
    result = CliRunner().invoke(
        app,
        ["--db", _login(pg_server, secured), "loans", "list"],
        env={**ENV, "SAMPLELOANS_USER": CURATOR},
    )
    assert result.exit_code == 4, result.stdout
    assert result.stderr.startswith(
        f"Error: --as (SAMPLELOANS_USER): {CURATOR} is not the login of this connection "
        f"({RESEARCHER});"
    ), result.stderr
    assert result.stdout == ""


def test_people_add_says_when_the_login_is_another_ledgers(
    pg_server: PgServer, secured: str
) -> None:
    """A person whose login role the server already has (another ledger's researcher, made by
    that ledger's `people add`): this ledger's `people add` no longer says it created the role
    and that the DBA sets its password; it says the login exists and logs in here as it is."""
    email = f"shared-login-{os.getpid()}@open.example"  # roles outlive the database
    pg_server.admin(f'CREATE ROLE "{email}" LOGIN')
    pg_server.admin(f'GRANT sampleloans_researcher TO "{email}"')
    added = CliRunner().invoke(
        app,
        ["--db", _login(pg_server, secured, CURATOR), "people", "add", email, "--name", "S L",
         "--institution", "OU", "--role", "researcher"],
        env=ENV,
    )  # fmt: skip
    assert added.exit_code == 0, added.stderr
    assert "Login role created" not in added.stdout
    assert "Their login role already exists on this server (roles are cluster-wide" in added.stdout
