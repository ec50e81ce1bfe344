"""Registering, splitting and moving samples in the curator's vault."""

import re
from datetime import datetime

from sqlmodel import Session, col, func, select

from sampleloans.errors import Conflict, InvalidInput, NoSuchRecord, RecordConflict, RuleViolation
from sampleloans.ledger import events as ev
from sampleloans.ledger.checks import state_refusal
from sampleloans.ledger.envelope import Context, Envelope
from sampleloans.ledger.reads import get_row, open_batch
from sampleloans.models import Mission, Sample
from sampleloans.services.common import (
    PURPOSE_CLASSES,
    USED_UP,
    append,
    checked_early,
    frozen_words,
    get_sample,
    open_request_of,
    require_choice,
    require_code,
    require_role,
    require_text,
    where_sample_is,
)
from sampleloans.services.lock_reads import declare_check_scope
from sampleloans.services.results import SamplesWritten, samples_written
from sampleloans.units import check_mass_ug
from sampleloans.vocab import CustodyState, Origin, RecordSource, state_words, values

ORIGINS = values(Origin)
RECORD_SOURCES = values(RecordSource)
# Advisory only: codes are opaque (docs/domain.md, "The material"); this pattern never rejects
# a code.
CODE_PATTERN = re.compile(r"^(CE\d)([CZ])(\d{4})(YJ)?([A-Z]{2})?(\d+)")


def advisory_fields(code: str) -> dict[str, str]:
    """Fields read off a code where it matches the published pattern; never authoritative."""
    match = CODE_PATTERN.match(code)
    if not match:
        return {}
    origin = {"C": "scoop", "Z": "drill"}[match.group(2)]
    form = {"FM": "powder", "YX": "rock fragment"}.get(match.group(5) or "", "")
    fields = {"mission": match.group(1)[:2] + "-" + match.group(1)[2:], "origin": origin}
    if form:
        fields["physical_form"] = form
    return fields


def register_sample(
    session: Session,
    ctx: Context,
    *,
    code: str,
    mission: str,
    mass_ug: int,
    origin: str,
    material_type: str,
    physical_form: str,
    purpose_class: str,
    storage_location: str,
    condition: str = "pristine",
    depth_top_mm: int | None = None,
    depth_bottom_mm: int | None = None,
    record: str = "illustrative",
    occurred_at: datetime | None = None,
) -> Envelope:
    """Register a sample in the acting curator's vault (curators only)."""
    curator = require_role(session, ctx, "curator", action="register samples")
    code = require_sample_code(code, "code")
    # read through an import's batch unit: it has looked up the whole batch's codes at once
    if get_row(session, Sample, code) is not None:
        raise RecordConflict(
            f"sample {code} is already registered; codes are unique and immutable", key=code
        )
    known = get_row(session, Mission, mission)
    if known is None:
        raise NoSuchRecord("mission", mission, "known missions are CE-5 and CE-6")
    _check_mass(known, mass_ug)
    _check_after_return(known, occurred_at or ctx.now)
    origin = require_choice(origin, "origin", ORIGINS)
    _check_depth(origin, depth_top_mm, depth_bottom_mm)
    event = ev.SampleRegistered(
        code=code,
        mission=mission,
        origin=origin,
        depth_top_mm=depth_top_mm,
        depth_bottom_mm=depth_bottom_mm,
        material_type=require_text(material_type, "material type", max_len=80),
        physical_form=require_text(physical_form, "physical form", max_len=80),
        purpose_class=require_choice(purpose_class, "purpose class", PURPOSE_CLASSES),
        storage_location=require_text(storage_location, "storage location", max_len=120),
        condition=require_text(condition, "condition", max_len=200),
        record=require_choice(record, "record", RECORD_SOURCES),
        mass_ug=mass_ug,
        custodian=curator.institution,
    )
    registered_ug = _check_mission_total(session, known, mass_ug)
    envelope = append(session, ctx, event, occurred_at=occurred_at)
    batch = open_batch(session)
    if batch is not None:
        batch.mission_root_ug[mission] = registered_ug + mass_ug
    return envelope


