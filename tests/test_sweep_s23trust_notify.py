"""Sweep s23 (trust, an attacker and a careless network): `notify` against hostile SMTP servers.

- A server's refusal carrying escape sequences (`550 … ESC[2J ESC[H …`) was written raw into the
  `Error:` line: the server could clear or repaint the curator's terminal. It is shown escaped.
- A connection lost after the whole message went out, before the server confirmed it, said
  "sending … failed" as if nothing were sent; the server may have delivered it, and the rerun
  sends it again. The line says so (nothing is recorded either way: the documented rule).
"""

import socket
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.i15_statement_helpers import copy_ledger, make_checkpoint, make_demo
from tests.mail import RefusingInbox, served
from tests.test_i15_notify import notify, sent_rows, smtp_env

OU_PI = "anand@open.example"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_demo(tmp_path_factory.mktemp("demo") / "d")


@pytest.fixture
def ledger(demo: Path, tmp_path: Path) -> dict[str, Any]:
    path = copy_ledger(demo, tmp_path / "ledger.db")
    return {"db": path, **make_checkpoint(path, tmp_path), "dir": tmp_path}


PAINTING = "550 5.1.1 \x1b[2J\x1b[Hnotify: 9 sent"
"""A refusal whose reply would clear the screen and move the cursor."""


def test_a_servers_refusal_is_shown_escaped_never_obeyed(ledger: dict[str, Any]) -> None:
    """Before: the ESC bytes reached the terminal as they came."""
    with served(RefusingInbox(OU_PI, reply=PAINTING)) as controller:
        result = notify(smtp_env(ledger, controller.port), ledger, "--institution", "OU")
    assert result.exit_code == 3, result.stderr
    assert "\x1b" not in result.stderr
    assert (
        f"refused {OU_PI}: 550 5.1.1 \\x1b[2J\\x1b[Hnotify: 9 sent; its overdue notice and "
        "statement not sent, nothing recorded"
    ) in result.stderr


class DroppingServer:
    """A bare SMTP server that reads a whole message, then closes without replying."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.received = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        """Answer each connection until the listener is closed."""
        while True:
            try:
                connection, _address = self.listener.accept()
            except OSError:
                return
            with connection, connection.makefile("rb") as lines:
                self._session(connection, lines)

    def _session(self, connection: socket.socket, lines: Any) -> None:
        """One session: every command accepted, the message read, then the line dropped."""
        connection.sendall(b"220 dropping ESMTP\r\n")
        for line in lines:
            if line.strip().upper() == b"DATA":
                connection.sendall(b"354 go on\r\n")
                while lines.readline() not in (b".\r\n", b""):
                    pass
                self.received += 1
                return  # closed before "250": the client cannot know it was taken
            connection.sendall(b"250 ok\r\n")

    def close(self) -> None:
        self.listener.close()


def test_a_connection_lost_after_the_message_went_out_says_it_may_have_been_delivered(
    ledger: dict[str, Any],
) -> None:
    server = DroppingServer()
    try:
        result = notify(smtp_env(ledger, server.port), ledger, "--institution", "OU")
    finally:
        server.close()
    assert server.received == 1
    assert result.exit_code == 3, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert (
        f"sending to {OU_PI} failed: Connection unexpectedly closed, after the whole message "
        "went out and before the server confirmed it: it may have been delivered; nothing was "
        "recorded, so the next 'notify' sends it again"
    ) in result.stderr
    assert sent_rows(ledger) == []
