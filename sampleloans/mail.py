"""E-mail for `notify`: the SMTP settings, one message per document (PDF attached), and its
delivery through an SMTP server (smtplib) or into an outbox folder of `.eml` files.

Every failure to reach or use the server is a `StorageError` (exit 3) with one line naming the
server and what went wrong; the password is never part of any message.
"""

import hashlib
import smtplib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import TYPE_CHECKING

from sampleloans.errors import InvalidInput, StorageError
from sampleloans.text import clean_email

if TYPE_CHECKING:  # the type smtplib's `send` is declared with
    from _typeshed import ReadableBuffer

SMTP_TIMEOUT_S = 30
DEFAULT_PORT = 25


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to hand messages over: host, port, sender, STARTTLS and login."""

    host: str
    port: int
    sender: str
    starttls: bool = False
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    # where `sender` was set, named when the server refuses it: `--smtp-from` if typed
    sender_field: str = "SAMPLELOANS_SMTP_FROM"

    @property
    def label(self) -> str:
        """`smtp HOST:PORT`, as recorded with each send."""
        return f"smtp {self.host}:{self.port}"


def sender_address(sender: str) -> str:
    """The configured From address, one plain address (a line break would add a header, a
    display name or a second address would pass for someone else); a bad one is exit 3."""
    try:
        return clean_email(sender, "SMTP from")
    except InvalidInput as exc:  # configuration, not a command's input: exit 3
        raise StorageError(str(exc)) from None


def smtp_settings(
    host: str | None,
    port: str | None,
    sender: str | None,
    *,
    starttls: str | None,
    user: str | None,
    password: str | None,
    sender_field: str = "SAMPLELOANS_SMTP_FROM",
) -> SmtpSettings:
    """Settings from options or environment text; a bad one is a StorageError (exit 3);
    `sender_field`: where the sender was set (the variable, or `--smtp-from` when typed)."""
    if not host or not host.strip():
        raise StorageError(
            "SMTP host: none configured; set SAMPLELOANS_SMTP_HOST (or --smtp-host), or give "
            "--outbox DIR for a dry run"
        )
    if any(c.isspace() for c in host.strip()):
        raise StorageError(
            f"SMTP host: {host.strip()[:60]!r} is not a host name (it holds a space); set "
            "SAMPLELOANS_SMTP_HOST or --smtp-host to a name like mail.example.org"
        )
    port_text = (port or str(DEFAULT_PORT)).strip()
    # ASCII digits, of which int() reads six at most: thousands are past what it converts
    digits = port_text.lstrip("0") if port_text.isascii() and port_text.isdecimal() else ""
    if not 1 <= int(digits[:6] or 0) <= 65535:
        raise StorageError(
            f"SMTP port: {port_text[:20]!r} is not a port number (1-65535); set "
            "SAMPLELOANS_SMTP_PORT or --smtp-port"
        )
    if not sender:
        raise StorageError(
            "SMTP from: no sender address; set SAMPLELOANS_SMTP_FROM (or --smtp-from), e.g. "
            "loans@naoc.example"
        )
    from_address = sender_address(sender)
    flag = (starttls or "0").strip().lower()
    if flag not in ("0", "1", "yes", "no", "true", "false"):
        raise StorageError(
            f"SMTP STARTTLS: {flag[:10]!r} is not 1 or 0; set SAMPLELOANS_SMTP_STARTTLS"
        )
    if bool(user) != bool(password):
        raise StorageError(
            "SMTP login: give both SAMPLELOANS_SMTP_USER and SAMPLELOANS_SMTP_PASSWORD, or neither"
        )
    return SmtpSettings(
        host=host.strip(),
        port=int(digits),
        sender=from_address,
        starttls=flag in ("1", "yes", "true"),
        user=user or None,
        password=password or None,
        sender_field=sender_field,
    )


@dataclass(frozen=True)
class Attachment:
    """A file attached to a message."""

    name: str
    mime: str  # maintype/subtype
    data: bytes


def compose(
    *,
    sender: str,
    recipient: str,
    subject: str,
    text: str,
    attachment: Attachment,
    sent_at: datetime,
    message_id: str,
) -> EmailMessage:
    """One message: plain text body and the document attached; the same inputs give the same
    bytes (headers and MIME boundary), so an outbox's .eml files are reproducible."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = subject
    message["Date"] = format_datetime(sent_at)
    message["Message-ID"] = message_id
    message.set_content(text)
    maintype, _, subtype = attachment.mime.partition("/")
    message.add_attachment(
        attachment.data, maintype=maintype, subtype=subtype, filename=attachment.name
    )
    message.set_boundary(_boundary(message_id, text, attachment))
    return message


def _boundary(message_id: str, text: str, attachment: Attachment) -> str:
    """A MIME boundary drawn from the message's content, not from a random number (which the
    email package would use): '=_' never occurs in base64 nor quoted-printable text, and the
    digest of the content cannot occur in the content itself."""
    digest = hashlib.sha256()
    for part in (message_id.encode(), text.encode(), attachment.name.encode(), attachment.data):
        digest.update(hashlib.sha256(part).digest())
    return f"=_sampleloans_{digest.hexdigest()[:40]}"


class MessageRefused(StorageError):
    """The server refused one message (its recipient's mailbox, or the message itself) and
    stays ready for the next: the others can still be sent (exit 3 once they are)."""

    def __init__(
        self, where: str, recipient: str, reply: str, *, message: bool = False, said: str = ""
    ) -> None:
        super().__init__(said or f"{where} refused {recipient}: {reply}")
        self.where = where
        self.recipient = recipient
        self.reply = reply
        self.message = message  # the message itself (after DATA), not the recipient's mailbox

    def advice(self) -> str:
        """What to do, by the reply's class: a 4xx is the server's "not now", a 5xx after
        the message its content or size, a 5xx before it the recipient's address or mailbox."""
        if self.reply.startswith("4"):
            return "a temporary refusal: run 'notify' again later to send it"
        if self.message:
            return (
                "the server refused the message itself (its size or content): ask its "
                "postmaster, then run 'notify' again"
            )
        return "correct the address or the mailbox and run 'notify' again to send it"