def _check_mass(mission: Mission, mass_ug: int) -> None:
    """Refuse a mass that is not positive, or more than 10 kg or the mission's whole return."""
    from sampleloans.units import format_mass

    check_mass_ug(mass_ug, "mass")
    if mission.returned_mass_ug is not None and mass_ug > mission.returned_mass_ug:
        raise InvalidInput(
            f"mass: {format_mass(mass_ug)} is more than {mission.code} returned in all "
            f"({format_mass(mission.returned_mass_ug)}); check the unit"
        )


def _check_mission_total(session: Session, mission: Mission, mass_ug: int) -> int:
    """Refuse a root sample that would take the mission's registered samples past its return.

    Returns the mass the mission's root samples held before this one.
    """
    from sampleloans.units import format_mass

    registered_ug = _root_mass_ug(session, mission.code)
    returned_ug = mission.returned_mass_ug
    if returned_ug is not None and registered_ug + mass_ug > returned_ug:
        raise RuleViolation(
            f"mission {mission.code} returned {format_mass(returned_ug)} in all; its samples "
            f"already registered hold {format_mass(registered_ug)}, so {format_mass(mass_ug)} "
            f"more would make {format_mass(registered_ug + mass_ug)}; check the mass and unit"
        )
    return registered_ug


def _root_mass_ug(session: Session, mission: str) -> int:
    """The initial mass of every sample of a mission that is not split from another.

    An import registers thousands of samples in one transaction; summing the mission's samples
    for each would be quadratic, so its batch unit keeps the running total (`Unit.reset` puts
    back the total of where an undone batch started). A single command asks the database.
    """
    batch = open_batch(session)
    totals = None if batch is None else batch.mission_root_ug
    if totals is not None and mission in totals:
        return int(totals[mission])
    query = select(func.coalesce(func.sum(Sample.initial_mass_ug), 0)).where(
        Sample.mission == mission, col(Sample.parent_code).is_(None)
    )
    registered_ug = int(session.exec(query).first() or 0)
    if totals is not None:
        totals[mission] = registered_ug
    return registered_ug


def _check_after_return(mission: Mission, when: datetime) -> None:
    """A sample exists on Earth only from its mission's return (CE-5: 16 Dec 2020)."""
    if mission.returned_at is not None and when < mission.returned_at:
        from sampleloans.dates import bound_text, to_iso

        raise RuleViolation(  # time order is a rule (exit 1), as for every --at
            f"time: {to_iso(when)} is before mission {mission.code} returned "
            f"({to_iso(mission.returned_at)}); a sample cannot be registered before its "
            f"mission returned: check --at, and give a time {bound_text(mission.returned_at)}"
        )


def _check_depth(origin: str, top_mm: int | None, bottom_mm: int | None) -> None:
    """A drill depth interval is only for drilled material and must be ordered."""
    if top_mm is None and bottom_mm is None:
        return
    if origin != "drill":
        raise InvalidInput("depth: only drilled samples (origin drill) have a depth interval")
    from sampleloans.units import MAX_DEPTH_MM

    if top_mm is None or bottom_mm is None or not 0 <= top_mm < bottom_mm <= MAX_DEPTH_MM:
        raise InvalidInput(
            f"depth: give TOP-BOTTOM in cm with 0 ≤ top < bottom ≤ {MAX_DEPTH_MM // 10} cm, "
            "e.g. 28-30"
        )


def require_sample_code(value: str, field: str) -> str:
    """A new sample's code: a record code in capitals, as curators write them (CE5C0000YJYX070,
    a split's -G1), so that no code differs from another only in case."""
    code = require_code(value, field)
    if code != code.upper():
        raise InvalidInput(
            f"{field}: {code!r} has lower-case letters; sample codes are written in capitals, "
            f"e.g. {code.upper()}"
        )
    return code


def child_code(parent: str, given: str) -> str:
    """A split's code: a suffix like '-G1' is appended; a full code must extend the parent's."""
    given = given.strip()
    code = parent + given if given.startswith("-") else given
    code = require_sample_code(code, "child code")
    if not code.startswith(parent) or code == parent:
        raise InvalidInput(
            f"child code: {code!r} must be the parent's code plus a suffix, e.g. {parent}-01"
        )
    return code


