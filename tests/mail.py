"""Loopback SMTP servers for the `notify` tests: aiosmtpd on 127.0.0.1 at a free port, handlers
that keep, refuse or delay messages, and the environment that points `notify` at them (one
place, not one copy per test file)."""

import asyncio
import email
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from email.policy import default
from typing import Any

from aiosmtpd.controller import Controller

SENDER = "loans@naoc.example"


class Inbox:
    """An aiosmtpd handler that keeps every message it accepts, after `delay_s` (a real relay
    takes a while over each message; a tarpit takes long)."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self.delay_s = delay_s

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Accept the message (after the delay) and keep its recipients and parsed content."""
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        message = email.message_from_bytes(envelope.content, policy=default)
        self.messages.append((list(envelope.rcpt_tos), message))
        return "250 OK"


class RefusingInbox(Inbox):
    """An inbox whose server refuses one recipient (550), as a real server refuses a mailbox,
    with `reply` (a hostile server's may carry escape sequences)."""

    def __init__(
        self, refused: str, delay_s: float = 0.0, reply: str = "550 5.1.1 mailbox unavailable"
    ) -> None:
        super().__init__(delay_s)
        self.refused = refused
        self.reply = reply

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        """Refuse one address, accept the others."""
        if address == self.refused:
            return self.reply
        envelope.rcpt_tos.append(address)
        return "250 OK"


def free_port() -> int:
    """A TCP port on 127.0.0.1 free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def served(handler: Any) -> Iterator[Controller]:
    """A real SMTP server on 127.0.0.1 at a free port with `handler`, stopped afterwards."""
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


def smtp_settings(port: int, **extra: str) -> dict[str, str]:
    """The variables that point `notify` at the loopback server on `port`."""
    return {
        "SAMPLELOANS_SMTP_HOST": "127.0.0.1",
        "SAMPLELOANS_SMTP_PORT": str(port),
        "SAMPLELOANS_SMTP_FROM": SENDER,
        **extra,
    }
