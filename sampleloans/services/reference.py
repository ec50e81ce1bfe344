"""Missions, institutions and people: the reference records every loan points at.

People are never deleted: a curator deactivates them (they may no longer act, their history
stays), reactivates them, or changes their role, each as an event with a reason.
"""

from datetime import datetime

from sqlmodel import Session, col, func, select

from sampleloans.dates import bound_text, to_iso
from sampleloans.errors import Conflict, InvalidInput, RecordConflict, RuleViolation
from sampleloans.ledger import events as ev
from sampleloans.ledger.envelope import Context, Envelope, from_stored
from sampleloans.ledger.reads import get_row
from sampleloans.models import EventSubject, Institution, LedgerEvent, Mission, Person
from sampleloans.services.common import (
    INSTITUTION_KINDS,
    ROLES,
    append,
    checked_early,
    get_institution,
    get_person,
    refuse_case_twin,
    require_choice,
    require_code,
    require_email,
    require_name,
    require_role,
    require_staff_institution,
    require_text,
)
from sampleloans.services.lock_reads import read_twin_with_the_lock, read_with_the_lock, validated
from sampleloans.vocab import Role, SubjectType


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
    read_with_the_lock(session, Mission, validated(lambda: require_code(code, "mission")))
    require_role(session, ctx, "curator", action="add missions")
    code = require_code(code, "mission")
    if get_row(session, Mission, code) is not None:
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
    institution_kind: str,
    occurred_at: datetime | None = None,
) -> Envelope:
    """Register an institution (curators only)."""
    key = validated(lambda: require_code(short_name, "short name"))
    name_now = checked_early(lambda: require_name(name, "name"))
    country_now = checked_early(lambda: require_name(country, "country"))
    city_now = checked_early(lambda: require_name(city, "city"))
    kind_now = checked_early(lambda: require_choice(institution_kind, "kind", INSTITUTION_KINDS))
    read_with_the_lock(session, Institution, key)  # "already exists?" comes with the lock
    read_twin_with_the_lock(session, Institution.short_name, key)  # and "a case twin?"
    require_role(session, ctx, "curator", action="add institutions")
    short_name = require_code(short_name, "short name")
    if get_row(session, Institution, short_name) is not None:
        raise RecordConflict(
            f"institution {short_name} already exists; see 'institutions show'", key=short_name
        )
    refuse_case_twin(session, Institution.short_name, short_name, "institution")
    event = ev.InstitutionAdded(
        short_name=short_name,
        name=name_now(),
        country=country_now(),
        city=city_now(),
        institution_kind=kind_now(),
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
    read_with_the_lock(session, Person, validated(lambda: require_email(email)))
    read_with_the_lock(session, Institution, institution)  # looked up as given
    require_role(session, ctx, "curator", action="add people")
    email = require_email(email)
    if get_row(session, Person, email) is not None:
        raise RecordConflict(f"person {email} already exists; see 'people show'", key=email)
    get_institution(session, institution)
    role = require_choice(role, "role", ROLES)
    require_staff_institution(session, role, institution)
    event = ev.PersonAdded(
        email=email, name=require_name(name, "name"), institution=institution, role=role
    )
    return append(session, ctx, event, occurred_at=occurred_at)


def _active_curators(session: Session) -> int:
    """How many active curators the ledger has."""
    query = select(func.count()).select_from(Person)
    query = query.where(Person.role == Role.CURATOR, col(Person.active).is_(True))
    return int(session.exec(query).one())


def _keep_a_curator(session: Session, person: Person, change: str) -> None:
    """Refuse a change that would leave no active curator (nobody could record anything)."""
    if person.role == Role.CURATOR and person.active and _active_curators(session) <= 1:
        raise RuleViolation(
            f"{person.email} is the last active curator; {change} would leave nobody who may "
            "record anything (add or reactivate another curator first)"
        )


def _last_part(session: Session, email: str) -> tuple[int, datetime] | None:
    """The latest moment a person acted in the ledger or was named by it: the last event they
    recorded (when they recorded it), or any event indexed under them (when it occurred), with
    its seq; None for a person the ledger never names."""
    moments: list[tuple[datetime, int]] = []
    named = select(LedgerEvent.seq, LedgerEvent.occurred_at).join(
        EventSubject, col(EventSubject.seq) == col(LedgerEvent.seq)
    )
    named = named.where(
        EventSubject.subject_type == SubjectType.PERSON, EventSubject.subject_key == email
    )
    moments.extend((datetime.fromisoformat(at), seq) for seq, at in session.exec(named))
    recorded = select(LedgerEvent.seq, LedgerEvent.recorded_at).where(LedgerEvent.actor == email)
    last = session.exec(recorded.order_by(col(LedgerEvent.seq).desc()).limit(1)).first()
    if last is not None:
        moments.append((datetime.fromisoformat(last[1]), last[0]))
    if not moments:
        return None
    when, seq = max(moments)
    return seq, when


def _after_last_part(
    session: Session, ctx: Context, person: Person, occurred_at: datetime | None, change: str
) -> None:
    """Refuse a change to a person dated before their last act or part in the ledger: it would
    show them acting after they were deactivated, or in a role they no longer had."""
    at = occurred_at or ctx.now
    last = _last_part(session, person.email)
    if last is not None and at < last[1]:
        raise RuleViolation(
            f"time: {to_iso(at)} is before the last event of person {person.email} (event "
            f"{last[0]}, {to_iso(last[1])}); date {change} {bound_text(last[1])} (--at)"
        )


def deactivate_person(
    session: Session,
    ctx: Context,
    *,
    email: str,
    reason: str,
    occurred_at: datetime | None = None,
) -> Envelope:
    """Deactivate a person: they may no longer act; their records stay (curators only)."""
    require_role(session, ctx, "curator", action="deactivate people")
    person = get_person(session, email)
    if not person.active:
        raise Conflict(f"person {person.email} is already deactivated")
    _keep_a_curator(session, person, "deactivating them")
    _after_last_part(session, ctx, person, occurred_at, "a deactivation")
    event = ev.PersonDeactivated(email=person.email)
    return append(
        session, ctx, event, occurred_at=occurred_at, reason=require_text(reason, "reason")
    )


def reactivate_person(
    session: Session,
    ctx: Context,
    *,
    email: str,
    reason: str,
    occurred_at: datetime | None = None,
) -> Envelope:
    """Let a deactivated person act again, in the role they had (curators only)."""
    require_role(session, ctx, "curator", action="reactivate people")
    person = get_person(session, email)
    if person.active:
        raise Conflict(f"person {person.email} is active; only a deactivated person is reactivated")
    require_staff_institution(session, person.role, person.institution)
    _after_last_part(session, ctx, person, occurred_at, "a reactivation")
    event = ev.PersonReactivated(email=person.email)
    return append(
        session, ctx, event, occurred_at=occurred_at, reason=require_text(reason, "reason")
    )


def rename_institution(
    session: Session,
    ctx: Context,
    *,
    short_name: str,
    name: str,
    reason: str,
    occurred_at: datetime | None = None,
) -> Envelope:
    """Put an institution's registered name right (curators only); its short name stays."""
    require_role(session, ctx, "curator", action="rename institutions")
    institution = get_institution(session, short_name)
    new_name = _new_name(name, institution.name, f"institution {institution.short_name}")
    _after_last_change(session, ctx, institution.short_name, occurred_at)
    event = ev.InstitutionRenamed(
        short_name=institution.short_name, previous_name=institution.name, name=new_name
    )
    return append(
        session, ctx, event, occurred_at=occurred_at, reason=require_text(reason, "reason")
    )


def change_institution_place(
    session: Session,
    ctx: Context,
    *,
    short_name: str,
    city: str,
    country: str,
    reason: str,
    occurred_at: datetime | None = None,
) -> Envelope:
    """Put an institution's registered city and country right (curators only)."""
    require_role(session, ctx, "curator", action="change institutions' places")
    institution = get_institution(session, short_name)
    new_city, new_country = require_name(city, "city"), require_name(country, "country")
    if (new_city, new_country) == (institution.city, institution.country):
        raise InvalidInput(
            f"--city, --country: institution {institution.short_name} is already in "
            f"{new_city}, {new_country}; nothing to change"
        )
    _after_last_change(session, ctx, institution.short_name, occurred_at, "a change of place")
    event = ev.InstitutionPlaceChanged(
        short_name=institution.short_name,
        previous_city=institution.city,
        previous_country=institution.country,
        city=new_city,
        country=new_country,
    )
    return append(
        session, ctx, event, occurred_at=occurred_at, reason=require_text(reason, "reason")
    )


INSTITUTION_CHANGES = (
    ev.InstitutionAdded.kind,
    ev.InstitutionRenamed.kind,
    ev.InstitutionPlaceChanged.kind,
)
"""The events that set an institution's row: its registration, its renames and its place."""


def _after_last_change(
    session: Session,
    ctx: Context,
    short_name: str,
    occurred_at: datetime | None,
    change: str = "a rename",
) -> None:
    """Refuse a change (a rename, a change of place) dated before the institution's
    registration or its last change: a replay "as of" a moment between them would meet a change
    of a name or place it has not yet got."""
    at = occurred_at or ctx.now
    changes = session.exec(
        select(LedgerEvent.occurred_at, LedgerEvent.seq, LedgerEvent.kind)
        .join(EventSubject, col(EventSubject.seq) == col(LedgerEvent.seq))
        .where(
            EventSubject.subject_type == SubjectType.INSTITUTION,
            EventSubject.subject_key == short_name,
            col(LedgerEvent.kind).in_(INSTITUTION_CHANGES),
        )
    ).all()  # its registration and its renames: a few rows
    if not changes:  # nothing adds it: a tampered index, which verify names
        return
    when, seq, kind = max((from_stored(stored), seq, kind) for stored, seq, kind in changes)
    if at < when:
        done = CHANGE_WORDS[kind]
        raise RuleViolation(
            f"time: {to_iso(at)} is before institution {short_name} was {done} (event {seq}, "
            f"{to_iso(when)}); date {change} {bound_text(when)} (--at)"
        )


CHANGE_WORDS = {
    ev.InstitutionAdded.kind: "registered",
    ev.InstitutionRenamed.kind: "last renamed",
    ev.InstitutionPlaceChanged.kind: "last given a place",
}
"""How a refusal names an institution's latest change."""


def _new_name(name: str, current: str, what: str) -> str:
    """The name a rename gives, checked as a name, which must differ from the current one."""
    new_name = require_name(name, "name")
    if new_name == current:
        raise InvalidInput(f"--name: {what} is already named {new_name}; nothing to rename")
    return new_name


def rename_person(
    session: Session,
    ctx: Context,
    *,
    email: str,
    name: str,
    reason: str,
    occurred_at: datetime | None = None,
) -> Envelope:
    """Put a person's registered name right (curators only); the e-mail stays their key."""
    require_role(session, ctx, "curator", action="rename people")
    person = get_person(session, email)
    new_name = _new_name(name, person.name, person.email)
    _after_last_part(session, ctx, person, occurred_at, "a rename")
    event = ev.PersonRenamed(email=person.email, previous_name=person.name, name=new_name)
    return append(
        session, ctx, event, occurred_at=occurred_at, reason=require_text(reason, "reason")
    )


def change_role(
    session: Session,
    ctx: Context,
    *,
    email: str,
    role: str,
    reason: str,
    occurred_at: datetime | None = None,
) -> Envelope:
    """Change a person's role, within the institution rule (curators only)."""
    require_role(session, ctx, "curator", action="change roles")
    person = get_person(session, email)
    new_role = require_choice(role, "role", ROLES)
    if not person.active:
        raise Conflict(f"person {person.email} is deactivated; reactivate them first")
    if new_role == person.role:
        raise Conflict(f"person {person.email} is already a {new_role.replace('_', ' ')}")
    require_staff_institution(session, new_role, person.institution)
    _keep_a_curator(session, person, f"making them a {new_role.replace('_', ' ')}")
    _after_last_part(session, ctx, person, occurred_at, "a role change")
    event = ev.PersonRoleChanged(email=person.email, previous_role=person.role, role=new_role)
    return append(
        session, ctx, event, occurred_at=occurred_at, reason=require_text(reason, "reason")
    )
