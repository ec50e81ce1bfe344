"""Sweep s42 (two years of one ledger): an overdue notice for a loan late by time alone.

Found: `notify` keyed what it sent by recipient, kind, scope and checkpoint. A loan falls
overdue with no event (its due date passes), so the ledger and its newest checkpoint stay the
same; a PI whose institution's notice went out before that was never told: `notify` said
"already sent for the checkpoint", and a new checkpoint of the same events has the same size
and root, so it is the same checkpoint to `notify`. Now a notice is sent once more when an
obligation it lists fell due after the one sent for that checkpoint (its scope names when:
`institution:UoC@TIME`), and not again until a later one falls due.
"""

import sqlite3
from typing import Any

from tests.i15_statement_helpers import env_for, invoke
from tests.mail import Inbox, smtp_settings
from tests.test_i15_notify import demo, ledger, smtp

__all__ = ["demo", "ledger", "smtp"]  # the fixtures (a demo per module, a copy per test, a server)

UOC_PI = "muenker@uni-koeln.example"
OU_PI = "anand@open.example"
BEFORE_UOC_DUE = "2026-06-15T09:00:00Z"  # UoC's loan (extended) falls due 2026-10-25 08:00
AFTER_UOC_DUE = "2026-11-01T09:00:00Z"


def notify(ledger: dict[str, Any], port: int, now: str, *args: str) -> Any:
    """`notify` at `now` (the newest checkpoint), pointed at the server on `port`."""
    env = {**env_for(ledger["db"], now=now), **smtp_settings(port)}
    return invoke(env, "notify", *args)


def notices_to(inbox: Inbox, recipient: str) -> int:
    """How many overdue notices `recipient` received."""
    return sum(
        1
        for to, message in inbox.messages
        if to == [recipient] and str(message["Subject"]).startswith("Overdue:")
    )


def test_a_loan_late_by_time_alone_gets_its_notice_once(ledger: dict[str, Any], smtp: Any) -> None:
    controller, inbox = smtp
    first = notify(ledger, controller.port, BEFORE_UOC_DUE)
    assert first.exit_code == 0, first.output
    assert notices_to(inbox, UOC_PI) == 0 and notices_to(inbox, OU_PI) == 1
    later = notify(ledger, controller.port, AFTER_UOC_DUE)  # no event since: same checkpoint
    assert later.exit_code == 0, later.output
    assert "Sent overdue notice of UoC to muenker@uni-koeln.example" in later.stdout
    assert notices_to(inbox, UOC_PI) == 1
    assert notices_to(inbox, OU_PI) == 1  # nothing of OU's fell due since its notice
    again = notify(ledger, controller.port, AFTER_UOC_DUE)
    assert again.exit_code == 0, again.output
    assert again.stdout.startswith("notify: 0 sent,")
    assert notices_to(inbox, UOC_PI) == 1


def test_a_notice_sent_then_late_again_is_sent_once_more(ledger: dict[str, Any], smtp: Any) -> None:
    """UoC's notice went out; a later obligation of UoC falls due with no event (the inventory
    a year after the last, 2027-04-20): the notice goes once more, recorded under a scope that
    names when; a run after that sends nothing; verify accepts the rows."""
    controller, inbox = smtp
    assert notify(ledger, controller.port, AFTER_UOC_DUE).exit_code == 0
    assert notices_to(inbox, UOC_PI) == 1
    year_on = "2027-04-21T09:00:00Z"
    result = notify(ledger, controller.port, year_on, "--institution", "UoC")
    assert result.exit_code == 0, result.output
    assert notices_to(inbox, UOC_PI) == 2
    assert notify(ledger, controller.port, year_on, "--institution", "UoC").stdout.startswith(
        "notify: 0 sent,"
    )
    with sqlite3.connect(ledger["db"]) as connection:
        scopes = [
            scope
            for (scope,) in connection.execute(
                "SELECT scope FROM notification_sent WHERE recipient = ? AND kind = 'overdue' "
                "ORDER BY id",
                (UOC_PI,),
            )
        ]
    assert scopes == ["institution:UoC", "institution:UoC@2027-04-20T10:00:00Z"]
    env = env_for(ledger["db"], "compliance@naoc.example", now=year_on)
    checked = invoke(env, "verify")
    assert checked.exit_code == 0, checked.output


def test_the_outbox_names_the_notice_sent_again_by_its_institution(
    ledger: dict[str, Any], smtp: Any
) -> None:
    controller, _inbox = smtp
    assert notify(ledger, controller.port, AFTER_UOC_DUE).exit_code == 0
    outbox = ledger["dir"] / "outbox"
    result = notify(ledger, controller.port, "2027-04-21T09:00:00Z", "--outbox", str(outbox))
    assert result.exit_code == 0, result.output
    assert "overdue notice of UoC to muenker@uni-koeln.example" in result.stdout
    assert "@2027" not in result.stdout
    assert [p.name for p in outbox.glob("overdue-UoC-*")] == [
        "overdue-UoC-muenker_uni-koeln.example.eml"
    ]
