"""What `notify` delivers and what it already delivered: overdue notices' recipients, and the
record of each e-mail sent (`notification_sent`), so that nothing is sent twice for the same
checkpoint.

Recording a send is not a custody event: an e-mail changes nobody's custody of anything, and
the hash chain stays the record of custody alone. The record lives beside the ledger in the
same file, is only ever added to, and is keyed by recipient, kind, scope and checkpoint.
"""

import hashlib
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, inspect, text
from sqlmodel import Session, select

from sampleloans import db
from sampleloans.dates import to_iso
from sampleloans.errors import InvalidInput
from sampleloans.ledger.envelope import Context
from sampleloans.models import NotificationSent
from sampleloans.services import access
from sampleloans.services.common import acting_person
from sampleloans.services.standing import overdue
from sampleloans.vocab import Role

SendKey = tuple[str, str, str, str]
"""(recipient, kind, scope, checkpoint): what is sent at most once."""


@dataclass(frozen=True)
class NoticeTarget:
    """An institution with something overdue, and the PIs its notice goes to."""

    institution: str
    recipients: tuple[str, ...]


def require_curator(session: Session, ctx: Context) -> None:
    """Only curators deliver statements and notices (it writes the record of what was sent)."""
    from sampleloans.errors import PermissionDenied

    person = acting_person(session, ctx)
    if person.role != Role.CURATOR:
        raise PermissionDenied(
            f"{person.email} is a {person.role.replace('_', ' ')}; only curators may run notify"
        )


def overdue_targets(session: Session, ctx: Context, institution: str | None) -> list[NoticeTarget]:
    """Each institution with a return or inventory past due at `ctx.now`, with its late PIs."""
    if institution:
        institution = access.readable_institution(
            session, access.reader(session, ctx), institution
        ).short_name
    by_institution: dict[str, set[str]] = {}
    for row in overdue(session, ctx, institution=institution):
        by_institution.setdefault(row.institution, set()).add(row.pi_email)
    return [
        NoticeTarget(short, tuple(sorted(emails)))
        for short, emails in sorted(by_institution.items())
    ]


def _has_table(session: Session) -> bool:
    """Whether this ledger has the send record yet (ledgers made before `notify` do not)."""
    return bool(inspect(session.connection()).has_table(NotificationSent.__tablename__))


def require_send_record(session: Session) -> None:
    """Refuse (exit 3) to send on a ledger without the send record: sent mail could not be
    recorded, so it would be sent again (`db upgrade` adds the table)."""
    db.require_table(session.connection(), NotificationSent.__tablename__, "notify")


def sent_keys(session: Session) -> dict[SendKey, datetime]:
    """Every (recipient, kind, scope, checkpoint) already delivered, with when it was sent."""
    if not _has_table(session):
        return {}
    rows = session.exec(select(NotificationSent)).all()
    return {(r.recipient, r.kind, r.scope, r.checkpoint): r.sent_at for r in rows}


@dataclass(frozen=True)
class Delivery:
    """One message handed to the mail server, to be recorded."""

    key: SendKey
    digest: str
    message_id: str
    via: str


def _recorded(session: Session, key: SendKey) -> bool:
    """Whether a message under `key` is recorded as sent."""
    recipient, kind, scope, checkpoint = key
    found = session.exec(
        select(NotificationSent.id).where(
            NotificationSent.recipient == recipient,
            NotificationSent.kind == kind,
            NotificationSent.scope == scope,
            NotificationSent.checkpoint == checkpoint,
        )
    ).first()
    return found is not None


def sending_lock(engine: Engine, *, timeout_ms: int) -> AbstractContextManager[None]:
    """The lock one `notify` run holds while it sends (`db.notify_lock`): a second run waits
    for it, up to `timeout_ms`, then is refused (exit 3), nothing sent."""
    return db.notify_lock(engine, timeout_ms=timeout_ms)


def already_sent(session: Session, key: SendKey) -> bool:
    """Whether the message under `key` is recorded as sent (refused, exit 3, on a ledger
    without the send record: what is sent could not be recorded, so it would be sent again).

    `notify` asks it in a read transaction under the notify lock (`db.notify_lock`), sends
    with no transaction open — a slow SMTP server stalls no writer — then records the send
    (`record_sent`): two `notify` runs cannot both find a message unsent, as the second waits
    for the first's lock; a failed send records nothing."""
    require_send_record(session)
    return _recorded(session, key)


def record_sent(session: Session, ctx: Context, delivery: Delivery, sent_at: datetime) -> bool:
    """Record one delivered message; False (nothing added) when it is recorded already, by a
    run that did not hold the notify lock (the unique index would refuse a second record)."""
    require_send_record(session)
    if _recorded(session, delivery.key):
        return False
    _record_sent(session, ctx, delivery, sent_at)
    return True


