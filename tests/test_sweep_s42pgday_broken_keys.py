"""Sweep s42 "pgday": a key cannot be put back over events that break it.

`db secure` (a secured ledger) and `db upgrade` (any other) re-create the chain's triggers and
`ledger_event`'s keys that `verify` names missing. If, while a key was gone, the owner wrote
events that break it (a second event claiming the same predecessor, a hash repeated), the key
cannot be created again: that was a traceback of psycopg's UniqueViolation. Now it is one line,
exit 3 (a ledger changed outside the program), naming PostgreSQL's reason, and nothing changes:
the triggers stay as the tampering left them and `verify` still names both the missing keys and
the events that break them.
"""

from collections.abc import Iterator

import psycopg
import pytest

from tests.pg_secured import COMPLIANCE, CURATOR, as_dba, cli, secured_copy, secured_demo_template
from tests.pgcluster import PgServer, fresh_database

__all__ = ["secured_demo_template"]  # the module fixture the copies are made from

FORGED = (
    "ALTER TABLE ledger_event DISABLE TRIGGER ALL",
    "ALTER TABLE ledger_event DROP CONSTRAINT ledger_event_hash_key",
    "DROP INDEX ledger_event_prev_hash_key",
    # a copy of event 5 as the next event: its predecessor and its hash claimed twice
    "CREATE TEMP TABLE forged AS SELECT * FROM ledger_event WHERE seq = 5",
    "UPDATE forged SET seq = (SELECT max(seq) + 1 FROM ledger_event)",
    "INSERT INTO ledger_event SELECT * FROM forged",
)
"""What an owner who skips the application can do: drop two keys, then write past them."""


@pytest.fixture
def secured(pg_server: PgServer, secured_demo_template: str) -> Iterator[str]:
    """A copy of the secured demo this test may change as the DBA."""
    with secured_copy(pg_server, secured_demo_template, "s42keys") as url:
        yield url


def _disabled_triggers(url: str) -> list[str]:
    """The names of `ledger_event`'s own triggers that do not fire."""
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'ledger_event'::regclass "
            "AND NOT tgisinternal AND tgenabled = 'D' ORDER BY tgname"
        ).fetchall()
    return [str(row[0]) for row in rows]


def _refused_in_one_line(url: str, *args: str) -> str:
    """Run a mending command that must refuse: exit 3, one line; the line."""
    done = cli(url, "--as", CURATOR, *args)
    assert done.exit_code == 3, done.output
    lines = done.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.output, done.output
    assert lines[0].startswith("Error: the ledger's events break a key the database enforces")
    assert "is duplicated" in lines[0]  # PostgreSQL's own reason, its detail included
    assert "nothing was changed" in lines[0]
    return lines[0]


def test_db_secure_over_forged_events_is_one_line_and_changes_nothing(secured: str) -> None:
    as_dba(secured, *FORGED)
    disabled = _disabled_triggers(secured)
    assert disabled  # the tampering holds before the command
    _refused_in_one_line(secured, "db", "secure")
    assert _disabled_triggers(secured) == disabled
    found = cli(secured, "--as", COMPLIANCE, "verify")
    assert found.exit_code == 1, found.output
    assert "ledger_event has no unique index on prev_hash" in found.output


def test_db_upgrade_over_forged_events_is_one_line_and_changes_nothing(
    pg_server: PgServer,
) -> None:
    with fresh_database(pg_server) as url:
        made = cli(url, "init", "--curator-email", CURATOR, "--curator-name", "Li Na")
        assert made.exit_code == 0, made.output
        as_dba(url, *FORGED)
        disabled = _disabled_triggers(url)
        _refused_in_one_line(url, "db", "upgrade")
        assert _disabled_triggers(url) == disabled
