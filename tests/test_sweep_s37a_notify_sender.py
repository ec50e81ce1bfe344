"""Sweep s37 (task A, users): an SMTP server that refuses the sender (its reply to MAIL FROM).

Before, a 553 to `MAIL FROM:<loans@naoc.example>` ended `notify` with "SMTP …: sending to
terada@osaka-u.example failed: 553 …": it named a recipient, whose address was fine, and not
the sender address at fault nor where it was set. Now each message is refused on one line naming
the sender and its setting (`SAMPLELOANS_SMTP_FROM`, or `--smtp-from` when typed), the message
it held back, and what to do; exit 3 (README "Exit codes": an SMTP server that refuses a
message); nothing is recorded as sent, so a run with a sender the server accepts sends them all.
"""

from typing import Any

import pytest

from tests.mail import SENDER, Inbox, served
from tests.test_i15_notify import OSAKA_PI, demo, ledger, notify, sent_rows, smtp_env

__all__ = ["demo", "ledger"]  # the fixtures (a demo per module, a copy per test), by name

REPLY = "553 5.7.1 sender address rejected: not owned by user"


class SenderRefusingInbox(Inbox):
    """A server that refuses one sender address at MAIL FROM (`reply`), and accepts others."""

    def __init__(self, refused: str, reply: str = REPLY) -> None:
        super().__init__()
        self.refused = refused
        self.reply = reply

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: Any
    ) -> str:
        """Refuse the one sender, accept the others."""
        if address == self.refused:
            return self.reply
        envelope.mail_from = address
        return "250 OK"


def test_a_refused_sender_is_named_with_its_variable(ledger: dict[str, Any]) -> None:
    inbox = SenderRefusingInbox(SENDER)
    with served(inbox) as controller:
        result = notify(smtp_env(ledger, controller.port), ledger, "--institution", "Osaka")
    assert result.exit_code == 3, (result.stdout, result.stderr)
    port = controller.port
    assert result.stderr == (
        f"Error: SMTP 127.0.0.1:{port} refused the sender {SENDER} (SAMPLELOANS_SMTP_FROM): "
        f"{REPLY}; the statement to {OSAKA_PI} not sent, nothing recorded: set "
        "SAMPLELOANS_SMTP_FROM to an address this server accepts as a sender, then run "
        "'notify' again to send it\n"
        f"Error: SMTP 127.0.0.1:{port} refused the sender {SENDER} (SAMPLELOANS_SMTP_FROM): "
        f"{REPLY}; the overdue notice of Osaka to {OSAKA_PI} not sent, nothing recorded: set "
        "SAMPLELOANS_SMTP_FROM to an address this server accepts as a sender, then run "
        "'notify' again to send it\n"
    )
    assert "0 sent, 0 already sent, 2 refused for the checkpoint of" in result.stdout
    assert inbox.messages == [] and sent_rows(ledger) == []
    # the sender the server accepts: both are sent, as nothing was recorded
    with served(inbox) as controller:
        env = smtp_env(ledger, controller.port, SAMPLELOANS_SMTP_FROM="custody@naoc.example")
        again = notify(env, ledger, "--institution", "Osaka")
    assert again.exit_code == 0, again.stderr
    assert [rcpt for rcpt, _m in inbox.messages] == [[OSAKA_PI], [OSAKA_PI]]
    assert len(sent_rows(ledger)) == 2


def test_a_typed_sender_is_named_as_the_option(ledger: dict[str, Any]) -> None:
    typed = "typed@naoc.example"
    inbox = SenderRefusingInbox(typed, reply="550 5.7.1 relaying denied")
    with served(inbox) as controller:
        env = smtp_env(ledger, controller.port)
        result = notify(env, ledger, "--institution", "Osaka", "--smtp-from", typed)
    assert result.exit_code == 3, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 2, result.stderr
    for line in lines:
        assert line.startswith(
            f"Error: SMTP 127.0.0.1:{controller.port} refused the sender {typed} (--smtp-from): "
            "550 5.7.1 relaying denied; the "
        ), line
        assert line.endswith("set --smtp-from to an address this server accepts as a sender, "
                             "then run 'notify' again to send it"), line  # fmt: skip
    assert sent_rows(ledger) == []


def test_a_sender_refused_for_now_is_a_temporary_refusal(ledger: dict[str, Any]) -> None:
    inbox = SenderRefusingInbox(SENDER, reply="451 4.7.1 greylisted, try again later")
    with served(inbox) as controller:
        result = notify(smtp_env(ledger, controller.port), ledger, "--institution", "Osaka")
    assert result.exit_code == 3, (result.stdout, result.stderr)
    assert f"refused the sender {SENDER} (SAMPLELOANS_SMTP_FROM): 451 4.7.1" in result.stderr
    assert result.stderr.count("a temporary refusal: run 'notify' again later") == 2
    assert sent_rows(ledger) == []


def test_a_refused_sender_at_mail_level() -> None:
    """mail level: `SenderRefused` (exit 3) names the sender and its setting; the session goes
    on to hand over the next message."""
    from email.message import EmailMessage

    from sampleloans.mail import SenderRefused, smtp_settings

    inbox = SenderRefusingInbox(SENDER)
    sent = []
    with served(inbox) as controller:
        settings = smtp_settings(
            "127.0.0.1", str(controller.port), SENDER, starttls=None, user=None, password=None
        )
        with pytest.raises(SenderRefused) as refused:
            from sampleloans.mail import smtp_session

            with smtp_session(settings) as smtp:
                for sender in ("custody@naoc.example", SENDER):
                    message = EmailMessage()
                    message["From"], message["To"], message["Subject"] = sender, OSAKA_PI, "x"
                    message.set_content("x")
                    smtp.send(message)
                    sent.append(sender)
    assert refused.value.exit_code == 3
    assert str(refused.value) == (
        f"SMTP 127.0.0.1:{controller.port} refused the sender {SENDER} (SAMPLELOANS_SMTP_FROM): "
        f"{REPLY}"
    )
    assert sent == ["custody@naoc.example"]
