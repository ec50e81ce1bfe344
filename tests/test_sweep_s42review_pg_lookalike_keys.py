"""Sweep s42 review: a key of `ledger_event` replaced by a look-alike under its own name.

Found (review of s42-pgday): `db upgrade` / `db secure` put back a key `verify` names missing,
but by name: the unique index on prev_hash as `CREATE UNIQUE INDEX IF NOT EXISTS
ledger_event_prev_hash_key`, a constraint as `ADD CONSTRAINT hash_is_sha256 …`. An owner who
dropped one and made another of the same name that enforces less (a plain index; a CHECK that
lets any length by) left `verify` naming it, with "the DBA installs it again with 'db upgrade'",
while `db upgrade` skipped the index (its name exists) and died on the constraint with
psycopg's DuplicateObject traceback. Now the look-alike is dropped and the key made again, and
`verify` says OK after, on a secured ledger (`db secure`) too.
"""

from collections.abc import Iterator

import pytest

from tests.pg_secured import COMPLIANCE, CURATOR, as_dba, cli, secured_copy, secured_demo_template
from tests.pgcluster import PgServer, fresh_database

__all__ = ["secured_demo_template"]  # the module fixture the copies are made from

LOOKALIKES = {
    "a plain index": (
        "DROP INDEX ledger_event_prev_hash_key",
        "CREATE INDEX ledger_event_prev_hash_key ON ledger_event (prev_hash)",
    ),
    "a unique constraint of two columns": (
        "DROP INDEX ledger_event_prev_hash_key",
        "ALTER TABLE ledger_event ADD CONSTRAINT ledger_event_prev_hash_key "
        "UNIQUE (prev_hash, seq)",
    ),
    "a check that lets any length by": (
        "ALTER TABLE ledger_event DROP CONSTRAINT hash_is_sha256",
        "ALTER TABLE ledger_event ADD CONSTRAINT hash_is_sha256 CHECK (length(hash) >= 0)",
    ),
}


@pytest.mark.parametrize("case", sorted(LOOKALIKES))
def test_db_upgrade_replaces_a_lookalike_key(pg_server: PgServer, case: str) -> None:
    with fresh_database(pg_server) as url:
        made = cli(url, "init", "--curator-email", CURATOR, "--curator-name", "Li Na")
        assert made.exit_code == 0, made.output
        as_dba(url, *LOOKALIKES[case])
        found = cli(url, "--as", CURATOR, "verify")
        assert found.exit_code == 1, found.output
        assert "the DBA installs it again with 'db upgrade'" in found.output
        mended = cli(url, "--as", CURATOR, "db", "upgrade")
        assert mended.exit_code == 0, mended.output
        assert "Re-created the chain's triggers, functions and keys" in mended.output
        checked = cli(url, "--as", CURATOR, "verify")
        assert checked.exit_code == 0, checked.output


@pytest.fixture
def secured(pg_server: PgServer, secured_demo_template: str) -> Iterator[str]:
    """A copy of the secured demo this test may change as the DBA."""
    with secured_copy(pg_server, secured_demo_template, "s42look") as url:
        yield url


def test_db_secure_replaces_a_lookalike_index(secured: str) -> None:
    as_dba(secured, *LOOKALIKES["a plain index"])
    found = cli(secured, "--as", COMPLIANCE, "verify")
    assert found.exit_code == 1, found.output
    assert "the DBA installs it again with 'db secure'" in found.output
    mended = cli(secured, "--as", CURATOR, "db", "secure")
    assert mended.exit_code == 0, mended.output
    checked = cli(secured, "--as", COMPLIANCE, "verify")
    assert checked.exit_code == 0, checked.output
