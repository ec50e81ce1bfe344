"""Sweep s20 (several sites on PostgreSQL): what a researcher's own login saw and wrote, tried on
the throwaway cluster with the CLI and with psycopg as `psql` does.

- `custody history --json` / `--jsonl` showed a researcher the lender's operating-system account
  of every event (`os_user`, e.g. `root`): now null for a researcher, on both engines (the
  service decides, so every output follows).
- A researcher's login indexed their own new event under any record but another institution's
  loan: the lender, a curator, another institution's sample. The event then showed in that
  record's history; `verify` named it, for good. The database now refuses a subject the event is
  not about (the INSERT policy asks `sampleloans_subject_of_lab_event`), and `verify` names a
  policy that lacks the test.
- `people deactivate` on a secured ledger revokes a login that is the server's: the person can no
  longer log in to any database there. The command now says so.
"""

import json
import os
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from tests.conftest import demo_env
from tests.pgcluster import PgServer, fresh_database
from tests.test_sweep_pg_attacks import (
    CURATOR,
    ENV,
    OWN_EVENT,
    PASSWORD,
    RESEARCHER,
    _events,
    _login,
    _verify,
    secure_demo,
    secured_database,
)

OWN_LOAN = "L-2025-OU"


@pytest.fixture(scope="module")
def secured(pg_server: PgServer) -> Iterator[str]:
    """A secured demo ledger these tests read, or write to and roll back."""
    with secured_database(pg_server, "s20pg") as name:
        yield name


def _history(url: str, *extra: str) -> list[dict[str, object]]:
    """The events of `custody history --loan L-2025-OU` with the login of `url` (--json, or
    --jsonl when asked)."""
    args = ["--db", url, "custody", "history", "--loan", OWN_LOAN, *extra]
    result = CliRunner().invoke(app, args, env=ENV)
    assert result.exit_code == 0, result.stderr
    if "--jsonl" in extra:
        return [json.loads(line) for line in result.stdout.splitlines()]
    events: list[dict[str, object]] = json.loads(result.stdout)["events"]
    return events


@pytest.mark.parametrize("form", ["--json", "--jsonl"])
def test_a_researcher_sees_no_os_account_of_the_lender(
    pg_server: PgServer, secured: str, form: str
) -> None:
    """The researcher's own login reads their loan's history without the lender's OS account;
    the curator's login reads it as before."""
    mine = _history(_login(pg_server, secured), form)
    assert mine and {e["os_user"] for e in mine} == {None}
    staff = _history(_login(pg_server, secured, CURATOR), form)
    assert [e["seq"] for e in staff] == [e["seq"] for e in mine]
    assert all(isinstance(e["os_user"], str) and e["os_user"] for e in staff)


