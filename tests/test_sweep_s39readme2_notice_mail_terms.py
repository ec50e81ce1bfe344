"""`notify`'s overdue e-mail asked the PI to "request an extension in writing under the
agreement's extension clause below", and nothing followed but "Please respond by …": the
terms were only in the attached notice. The message now quotes the agreement terms below its
actions, so the words it sends hold (since report layout 18 they point at "the agreement terms
quoted in this notice", which the PDF notice prints above its actions)."""

import email
from email.message import Message
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import CURATOR, demo_env
from tests.i15_statement_helpers import make_checkpoint


@pytest.fixture(scope="module")
def outbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dry run of `notify` for Osaka, whose loan is past due, on the demo and a checkpoint."""
    env = demo_env(tmp_path_factory, CURATOR)
    folder = tmp_path_factory.mktemp("outbox") / "ob"
    make_checkpoint(Path(env["SAMPLELOANS_DB"]), folder.parent)
    done = CliRunner().invoke(
        app, ["notify", "--institution", "Osaka", "--outbox", str(folder)], env=env
    )
    assert done.exit_code == 0, done.stderr
    return folder


def _text(path: Path) -> str:
    """The plain-text body of an .eml file."""
    message = email.message_from_bytes(path.read_bytes())
    part = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    assert isinstance(part, Message)
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def test_the_clause_the_mail_points_at_is_quoted(outbox: Path) -> None:
    """The agreement's extension terms follow the sentence that points to them."""
    text = _text(outbox / "overdue-Osaka-terada_osaka-u.example.eml")
    pointer = text.index("under the extension clause of the agreement terms quoted in this notice")
    terms = text.index("The agreement terms this notice rests on:")
    clause = text.index("  - Agreement AG-2025-Osaka: loans last at most 1 year; up to 1 extension")
    assert pointer < terms < clause < text.index("Please respond by"), text
    assert "L-2025-Osaka has used 0 of 1 extension" in text, text
