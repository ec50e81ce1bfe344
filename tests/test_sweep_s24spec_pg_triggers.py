"""Sweep s24 "spec" (attacker): on PostgreSQL a defence trigger counts only if it fires.

README ("Several sites": `verify` "checks the database's defences (each missing or disabled
trigger is a finding)"; issue 14 point 8: "triggers present and enabled"). `verify` read a
trigger as in place unless `pg_trigger.tgenabled` was 'D'; but `ALTER TABLE … ENABLE REPLICA
TRIGGER` ('R') leaves a trigger that never fires in an ordinary session, so an event could be
rewritten, or a researcher's login change rows without an event, while `verify` said
"PostgreSQL triggers in place". Nor did it look past a trigger's name: the same name over
another definition (`BEFORE UPDATE OF reason`), or the refusing function's body replaced with
`RETURN NEW`, passed. Now each is a finding (exit 1), on the owner's (DBA's) changes alone.
"""

from collections.abc import Iterator

import pytest
from typer.testing import Result

from tests.pg_secured import (
    COMPLIANCE,
    as_dba,
    cli,
    database_copy,
    secured_demo_database,
)
from tests.pgcluster import PgServer


@pytest.fixture(scope="module")
def secured_demo(pg_server: PgServer) -> Iterator[str]:
    """The demo on PostgreSQL, secured (a template each test copies)."""
    with secured_demo_database(pg_server) as name:
        yield name


@pytest.fixture
def copy(pg_server: PgServer, secured_demo: str) -> Iterator[str]:
    """A copy of the secured demo this test may change as the DBA."""
    with database_copy(pg_server, secured_demo, "copy") as url:
        yield url


def _verify(url: str) -> Result:
    return cli(url, "--as", COMPLIANCE, "verify")


def test_the_untouched_copy_verifies(copy: str) -> None:
    result = _verify(copy)
    assert result.exit_code == 0, result.stdout
    assert "PostgreSQL triggers in place" in result.stdout


@pytest.mark.parametrize(
    ("change", "finding"),
    [
        (
            "ALTER TABLE ledger_event ENABLE REPLICA TRIGGER ledger_event_no_update",
            "[schema] trigger ledger_event_no_update fires only in replica mode (ENABLE REPLICA "
            "TRIGGER), never in an ordinary session: the ledger was unprotected",
        ),
        (
            "ALTER TABLE ledger_event ENABLE REPLICA TRIGGER ledger_event_next",
            "[schema] trigger ledger_event_next fires only in replica mode",
        ),
        (
            "ALTER TABLE ledger_event ENABLE REPLICA TRIGGER ledger_event_actor",
            "[defence] trigger ledger_event_actor fires only in replica mode (ENABLE REPLICA "
            "TRIGGER), never in an ordinary session: an event's actor is not checked",
        ),
        (
            "ALTER TABLE loan ENABLE REPLICA TRIGGER projection_write_needs_event",
            "[defence] trigger projection_write_needs_event on loan fires only in replica mode",
        ),
        (
            "DROP TRIGGER ledger_event_no_update ON ledger_event\n"
            "CREATE TRIGGER ledger_event_no_update BEFORE UPDATE OF reason ON ledger_event "
            "FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change('ledger events are append-only')",
            "[schema] trigger ledger_event_no_update is not the ledger's own (it reads: CREATE "
            "TRIGGER ledger_event_no_update BEFORE UPDATE OF reason ON ledger_event",
        ),
        (
            "CREATE OR REPLACE FUNCTION ledger_refuse_change() RETURNS trigger "
            "LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
            "[schema] function ledger_refuse_change() is not the ledger's own (its body was "
            "replaced): the triggers that call it may let anything through",
        ),
    ],
)
def test_a_trigger_that_does_not_fire_as_written_is_a_finding(
    copy: str, change: str, finding: str
) -> None:
    as_dba(copy, *change.split("\n"))  # one statement a line
    result = _verify(copy)
    assert result.exit_code == 1, result.stdout
    assert finding in result.stdout
    assert "triggers in place" not in result.stdout


def test_an_event_rewritten_under_a_replica_trigger_is_named_with_the_trigger(copy: str) -> None:
    # what the lapse allows: the DBA's ordinary session rewrites an event unrefused
    as_dba(
        copy,
        "ALTER TABLE ledger_event ENABLE REPLICA TRIGGER ledger_event_no_update",
        "UPDATE ledger_event SET reason = 'rewritten' WHERE seq = 5",
    )
    result = _verify(copy)
    assert result.exit_code == 1
    assert "event 5 (institution.added) does not match its hash" in result.stdout
    assert "ledger_event_no_update fires only in replica mode" in result.stdout


def test_enable_always_is_still_in_place(copy: str) -> None:
    # 'A' fires in every session, replica ones too: stronger, not weaker
    as_dba(copy, "ALTER TABLE ledger_event ENABLE ALWAYS TRIGGER ledger_event_no_update")
    result = _verify(copy)
    assert result.exit_code == 0, result.stdout
