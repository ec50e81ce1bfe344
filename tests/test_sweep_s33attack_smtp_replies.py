"""Sweep s33, `notify` against loopback SMTP servers that answer badly.

- A server that said "not now" (451 after the message, 452 to a recipient) or refused the
  message itself (552 too big) was answered with "correct the address or the mailbox and run
  'notify' again": the address was fine. The advice now follows the reply: a 4xx is a temporary
  refusal (run it again later), a 5xx after the message is the message's, a 5xx before it the
  address's or mailbox's. Nothing is recorded for any of them, exit 3 (as before).
- A server whose reply line runs past smtplib's 8 KiB limit made smtplib raise its own
  `500 Line too long.`, which `notify` printed as `cannot connect: 500`, its words dropped.
"""

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from email.message import EmailMessage
from typing import Any

import pytest

from sampleloans.errors import StorageError
from sampleloans.mail import MessageRefused, SmtpSettings, smtp_session
from tests.i15_statement_helpers import copy_ledger, make_checkpoint, make_demo
from tests.mail import Inbox, RefusingInbox, served
from tests.test_i15_notify import notify, sent_rows, smtp_env

SENDER = "loans@naoc.example"
TO = "anand@open.example"


class RefusingData(Inbox):
    """An inbox whose server refuses every message once it has it, with `reply`."""

    def __init__(self, reply: str) -> None:
        super().__init__()
        self.reply = reply

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Refuse the message after its content came in whole."""
        return self.reply


def _send_one(port: int) -> None:
    """Hand one small message to the server on `port` through `notify`'s own session."""
    settings = SmtpSettings("127.0.0.1", port, SENDER)
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = SENDER, TO, "statement"
    message.set_content("x")
    with smtp_session(settings) as smtp:
        smtp.send(message)


@pytest.mark.parametrize(
    ("handler", "advice"),
    [
        (
            RefusingData("451 4.3.0 try again later"),
            "a temporary refusal: run 'notify' again later",
        ),
        (RefusingInbox(TO, reply="452 4.2.2 over quota"), "a temporary refusal"),
        (RefusingData("552 5.3.4 message too big"), "the server refused the message itself"),
        (RefusingInbox(TO), "correct the address or the mailbox"),
    ],
)
def test_the_advice_follows_the_reply(handler: Inbox, advice: str) -> None:
    """mail level: before, every refusal advised correcting the address or the mailbox."""
    with served(handler) as controller, pytest.raises(MessageRefused) as refused:
        _send_one(controller.port)
    assert refused.value.advice().startswith(advice), refused.value.advice()


@contextmanager
def long_greeting() -> Iterator[int]:
    """A server whose greeting line is 100,000 characters long, on a free loopback port."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        connection, _address = listener.accept()
        with connection:
            connection.sendall(b"220 " + b"x" * 100_000 + b"\r\n")
            with suppress(OSError):  # the client hangs up on the long line: a reset is expected
                connection.recv(1024)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        listener.close()
        thread.join(timeout=5)


def test_a_reply_line_too_long_keeps_smtplibs_words() -> None:
    """Before: 'cannot connect: 500', the reason dropped (smtplib's reply text is a str)."""
    with long_greeting() as port, pytest.raises(StorageError) as failed:
        _send_one(port)
    assert str(failed.value) == f"SMTP 127.0.0.1:{port}: cannot connect: 500 Line too long."


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A copy of the demo ledger with a checkpoint, for one `notify` run."""
    folder = tmp_path_factory.mktemp("smtp")
    path = copy_ledger(make_demo(folder / "d"), folder / "ledger.db")
    return {"db": path, **make_checkpoint(path, folder), "dir": folder}


def test_notify_says_a_temporary_refusal_is_one(ledger: dict[str, Any]) -> None:
    """Through the CLI: every message refused with 451 after its content: exit 3, one line per
    recipient naming the reply and the advice to run it again later, nothing recorded."""
    with served(RefusingData("451 4.3.0 try again later")) as controller:
        result = notify(smtp_env(ledger, controller.port), ledger)
    assert result.exit_code == 3, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) >= 5  # the demo's PIs with an open loan, one line each
    for line in lines:
        assert line.startswith(f"Error: SMTP 127.0.0.1:{controller.port} refused "), line
        assert ": 451 4.3.0 try again later; its " in line, line
        assert line.endswith(
            " not sent, nothing recorded: a temporary refusal: run 'notify' again later to send it"
        ), line
        assert "correct the address" not in line
    assert sent_rows(ledger) == []