def _record_sent(session: Session, ctx: Context, delivery: Delivery, sent_at: datetime) -> None:
    """Add the record of one delivered message (revision 0002 made the table)."""
    recipient, kind, scope, checkpoint = delivery.key
    session.add(
        NotificationSent(
            recipient=recipient,
            kind=kind,
            scope=scope,
            checkpoint=checkpoint,
            digest=delivery.digest,
            message_id=delivery.message_id,
            sent_at=sent_at,
            sent_by=ctx.actor,
            via=delivery.via,
        )
    )
    session.flush()


def listed_when_sent(falls_due: datetime, sent_at: datetime) -> bool:
    """Whether an obligation due at `falls_due` was late, so listed, on a notice sent at
    `sent_at`: the overdue rule's own cut (due strictly before), so one falling due that very
    moment is sent later, not taken as told."""
    from sampleloans.ledger import overdue as rule

    return rule.past_due(falls_due, sent_at)


SENT_KINDS = ("statement", "overdue")
"""What `notify` sends, as `notification_sent.kind` records it."""


def message_id(kind: str, digest: str, recipient: str) -> str:
    """A Message-ID that is the same for the same document and recipient."""
    who = hashlib.sha256(recipient.encode("utf-8")).hexdigest()[:12]
    return f"<{kind}.{digest[:24]}.{who}@sampleloans>"


def _kept_checkpoint_ids(connection: Connection) -> set[str]:
    """`SIZE:ROOT` (hex) of every checkpoint the ledger kept, as notify records what it sent
    under (a row `verify` names as damaged is left out: it is named already)."""
    from sampleloans.ledger import checkpoint as notes

    if not inspect(connection).has_table("checkpoint"):
        return set()
    kept = set()
    for (note,) in connection.execute(text("SELECT note FROM checkpoint")):
        try:
            tree = notes.parse_checkpoint(notes.split_note(note)[0])
        except (InvalidInput, ValueError, TypeError, AttributeError):  # a damaged row
            continue
        kept.add(f"{tree.size}:{tree.root.hex()}")
    return kept


def sent_record_problems(connection: Connection) -> list[str]:
    """Each record of a message sent that no `notify` run wrote: a kind it never sends, a
    Message-ID that is not its kind's, document's and recipient's, a checkpoint this ledger
    never kept, a recipient or sender nobody registered. Such a row makes notify skip the
    message as sent. (A row forged with every field consistent cannot be told from a true one:
    docs/trust.md says what that leaves.)"""
    if not inspect(connection).has_table(NotificationSent.__tablename__):
        return []
    kept = _kept_checkpoint_ids(connection)
    people = {row[0] for row in connection.execute(text("SELECT email FROM person"))}
    query = text(
        "SELECT id, recipient, kind, scope, checkpoint, digest, message_id, sent_by "
        "FROM notification_sent ORDER BY id"
    )
    problems = []
    for row in connection.execute(query):
        why = _sent_row_faults(row, kept, people)
        if why:
            problems.append(
                f"notification row {row.id}: {'; '.join(why)}: no notify run wrote it (the "
                "table was edited), and notify skips the message it names as sent"
            )
    return problems


def _scope_written(kind: str, scope: str, recipient: str) -> bool:
    """Whether `scope` is one notify records for `kind`: a statement's `pi:` its recipient; a
    notice's `institution:OU`, or `institution:OU@TIME` (sent again once a later obligation
    fell due) with TIME a UTC time as notify writes it."""
    if kind == "statement":
        return scope == f"pi:{recipient}"
    short, at, when = scope.removeprefix("institution:").partition("@")
    if not scope.startswith("institution:") or not short:
        return False
    if not at:
        return True
    try:
        moment = datetime.fromisoformat(when)
    except ValueError:
        return False
    return moment.tzinfo is not None and to_iso(moment) == when


def _sent_row_faults(row: Any, kept: set[str], people: set[str]) -> list[str]:
    """What in one `notification_sent` row no notify run writes."""
    from sampleloans.text import visible

    recipient, kind = str(row.recipient), str(row.kind)
    why = []
    if kind not in SENT_KINDS:
        why.append(f"its kind {visible(kind)!r} is none notify sends")
    elif row.message_id != message_id(kind, str(row.digest), recipient):
        why.append("its Message-ID is not the one of its kind, document and recipient")
    if kind in SENT_KINDS and not _scope_written(kind, str(row.scope), recipient):
        why.append(f"its scope {visible(str(row.scope))!r} is none notify writes for {kind}")
    if row.checkpoint not in kept:
        why.append("it names no checkpoint this ledger kept")
    if recipient not in people:
        why.append(f"its recipient {visible(recipient)} is nobody registered")
    if row.sent_by not in people:
        why.append("its sender is nobody registered")
    return why
