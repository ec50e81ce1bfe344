"""Who may record what, checked after the fact by `verify` (issue 14 point 6's role matrix).

The commands refuse a write by the wrong person before it is made. This check finds an event
that did not come through them: a researcher's login on PostgreSQL inserting an event by hand,
with a correct hash and rows to match (a returned loan, say), or an edited SQLite file. For each
event, the actor as the ledger knew them just before it:

- a curator records anything;
- a researcher records what happens in their lab, on a loan lent to their own institution: the
  receipt of the lender's shipment (`loan.received` of an outbound shipment), consumption, a
  borrower's split, the annual inventory, an incident;
- a compliance officer records nothing;
- nobody records while deactivated, and after the ledger's first person every actor is one.

The loan's institution and a shipment's direction are read from the projections, which the same
`verify` proves equal to the replay of the events.
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, or_, select

from sampleloans import db
from sampleloans.models import LedgerEvent, Loan, Person, Shipment
from sampleloans.vocab import RESEARCHER_EVENT_KINDS, Direction, Role

PERSON_KINDS = ("person.added", "person.role_changed", "person.deactivated", "person.reactivated")
"""The events that make a person, change their role or let them act or not."""

RESEARCHER_KINDS = RESEARCHER_EVENT_KINDS
"""What a researcher records, on their own institution's loans (`services/loans.py`: `_lab_loan`,
`attest_inventory`; `services/incidents.py`: `report_incident`)."""


@dataclass(frozen=True)
class Standing:
    """A person as the ledger knew them from event `since` on."""

    since: int
    role: str
    active: bool


@dataclass(frozen=True)
class Finding:
    """An event its actor could not have recorded, in words."""

    seq: int
    message: str


def recorder_findings(connection: Connection) -> list[Finding]:
    """Every event recorded by someone who could not record it, in seq order."""
    standings, first_person = _standings(connection)
    homes = _homes(connection)
    checked = _events_to_check(connection, standings, first_person)
    found: list[Finding] = []
    for seq, kind, actor, payload in checked:
        why = _why_not(connection, seq, kind, actor, payload, standings, first_person, homes)
        if why is not None:
            found.append(Finding(seq, f"event {seq} ({kind}) was recorded by {actor!r}, {why}"))
    return found


def _standings(connection: Connection) -> tuple[dict[str, list[Standing]], int | None]:
    """Each person's standings over time, and the seq of the ledger's first person."""
    query = (
        "SELECT seq, kind, payload FROM ledger_event WHERE kind IN "
        f"({', '.join(repr(k) for k in PERSON_KINDS)}) ORDER BY seq"
    )
    standings: dict[str, list[Standing]] = {}
    first: int | None = None
    for seq, kind, payload in db.stream_tuples(connection, query):
        fields = _fields(payload)
        email = str(fields.get("email", ""))
        now = standings.get(email, [])
        last = now[-1] if now else None
        if kind == "person.added":
            first = seq if first is None else first
            standing = Standing(seq, str(fields.get("role", "")), True)
        elif last is None:
            continue  # about nobody: the replay names it
        elif kind == "person.role_changed":
            standing = Standing(seq, str(fields.get("role", "")), last.active)
        else:
            standing = Standing(seq, last.role, kind == "person.reactivated")
        standings.setdefault(email, []).append(standing)
    return standings, first


def _homes(connection: Connection) -> dict[str, str]:
    """Each person's institution (it never changes)."""
    table = Person.__table__  # type: ignore[attr-defined]  # SQLModel sets it
    rows = connection.execute(select(table.c.email, table.c.institution))
    return {str(email): str(institution) for email, institution in rows}


def _events_to_check(
    connection: Connection, standings: dict[str, list[Standing]], first_person: int | None
) -> Iterator[tuple[int, str, str, Any]]:
    """The events that need a look, in seq order: after the ledger's first person, those of
    every actor but a curator who never changed (one pass over the events in the database),
    and a curator's own events from before they were added."""
    plain = {
        email: history[0].since
        for email, history in standings.items()
        if len(history) == 1 and history[0].role == Role.CURATOR
    }
    events = LedgerEvent.__table__  # type: ignore[attr-defined]  # SQLModel sets it
    columns = (events.c.seq, events.c.kind, events.c.actor, events.c.payload)
    early = [and_(events.c.actor == email, events.c.seq < since) for email, since in plain.items()]
    query = (
        select(*columns)
        .where(
            events.c.seq > (first_person or 0),
            or_(events.c.actor.not_in(sorted(plain)), *early),
        )
        .order_by(events.c.seq)
    )
    for seq, kind, actor, payload in connection.execute(query):
        yield int(seq), str(kind), str(actor), payload


def _why_not(
    connection: Connection,
    seq: int,
    kind: str,
    actor: str,
    payload: Any,
    standings: dict[str, list[Standing]],
    first_person: int | None,
    homes: dict[str, str],
) -> str | None:
    """Why the actor could not record this event (None: they could)."""
    standing = _standing_at(standings.get(actor, []), seq)
    if standing is None:
        if first_person is None or seq <= first_person:
            return None  # the ledger's creation, before it has people
        return "who was not a registered person then"
    if not standing.active:
        return "who was deactivated then"
    if standing.role == Role.CURATOR:
        return None
    if standing.role != Role.RESEARCHER:
        return f"a {standing.role.replace('_', ' ')}, who records nothing"
    if kind not in RESEARCHER_KINDS:
        return "a researcher: only curators record it"
    return _outside_the_lab(connection, kind, _fields(payload), homes.get(actor))


def _outside_the_lab(
    connection: Connection, kind: str, fields: dict[str, Any], home: str | None
) -> str | None:
    """Why a researcher's event is not about their own lab (None: it is)."""
    number = fields.get("loan") if kind == "incident.reported" else fields.get("number")
    if not isinstance(number, str):  # an unreadable payload: say so, accuse nobody of more
        return f"a researcher at {home}; its payload names no loan"
    loans = Loan.__table__  # type: ignore[attr-defined]  # SQLModel sets it
    lent_to = connection.execute(
        select(loans.c.institution).where(loans.c.number == number)
    ).scalar()
    if lent_to is None or lent_to != home:
        return f"a researcher at {home}, about a loan not lent to their institution"
    if kind == "loan.received":
        shipments = Shipment.__table__  # type: ignore[attr-defined]  # SQLModel sets it
        direction = connection.execute(
            select(shipments.c.direction).where(shipments.c.seq == fields.get("shipment_seq"))
        ).scalar()
        if direction != Direction.OUTBOUND:
            return "a researcher: only curators accept a return"
    return None


def _standing_at(history: list[Standing], seq: int) -> Standing | None:
    """The person's standing just before event `seq` (None: not a person yet)."""
    found = None
    for standing in history:
        if standing.since >= seq:
            break
        found = standing
    return found


def _fields(payload: Any) -> dict[str, Any]:
    """A stored payload's fields ({} where it is not a JSON object: the replay names it)."""
    try:
        fields = json.loads(payload)
    except (TypeError, ValueError):
        return {}
    return fields if isinstance(fields, dict) else {}