class SenderRefused(MessageRefused):
    """The server refused the sender of one message (its reply to MAIL FROM): the fault is the
    configured From address, not the recipient's, and the session goes on (smtplib resets it)."""

    def __init__(self, where: str, recipient: str, reply: str, settings: SmtpSettings) -> None:
        said = f"{where} refused the sender {settings.sender} ({settings.sender_field}): {reply}"
        super().__init__(where, recipient, reply, said=said)
        self.sender = settings.sender
        self.sender_field = settings.sender_field

    def advice(self) -> str:
        """A 4xx is the server's "not now"; a 5xx, the address it will not send from."""
        if self.reply.startswith("4"):
            return "a temporary refusal: run 'notify' again later to send it"
        return (
            f"set {self.sender_field} to an address this server accepts as a sender, then run "
            "'notify' again to send it"
        )


class _Client(smtplib.SMTP):
    """smtplib's client, noting when a message's content has gone out whole (its closing
    `CRLF . CRLF`): a session lost after that, before the server's reply, may have delivered
    it, and `notify` must not say it was not sent (a rerun would send it twice)."""

    content_sent = False

    def send(self, s: "ReadableBuffer | str") -> None:
        """Send `s` as smtplib does; note the end of a message's content."""
        super().send(s)
        if isinstance(s, bytes) and s.endswith(b"\r\n.\r\n"):
            self.content_sent = True


class SmtpTransport:
    """An open SMTP session: `send` hands over one message."""

    def __init__(self, client: smtplib.SMTP, settings: SmtpSettings) -> None:
        self.client = client
        self.settings = settings

    def send(self, message: EmailMessage) -> None:
        """Hand one message to the server; MessageRefused if the server refuses it (the session
        goes on: smtplib resets it), StorageError (exit 3) if the session fails."""
        where = f"SMTP {self.settings.host}:{self.settings.port}"
        if isinstance(self.client, _Client):
            self.client.content_sent = False
        try:
            refused = self.client.send_message(message)
        except smtplib.SMTPSenderRefused as exc:  # MAIL FROM: the configured From address
            reply = _reply(exc.smtp_code, exc.smtp_error)
            raise SenderRefused(where, str(message["To"]), reply, self.settings) from None
        except smtplib.SMTPRecipientsRefused as exc:  # a reply per recipient: one here
            code, said = next(iter(exc.recipients.values()))
            raise MessageRefused(where, str(message["To"]), _reply(code, said)) from None
        except smtplib.SMTPDataError as exc:  # the message itself, e.g. too large for the box
            raise MessageRefused(where, str(message["To"]), _reason(exc), message=True) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise StorageError(self._failed(message, exc)) from None
        if refused:  # some of several recipients (one message has one: not reached today)
            recipient, (code, said) = sorted(refused.items())[0]
            raise MessageRefused(where, recipient, _reply(code, said))

    def _failed(self, message: EmailMessage, exc: BaseException) -> str:
        """Why sending `message` failed, and whether it may have been delivered all the same:
        once its content went out whole, only the server's reply was lost."""
        where = f"SMTP {self.settings.host}:{self.settings.port}"
        said = f"{where}: sending to {message['To']} failed: {_reason(exc)}"
        if not getattr(self.client, "content_sent", False):
            return said
        return (
            f"{said}, after the whole message went out and before the server confirmed it: it "
            "may have been delivered; nothing was recorded, so the next 'notify' sends it again "
            f"(ask {message['To']} or look in the server's log first)"
        )


def _reply(code: int, said: bytes | str) -> str:
    """The server's reply on one line: `550 5.1.1 mailbox unavailable`."""
    text = said.decode("utf-8", "replace") if isinstance(said, bytes) else str(said)
    return f"{code} {text}".strip().replace("\r", " ").replace("\n", " ")


def _reason(exc: BaseException) -> str:
    """One line of why an SMTP step failed (never the password)."""
    if isinstance(exc, smtplib.SMTPResponseException):
        # smtplib's own replies are text: `500 Line too long.` for a reply line past 8 KiB
        said = exc.smtp_error if isinstance(exc.smtp_error, bytes | str) else b""
        return _reply(exc.smtp_code, said)
    return (str(exc) or type(exc).__name__).replace("\n", " ")


@contextmanager
def smtp_session(settings: SmtpSettings) -> Iterator[SmtpTransport]:
    """Connect, STARTTLS and log in as configured; StorageError (exit 3) on any failure."""
    where = f"SMTP {settings.host}:{settings.port}"
    try:
        client = _Client(settings.host, settings.port, timeout=SMTP_TIMEOUT_S)
    except (OSError, smtplib.SMTPException) as exc:
        raise StorageError(f"{where}: cannot connect: {_reason(exc)}") from None
    try:
        try:
            if settings.starttls:
                client.starttls(context=ssl.create_default_context())
            if settings.user and settings.password:
                client.login(settings.user, settings.password)
        except smtplib.SMTPAuthenticationError:
            raise StorageError(f"{where}: login refused for {settings.user}") from None
        except (OSError, smtplib.SMTPException, ssl.SSLError) as exc:
            raise StorageError(f"{where}: {_reason(exc)}") from None
        yield SmtpTransport(client, settings)
    finally:
        try:
            client.quit()
        except (OSError, smtplib.SMTPException):  # a timeout is an OSError
            client.close()