def taken_child_code(code: str) -> str:
    """Why a split's child code cannot be used: a sample has it. Led by the field (`--child`
    on the command line), as the child was typed there, not as the parent or another sample."""
    return (
        f"child code: {code} is already the code of a registered sample; codes are unique: "
        "choose another suffix"
    )


def split_sample(
    session: Session,
    ctx: Context,
    *,
    parent: str,
    children: list[tuple[str, int]],
    loss_ug: int = 0,
    occurred_at: datetime | None = None,
) -> SamplesWritten:
    """Split children off a sample in the vault; the parent keeps the rest (curators only)."""
    require_role(session, ctx, "curator", action="split samples")
    sample = get_sample(session, parent)
    if not children:
        raise InvalidInput("children: give at least one CODE=MASS, e.g. -01=20mg")
    # a refusal of a split dated before the sample's last event names the time (`state_refusal`)
    record, last_at = f"sample {parent}", sample.last_event_at
    if sample.frozen:
        frozen = frozen_words(session, parent, at=occurred_at)
        raise state_refusal(frozen, record, last_at, occurred_at)
    if sample.custody_state != CustodyState.VAULT:
        out = sample.loan_number and sample.custody_state not in USED_UP
        then = "record its return before splitting" if out else "nothing of it is in the vault"
        where = f"sample {parent} is {where_sample_is(sample)}; {then}"
        raise state_refusal(where, record, last_at, occurred_at)
    codes = [child_code(parent, code) for code, _mass in children]
    twice = next((code for n, code in enumerate(codes) if code in codes[:n]), None)
    if twice is not None:
        raise InvalidInput(f"children: {twice} is given twice; each child code must be different")
    for code in codes:
        if session.get(Sample, code) is not None:
            raise Conflict(taken_child_code(code))
    for _code, mass in children:
        check_mass_ug(mass, "child mass")
    check_mass_ug(loss_ug, "loss", allow_zero=True)
    needed_ug = sum(mass for _code, mass in children) + loss_ug
    if needed_ug > sample.vault_ug:
        from sampleloans.units import format_mass

        raise RuleViolation(
            f"split of {parent}: children and loss add up to {format_mass(needed_ug)} but only "
            f"{format_mass(sample.vault_ug)} is in the vault; masses must balance"
        )
    requested = open_request_of(session, parent) if needed_ug == sample.vault_ug else None
    if requested is not None:  # split whole, it would strand the request (refused at issue)
        raise Conflict(
            f"split of {parent}: it is on loan request {requested.number} "
            f"({state_words(requested.status)}, not issued) and would leave nothing of it in the "
            f"vault; withdraw the request first ('loans withdraw {requested.number} --reason …') "
            "or keep some of it"
        )
    event = ev.SampleSplit(
        parent=parent,
        children=[
            ev.CodeMass(code, mass) for code, (_given, mass) in zip(codes, children, strict=True)
        ],
        loss_ug=loss_ug,
    )
    envelope = append(session, ctx, event, occurred_at=occurred_at)
    return samples_written(session, envelope, codes)


def move_sample(
    session: Session,
    ctx: Context,
    *,
    code: str,
    storage_location: str,
    occurred_at: datetime | None = None,
    reason: str | None = None,
) -> Envelope:
    """Record a new storage location for a sample in the vault (curators only)."""
    location_now = checked_early(
        lambda: require_text(storage_location, "storage location", max_len=120)
    )
    why_now = checked_early(
        lambda: require_text(reason, "reason", max_len=500) if reason is not None else None
    )
    declare_check_scope(session, code)  # the sample and what the checks read about it
    require_role(session, ctx, "curator", action="move samples")
    sample = get_sample(session, code)
    if sample.custody_state != CustodyState.VAULT:
        where = (
            f"sample {code} is {where_sample_is(sample)}, not in the vault; only a sample in the "
            "vault can change storage location"
        )
        raise state_refusal(where, f"sample {code}", sample.last_event_at, occurred_at)
    location = location_now()
    if location == sample.storage_location:
        # a move that moves nothing would stay in every custody history as if it had
        raise Conflict(
            f"sample {code} is already in {location!r}; give --location the place it moves to"
        )
    why = why_now()
    event = ev.SampleMoved(code=code, storage_location=location)
    return append(session, ctx, event, occurred_at=occurred_at, reason=why)
