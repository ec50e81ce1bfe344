"""Sweep s42 review: `notify`'s records of what it sent, edited by hand, after s42-years keyed
a notice sent again by when its last obligation fell due (`institution:UoC@TIME`).

Found: `notify` came to read each record's `sent_at` to tell whether an obligation fell due
after the notice went; a record whose time was written without its 'Z' (`2026-11-01T09:00:00`,
SQLite keeps any text) was compared naive with aware and `notify` died with a TypeError
traceback. Now a stored time without a zone is read as the UTC every stored time is (as the
guard reads the head's). And a record whose scope no notify run writes (`institution:UoC@junk`,
`pi:` another person) was no `verify` finding; it is one now, beside the other forged fields.
And an obligation falling due the very moment a notice went was never sent: the notice did
not list it (late is due strictly before now) and the re-send took it as told; the overdue
rule itself now decides what the notice sent listed.
"""

import sqlite3
from contextlib import closing
from typing import Any

from tests.i15_statement_helpers import env_for, invoke
from tests.test_i15_notify import demo, ledger, smtp
from tests.test_sweep_s42years_notify_late_by_time import notices_to, notify

__all__ = ["demo", "ledger", "smtp"]  # the fixtures (a demo per module, a copy per test, a server)

UOC_PI = "muenker@uni-koeln.example"
SENT_AT = "2026-11-01T09:00:00Z"  # UoC's loan fell due 2026-10-25 08:00
YEAR_ON = "2027-04-21T09:00:00Z"  # UoC's inventory fell due 2027-04-20 10:00 since


def edit(ledger: dict[str, Any], *statements: str) -> None:
    """Edit `notification_sent` by hand, as anyone with the file can (its triggers dropped)."""
    with closing(sqlite3.connect(ledger["db"])) as connection:
        for (name,) in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' "
            "AND tbl_name = 'notification_sent'"
        ).fetchall():
            connection.execute(f'DROP TRIGGER "{name}"')
        for statement in statements:
            connection.execute(statement)
        connection.commit()


def test_a_sent_time_without_its_zone_is_read_as_utc(ledger: dict[str, Any], smtp: Any) -> None:
    controller, inbox = smtp
    assert notify(ledger, controller.port, SENT_AT).exit_code == 0
    assert notices_to(inbox, UOC_PI) == 1
    edit(
        ledger,
        "UPDATE notification_sent SET sent_at = '2026-11-01T09:00:00' "
        "WHERE scope = 'institution:UoC'",
    )
    again = notify(ledger, controller.port, YEAR_ON, "--institution", "UoC")
    assert again.exit_code == 0, again.output
    assert again.stderr == ""
    assert "Sent overdue notice of UoC to muenker@uni-koeln.example" in again.stdout
    assert notices_to(inbox, UOC_PI) == 2
    after = notify(ledger, controller.port, YEAR_ON, "--institution", "UoC")
    assert after.stdout.startswith("notify: 0 sent,"), after.output
    assert notices_to(inbox, UOC_PI) == 2


def test_a_scope_no_notify_writes_is_a_verify_finding(ledger: dict[str, Any], smtp: Any) -> None:
    controller, inbox = smtp
    assert notify(ledger, controller.port, SENT_AT).exit_code == 0
    copied = (
        "INSERT INTO notification_sent (recipient, kind, scope, checkpoint, digest, message_id, "
        "sent_at, sent_by, via) SELECT recipient, kind, '{scope}', checkpoint, digest, "
        "message_id, sent_at, sent_by, via FROM notification_sent WHERE scope = '{of}'"
    )
    edit(
        ledger,
        copied.format(scope="institution:UoC@junk", of="institution:UoC"),
        copied.format(scope="institution:UoC@2027-04-20T10:00:00", of="institution:UoC"),
        copied.format(scope="pi:anand@open.example", of=f"pi:{UOC_PI}"),
    )
    again = notify(ledger, controller.port, YEAR_ON, "--institution", "UoC")  # harmless
    assert again.exit_code == 0, again.output
    assert notices_to(inbox, UOC_PI) == 2  # the notice sent again: no forged row stops it
    checked = invoke(env_for(ledger["db"], "compliance@naoc.example", now=YEAR_ON), "verify")
    assert checked.exit_code == 1, checked.output
    found = [line for line in checked.stdout.splitlines() if "is none notify writes" in line]
    assert len(found) == 3, checked.stdout
    assert "its scope 'institution:UoC@junk' is none notify writes for overdue" in found[0]
    assert "its scope 'pi:anand@open.example' is none notify writes for statement" in found[2]


def test_an_obligation_falling_due_the_moment_a_notice_went_is_sent_after(
    ledger: dict[str, Any], smtp: Any
) -> None:
    """Found too: UoC's inventory falls due 2027-04-20 10:00; a notice sent at that very moment
    does not list it (late is due strictly before now), and the re-send compared 'fell due
    after the notice was sent' (10:00 after 10:00: no), so the PI was never told of it. Now the
    overdue rule itself decides what the notice sent listed."""
    controller, inbox = smtp
    at_due = "2027-04-20T10:00:00Z"
    first = notify(ledger, controller.port, at_due, "--institution", "UoC")
    assert first.exit_code == 0, first.output
    assert notices_to(inbox, UOC_PI) == 1
    later = notify(ledger, controller.port, YEAR_ON, "--institution", "UoC")
    assert later.exit_code == 0, later.output
    assert "Sent overdue notice of UoC to muenker@uni-koeln.example" in later.stdout
    assert notices_to(inbox, UOC_PI) == 2
    again = notify(ledger, controller.port, YEAR_ON, "--institution", "UoC")
    assert again.stdout.startswith("notify: 0 sent,"), again.output
    with closing(sqlite3.connect(ledger["db"])) as connection:
        scopes = connection.execute(
            "SELECT scope FROM notification_sent WHERE kind = 'overdue' ORDER BY id"
        ).fetchall()
    assert scopes == [("institution:UoC",), ("institution:UoC@2027-04-20T10:00:00Z",)]
