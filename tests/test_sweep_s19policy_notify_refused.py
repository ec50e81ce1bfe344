"""Sweep s19 (policy): one mailbox the SMTP server refuses does not hold back the others.

Before, the first 550 from the server (a PI's address gone stale) ended `notify` at once, exit 3:
every PI after that one in the run got nothing, until someone fixed or removed the refused
address. Now the others are still sent and recorded; at the end one `Error:` line per refused
recipient names it, its documents and the server's reply; exit 3 (README "Exit codes": the
environment, here the mail server); nothing is recorded for it, so the next run sends only it.
"""

from pathlib import Path
from typing import Any

import pytest

from tests.i15_statement_helpers import copy_ledger, make_checkpoint, make_demo
from tests.mail import RefusingInbox, served
from tests.test_i15_notify import notify, sent_rows, smtp_env


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_demo(tmp_path_factory.mktemp("demo") / "d")


@pytest.fixture
def ledger(demo: Path, tmp_path: Path) -> dict[str, Any]:
    path = copy_ledger(demo, tmp_path / "ledger.db")
    return {"db": path, **make_checkpoint(path, tmp_path), "dir": tmp_path}


REFUSED = "muenker@uni-koeln.example"  # Cologne's PI: early in the run (institution order)


def test_the_others_are_sent_and_the_refused_one_is_named(ledger: dict[str, Any]) -> None:
    everyone = RefusingInbox("nobody@nowhere.example")  # what a run sends when none is refused
    inbox = RefusingInbox(REFUSED)
    with served(inbox) as controller:
        result = notify(smtp_env(ledger, controller.port), ledger)
    assert result.exit_code == 3, (result.stdout, result.stderr)
    port = controller.port
    assert result.stderr == (
        f"Error: SMTP 127.0.0.1:{port} refused {REFUSED}: 550 5.1.1 mailbox unavailable; its "
        "statement not sent, nothing recorded: correct the address or the mailbox and run "
        "'notify' again to send it\n"
    )
    delivered = sorted(rcpt[0] for rcpt, _m in inbox.messages)
    assert REFUSED not in delivered
    assert sorted(r for r, _k, _s in sent_rows(ledger)) == delivered
    assert ", 1 refused for the checkpoint of" in result.stdout, result.stdout
    # every other PI got theirs: a second server accepting all sends only the refused one
    with served(everyone) as controller:
        again = notify(smtp_env(ledger, controller.port), ledger)
    assert again.exit_code == 0, again.stderr
    assert [rcpt for rcpt, _m in everyone.messages] == [[REFUSED]]
    assert f"1 sent, {len(delivered)} already sent for the checkpoint of" in again.stdout, (
        again.stdout
    )
    assert len(delivered) >= 5  # the demo's other PIs with an open loan


def test_the_session_goes_on_after_a_refused_mailbox() -> None:
    """mail level: the refusal is `MessageRefused` (exit 3) with the reply, and the same SMTP
    session then hands over the next message."""
    from email.message import EmailMessage

    from sampleloans.mail import MessageRefused, SmtpSettings, smtp_session

    inbox = RefusingInbox(REFUSED)
    with served(inbox) as controller:
        settings = SmtpSettings("127.0.0.1", controller.port, "loans@naoc.example")
        with smtp_session(settings) as smtp:
            for to in (REFUSED, "anand@open.example"):
                message = EmailMessage()
                message["From"], message["To"], message["Subject"] = settings.sender, to, "x"
                message.set_content("x")
                if to == REFUSED:
                    with pytest.raises(MessageRefused) as refused:
                        smtp.send(message)
                else:
                    smtp.send(message)
    assert refused.value.exit_code == 3 and refused.value.recipient == REFUSED
    assert refused.value.reply == "550 5.1.1 mailbox unavailable"
    assert [rcpt for rcpt, _m in inbox.messages] == [["anand@open.example"]]
