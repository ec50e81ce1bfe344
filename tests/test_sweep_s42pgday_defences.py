"""Sweep s42 "pgday" (a working day on PostgreSQL): what verify names, the DBA can mend.

README ("Several sites"): `verify` "checks the database's defences (each trigger missing,
disabled, ... and a trigger function whose body was replaced, is a finding)". It named them
("[schema] trigger ledger_meta_no_delete is missing: the ledger was unprotected") and stopped
every checkpoint on them, but no command put them back: `db secure` run again, the remedy its
own [defence] findings name, re-made the hardening and left the chain's triggers as they were,
and `db upgrade` found "nothing to do". Now the finding names the command that mends it, and
that command does: `db secure` on a secured ledger (it also hands them to the NOLOGIN owner),
`db upgrade` on any other. And a login granted UPDATE on `ledger_event` was told "a
researcher's lab events change only none of its columns": now "change none of its columns".
Nor did `verify` look at `ledger_event`'s keys, which the README counts among the database's
defences: with the unique index on `prev_hash`, `UNIQUE (hash)` and the hash's length check
dropped it said "verify: OK"; now each missing is a finding, mended the same way.
`db secure` said of a person the ledger records as deactivated "login role … (it logs in
already, with the password it has)" as it made that role NOLOGIN, for every ledger on the
server: now it says so.
What a researcher's login reads of the chain through `sampleloans_chain_head()` (the newest
event's time, whoever wrote it) is now in the README's list of what they read beyond their rows.
"""

from collections.abc import Iterator

import psycopg
import pytest

from tests.pg_secured import (
    COMPLIANCE,
    CURATOR,
    as_dba,
    cli,
    own_login,
    secured_copy,
    secured_demo_template,
)
from tests.pgcluster import PgServer, fresh_database

__all__ = ["secured_demo_template"]  # the module fixture the copies are made from

TAMPERING = (
    "ALTER TABLE ledger_event DISABLE TRIGGER ledger_event_no_update",
    "DROP TRIGGER ledger_meta_no_delete ON ledger_meta",
    "CREATE OR REPLACE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql "
    "AS $$ BEGIN RETURN NULL; END $$",
)
"""What the owner (the DBA) may do to the chain's own defences."""


@pytest.fixture
def secured(pg_server: PgServer, secured_demo_template: str) -> Iterator[str]:
    """A copy of the secured demo this test may change as the DBA."""
    with secured_copy(pg_server, secured_demo_template, "s42def") as url:
        yield url


KEYS_DROPPED = (
    "DROP INDEX ledger_event_prev_hash_key",
    "ALTER TABLE ledger_event DROP CONSTRAINT ledger_event_hash_key",
    "ALTER TABLE ledger_event DROP CONSTRAINT hash_is_sha256",
)
KEY_FINDINGS = (
    "[schema] ledger_event has no unique index on prev_hash (ledger_event_prev_hash_key): two "
    "events could claim the same predecessor",
    "[schema] ledger_event has no UNIQUE (hash) constraint (ledger_event_hash_key)",
    "[schema] ledger_event has no CHECK ((length((hash)::text) = 64)) constraint",
)


def _update_refused(url: str) -> bool:
    """Whether an UPDATE of an event by the superuser is refused by the append-only trigger."""
    with psycopg.connect(url, autocommit=True) as connection:
        try:
            connection.execute("UPDATE ledger_event SET reason = reason WHERE seq = 1")
        except psycopg.errors.IntegrityConstraintViolation as exc:
            return "append-only" in str(exc)
    return False


def test_db_secure_again_mends_the_chain_triggers_verify_names(secured: str) -> None:
    as_dba(secured, *TAMPERING, *KEYS_DROPPED)
    assert not _update_refused(secured)
    found = cli(secured, "--as", COMPLIANCE, "verify")
    assert found.exit_code == 1, found.output
    for finding in (
        "[schema] trigger ledger_event_no_update is disabled: the ledger was unprotected; "
        "the DBA installs it again with 'db secure'",
        "[schema] trigger ledger_meta_no_delete is missing: the ledger was unprotected; "
        "the DBA installs it again with 'db secure'",
        "[schema] function ledger_refuse_change() is not the ledger's own",
        *KEY_FINDINGS,
    ):
        assert finding in found.output
    assert cli(secured, "--as", CURATOR, "db", "secure").exit_code == 0
    mended = cli(secured, "--as", COMPLIANCE, "verify")
    assert mended.exit_code == 0, mended.output
    assert "PostgreSQL triggers in place, row-level security policies the ledger's own" in (
        mended.output
    )
    assert _update_refused(secured)


