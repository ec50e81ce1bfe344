"""Missions, institutions and people: the reference records every loan points at."""

from datetime import datetime

from sqlmodel import Session

from sampleloans.errors import Conflict
from sampleloans.ledger import events as ev
from sampleloans.ledger.store import Context, Envelope, append
from sampleloans.models import Institution, Mission, Person
from sampleloans.services.common import (
    INSTITUTION_KINDS,
    ROLES,
    get_institution,
    require_choice,
    require_code,
    require_email,
    require_name,
    require_role,
)


def add_mission(
    session: Session,
    ctx: Context,
    *,
    code: str,
    name: str,
    returned_at: datetime | None = None,
    returned_mass_ug: int | None = None,
    occurred_at: datetime | None = None,
) -> Envelope:
    """Record a sample-return mission (curators only)."""
    require_role(session, ctx, "curator", action="add missions")
    code = require_code(code, "mission")
    if session.get(Mission, code) is not None:
        raise Conflict(f"mission {code} already exists")
    from sampleloans.dates import to_iso

    event = ev.MissionAdded(
        code=code,
        name=require_name(name, "name"),
        returned_at=to_iso(returned_at) if returned_at else None,
        returned_mass_ug=returned_mass_ug,
    )
    return append(session, ctx, event, occurred_at=occurred_at)


def add_institution(
    session: Session,
    ctx: Context,
    *,
    short_name: str,
    name: str,
    country: str,
    city: str,
    kind: str,
    occurred_at: datetime | None = None,
) -> Envelope:
    """Register an institution (curators only)."""
    require_role(session, ctx, "curator", action="add institutions")
    short_name = require_code(short_name, "short name")
    if session.get(Institution, short_name) is not None:
        raise Conflict(f"institution {short_name} already exists; see 'institutions show'")
    event = ev.InstitutionAdded(
        short_name=short_name,
        name=require_name(name, "name"),
        country=require_name(country, "country"),
        city=require_name(city, "city"),
        institution_kind=require_choice(kind, "kind", INSTITUTION_KINDS),
    )
    return append(session, ctx, event, occurred_at=occurred_at)


def add_person(
    session: Session,
    ctx: Context,
    *,
    email: str,
    name: str,
    institution: str,
    role: str,
    occurred_at: datetime | None = None,
) -> Envelope:
    """Register a person who may act (curators only)."""
    require_role(session, ctx, "curator", action="add people")
    email = require_email(email)
    if session.get(Person, email) is not None:
        raise Conflict(f"person {email} already exists; see 'people show'")
    get_institution(session, institution)
    event = ev.PersonAdded(
        email=email,
        name=require_name(name, "name"),
        institution=institution,
        role=require_choice(role, "role", ROLES),
    )
    return append(session, ctx, event, occurred_at=occurred_at)