def test_a_researcher_sees_no_os_account_on_sqlite(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The same rule on SQLite, where the researcher is `--as`: the service decides."""
    env = demo_env(tmp_path_factory, RESEARCHER)
    args = ["custody", "history", "--loan", OWN_LOAN, "--json"]
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 0, result.stderr
    events = json.loads(result.stdout)["events"]
    assert events and {e["os_user"] for e in events} == {None}
    staff = CliRunner().invoke(app, ["--as", CURATOR, *args], env=env)
    assert all(e["os_user"] for e in json.loads(staff.stdout)["events"])


FOREIGN_SUBJECTS = {
    "the lender": "'institution', 'NAOC'",
    "a curator": "'person', 'curator@naoc.example'",
    "another institution's sample": "'sample', 'CE5C0000YJYX052'",
    "another institution's agreement": "'agreement', 'AG-2025-UoC'",
    "a sample of their loan the event does not name": "'sample', 'CE5C0300YJFM00307'",
    "a made-up kind of subject": "'mission', 'Chang''e-5'",
}


@pytest.mark.parametrize("subject", FOREIGN_SUBJECTS.values(), ids=list(FOREIGN_SUBJECTS))
def test_a_researcher_indexes_their_event_only_under_what_it_is_about(
    pg_server: PgServer, secured: str, subject: str
) -> None:
    """Their own new event (an inventory of their loan) under a record it is not about: the
    database refuses the subject row; nothing is written."""
    before = _events(pg_server, secured)
    with psycopg.connect(_login(pg_server, secured)) as connection:
        connection.execute(OWN_EVENT)
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            connection.execute(
                "INSERT INTO event_subject (seq, subject_type, subject_key) "
                f"SELECT h.seq, {subject} FROM sampleloans_chain_head() h"
            )
    assert _events(pg_server, secured) == before


def test_a_researchers_lab_event_subjects_still_go_in(pg_server: PgServer, secured: str) -> None:
    """What `ledger/apply.py` indexes an inventory of their loan under (the loan, its
    institution, agreement and PI) goes in (rolled back: the event is forged)."""
    with psycopg.connect(_login(pg_server, secured)) as connection:
        connection.execute(OWN_EVENT)
        for subject in (
            "'loan', 'L-2025-OU'",
            "'institution', 'OU'",
            "'agreement', 'AG-2025-OU'",
            "'person', 'anand@open.example'",
        ):
            connection.execute(
                "INSERT INTO event_subject (seq, subject_type, subject_key) "
                f"SELECT h.seq, {subject} FROM sampleloans_chain_head() h"
            )
        connection.rollback()


def test_a_researchers_consumption_through_the_cli_is_indexed(pg_server: PgServer) -> None:
    """`loans consume` with the researcher's own login: the sample, loan, institution,
    agreement and PI go in through the policy, and verify is clean."""
    with fresh_database(pg_server) as url:
        secure_demo(pg_server, url)
        database = url.rsplit("/", 1)[1]
        args = ["--db", _login(pg_server, database), "loans", "consume", OWN_LOAN]
        args += [
            "--sample",
            "CE5C0200YJFM00112",
            "--mass",
            "1 mg",
            "--technique",
            "SEM",
            "--non-destructive",
        ]
        done = CliRunner().invoke(app, args, env=ENV)
        assert done.exit_code == 0, done.stderr
        code, out = _verify(_login(pg_server, database, CURATOR))
        assert code == 0, out


def test_verify_names_a_subject_policy_that_indexes_anything(pg_server: PgServer) -> None:
    """The researchers' INSERT policy on event_subject put back as it was (their new event,
    not another institution's loan): verify names it (exit 1); `db secure` puts it back."""
    with fresh_database(pg_server) as url:
        secure_demo(pg_server, url)
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("DROP POLICY researcher_append ON event_subject")
            admin.execute(
                "CREATE POLICY researcher_append ON event_subject FOR INSERT "
                "TO sampleloans_researcher WITH CHECK (sampleloans_event_is_new_own(seq) AND "
                "(subject_type <> 'loan' OR sampleloans_loan_is_mine(subject_key)))"
            )
        curator = _login(pg_server, url.rsplit("/", 1)[1], CURATOR)
        code, out = _verify(curator)
        assert code == 1, out
        assert "lets them index their own event under any record" in out
        again = CliRunner().invoke(app, ["--db", url, "--as", CURATOR, "db", "secure"], env=ENV)
        assert again.exit_code == 0, again.stderr
        assert _verify(curator)[0] == 0


def test_login_changes_say_they_are_server_wide(pg_server: PgServer) -> None:
    """A compliance officer added to one secured ledger, deactivated, reactivated and made a
    curator there: each command says what it did to the login is server-wide, and it is (the
    `postgres` database refuses the login while deactivated)."""
    email = f"s20pg-{os.getpid()}@naoc.example"
    with fresh_database(pg_server) as url:
        secure_demo(pg_server, url)
        curator = _login(pg_server, url.rsplit("/", 1)[1], CURATOR)

        def people(*args: str) -> str:
            result = CliRunner().invoke(app, ["--db", curator, "people", *args], env=ENV)
            assert result.exit_code == 0, result.stderr
            return result.stdout

        people("add", email, "--name", "Temp", "--institution", "NAOC", "--role",
               "compliance-officer")  # fmt: skip
        pg_server.admin(
            sql.SQL("ALTER ROLE {} PASSWORD {}")
            .format(sql.Identifier(email), sql.Literal(PASSWORD))
            .as_string(None)
        )
        elsewhere = _login(pg_server, "postgres", email)
        psycopg.connect(elsewhere).close()
        off = people("deactivate", email, "--reason", "left")
        assert "revoked server-wide" in off
        assert "any database on this PostgreSQL server, another ledger's too" in off
        with pytest.raises(psycopg.OperationalError, match="not permitted to log in"):
            psycopg.connect(elsewhere)
        on = people("reactivate", email, "--reason", "back")
        assert "Their login is restored server-wide" in on
        psycopg.connect(elsewhere).close()
        moved = people("set-role", email, "--role", "curator", "--reason", "promoted")
        assert "in every ledger on this PostgreSQL server they log in as a curator" in moved
        with psycopg.connect(elsewhere) as connection:
            member = connection.execute(
                "SELECT pg_has_role(session_user, 'sampleloans_curator', 'MEMBER')"
            ).fetchone()
        assert member == (True,)
        pg_server.admin(sql.SQL("DROP ROLE {}").format(sql.Identifier(email)).as_string(None))


def test_people_on_sqlite_say_nothing_of_logins(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """SQLite has no logins: the command's one line, as before."""
    env = demo_env(tmp_path_factory, CURATOR)
    args = ["people", "deactivate", "pi@brown.example", "--reason", "left"]
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("Deactivated pi@brown.example; event ")
    assert "server-wide" not in result.stdout
    back = ["people", "reactivate", "pi@brown.example", "--reason", "back"]
    again = CliRunner().invoke(app, back, env=env)
    assert again.exit_code == 0, again.stderr
    assert len(again.stdout.splitlines()) == 1 and "server-wide" not in again.stdout


def test_the_subject_function_is_no_oracle_on_other_events(
    pg_server: PgServer, secured: str
) -> None:
    """`sampleloans_subject_of_lab_event` runs as the owner: called in psql on another
    institution's event it answers false, as for any event not just appended in the login's
    name (it does not tell which loan, agreement or PI an event hidden from them is about)."""
    with psycopg.connect(pg_server.url(secured)) as admin:
        found = admin.execute(
            "SELECT seq FROM ledger_event WHERE kind = 'loan.consumed' "
            "AND payload::jsonb ->> 'number' = 'L-2025-UoC' ORDER BY seq LIMIT 1"
        ).fetchone()
    assert found is not None
    with psycopg.connect(_login(pg_server, secured)) as connection:
        answers = connection.execute(
            "SELECT sampleloans_subject_of_lab_event(%s, 'loan', 'L-2025-UoC'), "
            "sampleloans_subject_of_lab_event(%s, 'person', 'muenker@uni-koeln.example')",
            (found[0], found[0]),
        ).fetchone()
    assert answers == (False, False)


def test_a_researchers_write_waiting_past_the_timeout_exits_3(
    pg_server: PgServer, secured: str
) -> None:
    """The researcher's own login records an inventory while another writer holds the lock:
    one line, exit 3, no event appended (their lab write takes the same lock as the staff's)."""
    before = _events(pg_server, secured)
    with psycopg.connect(pg_server.url(secured)) as holder:
        holder.execute("SELECT pg_advisory_xact_lock(%s)", (db.WRITER_LOCK_KEY,))
        held_by = db.LockHolder(holder.info.user, holder.info.backend_pid)
        args = ["--db", _login(pg_server, secured), "loans", "inventory", OWN_LOAN]
        blocked = CliRunner().invoke(
            app,
            args,
            env={
                **ENV,
                "SAMPLELOANS_NOW": "2026-06-01T00:00:00Z",
                "SAMPLELOANS_LOCK_TIMEOUT": "0.3",
            },
        )
    assert blocked.exit_code == 3, (blocked.stdout, blocked.stderr)
    assert blocked.stderr == f"Error: {db.locked_message(held_by)}\n"  # the holder named
    assert _events(pg_server, secured) == before