def test_db_upgrade_mends_them_on_a_ledger_without_logins(pg_server: PgServer) -> None:
    with fresh_database(pg_server) as url:
        made = cli(url, "init", "--curator-email", CURATOR, "--curator-name", "Li Na")
        assert made.exit_code == 0, made.output
        as_dba(url, *TAMPERING, *KEYS_DROPPED)
        found = cli(url, "--as", CURATOR, "verify")
        assert found.exit_code == 1, found.output
        assert "the DBA installs it again with 'db upgrade'" in found.output
        assert all(finding in found.output for finding in KEY_FINDINGS)
        upgraded = cli(url, "--as", CURATOR, "db", "upgrade")
        assert upgraded.exit_code == 0, upgraded.output
        assert "nothing to do" not in upgraded.output
        assert "Re-created the chain's triggers, functions and keys" in upgraded.output
        assert cli(url, "--as", CURATOR, "verify").exit_code == 0
        assert _update_refused(url)
        again = cli(url, "--as", CURATOR, "db", "upgrade")
        assert "nothing to do" in again.output
        assert "Re-created" not in again.output


def test_a_login_granted_update_on_events_reads_as_plain_words(secured: str) -> None:
    as_dba(secured, 'GRANT UPDATE ON ledger_event TO "moynier@ipgp.example"')
    found = cli(secured, "--as", COMPLIANCE, "verify")
    assert found.exit_code == 1, found.output
    assert (
        "moynier@ipgp.example may UPDATE ledger_event (actor, corrects_seq, hash, kind, "
        "occurred_at, os_user, payload, prev_hash, reason, recorded_at, seq): a researcher's "
        "lab events change none of its columns; revoke it" in found.output
    )
    assert "only none" not in found.output


def test_a_researchers_login_reads_when_the_ledger_last_changed(
    pg_server: PgServer, secured: str
) -> None:
    curator = own_login(pg_server, secured, CURATOR, "s42-curator-pw")
    moved = cli(curator, "samples", "move", "CE5C0100YJFM00201", "--location", "B")
    assert moved.exit_code == 0, moved.output
    researcher = own_login(pg_server, secured, "moynier@ipgp.example", "s42-pw")
    with psycopg.connect(secured) as dba, psycopg.connect(researcher) as login:
        newest = dba.execute(
            "SELECT recorded_at, kind FROM ledger_event ORDER BY seq DESC"
        ).fetchone()
        assert newest is not None and newest[1] == "sample.moved"
        seen = login.execute("SELECT count(*) FROM ledger_event WHERE kind = 'sample.moved'")
        assert seen.fetchone() == (0,)  # the event itself is not theirs to read
        head = login.execute("SELECT recorded_at FROM sampleloans_chain_head()").fetchone()
    assert head == (newest[0],)


def test_db_secure_says_a_deactivated_persons_role_may_not_log_in(pg_server: PgServer) -> None:
    gone = "s42gone@ipgp.example"  # this test's own: roles are the cluster's, not one ledger's
    with fresh_database(pg_server) as url:
        made = cli(url, "init", "--curator-email", CURATOR, "--curator-name", "Li Na")
        assert made.exit_code == 0, made.output
        for args in (
            (
                "people",
                "add",
                gone,
                "--name",
                "Gone",
                "--institution",
                "IPGP",
                "--role",
                "researcher",
            ),
            ("people", "deactivate", gone, "--reason", "left"),
        ):
            done = cli(url, "--as", CURATOR, *args)
            assert done.exit_code == 0, done.output
        try:
            secured = cli(url, "--as", CURATOR, "db", "secure")
            assert secured.exit_code == 0, secured.output
            assert (
                f"  login role {gone} (deactivated in this ledger: the role may not log in, to "
                "any database on this server)" in secured.output
            )
            assert f'\\password "{gone}"' not in secured.output
            with psycopg.connect(url) as dba:
                found = dba.execute("SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (gone,))
                assert found.fetchone() == (False,)
        finally:
            as_dba(url, f'DROP ROLE IF EXISTS "{gone}"')
