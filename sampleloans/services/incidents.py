"""Incidents (loss, theft, damage) and corrections: new events, never edits."""

from datetime import datetime

from sqlmodel import Session

from sampleloans.errors import Conflict, NoSuchRecord, PermissionDenied, RuleViolation
from sampleloans.ledger import events as ev
from sampleloans.ledger.envelope import Context, Envelope
from sampleloans.models import Incident, Sample
from sampleloans.services import access
from sampleloans.services.common import (
    INCIDENT_KINDS,
    acting_person,
    append,
    get_event,
    get_sample,
    require_choice,
    require_role,
    require_text,
    where_sample_is,
)
from sampleloans.text import words
from sampleloans.units import check_mass_ug, format_mass
from sampleloans.vocab import CustodyState, IncidentStatus, Role, state_words

ON_LOAN_STATES = (
    CustodyState.ISSUED,
    CustodyState.IN_TRANSIT,
    CustodyState.HELD,
    CustodyState.RETURN_IN_TRANSIT,
)
"""A sample in these states is out on a loan: a loss is written off what is on loan."""


def report_incident(
    session: Session,
    ctx: Context,
    *,
    sample: str,
    incident_kind: str,
    description: str,
    mass_lost_ug: int = 0,
    occurred_at: datetime | None = None,
) -> Envelope:
    """Report a loss, theft or damage; the sample is frozen until the incident is resolved.

    Curators report on any sample; a researcher on a sample their institution holds on loan
    (issue 14 point 6: what happens in their lab), any other reads as a missing one."""
    person = acting_person(session, ctx)
    if person.role not in (Role.CURATOR, Role.RESEARCHER):
        raise PermissionDenied(
            f"{person.email} is a {words(person.role)}; only curators may report incidents "
            "(and a researcher, on a sample held on their institution's loan)"
        )
    if person.role == Role.RESEARCHER:
        target = access.readable_sample(session, person, sample)
        _held_in_their_lab(person.email, target)
    else:
        target = get_sample(session, sample)
    if target.custody_state == CustodyState.TRANSFERRED:  # no longer in the lender's custody
        raise RuleViolation(
            f"sample {sample} is {where_sample_is(target)}; the ledger records incidents only "
            "for samples in the vault or out on loan (a note on the transfer: 'custody correct "
            "SEQ --text …')"
        )
    incident_kind = require_choice(incident_kind, "kind", INCIDENT_KINDS)
    check_mass_ug(mass_lost_ug, "mass lost", allow_zero=True)
    on_loan = target.custody_state in ON_LOAN_STATES
    if mass_lost_ug:
        available = target.on_loan_ug if on_loan else target.vault_ug
        if mass_lost_ug > available:  # the mass balance forbids it: a rule, like any overdraw
            raise RuleViolation(
                f"mass lost: {format_mass(mass_lost_ug)} is more than the "
                f"{format_mass(available)} of {sample} there is to lose"
            )
    event = ev.IncidentReported(
        sample=sample,
        loan=target.loan_number if on_loan else None,
        incident_kind=incident_kind,
        description=require_text(description, "description"),
        mass_lost_ug=mass_lost_ug,
    )
    return append(session, ctx, event, occurred_at=occurred_at)


def _held_in_their_lab(email: str, target: Sample) -> None:
    """A researcher reports what happens in their lab: only on a sample their institution
    holds, not one still at the lender, with a courier, on its way back or used up."""
    if target.custody_state != CustodyState.HELD:
        raise PermissionDenied(
            f"{email} is a researcher; a researcher reports incidents only on a sample held in "
            f"their lab, and {target.code} is {state_words(target.custody_state)} on loan "
            f"{target.loan_number}: a curator reports it"
        )


def resolve_incident(
    session: Session,
    ctx: Context,
    *,
    incident_seq: int,
    resolution: str,
    occurred_at: datetime | None = None,
) -> Envelope:
    """Resolve an open incident; the record stays and the sample is released."""
    require_role(session, ctx, "curator", action="resolve incidents")
    incident = session.get(Incident, incident_seq) if 0 < incident_seq < 2**63 else None
    if incident is None:
        raise NoSuchRecord("incident", str(incident_seq), "see 'sampleloans incidents list'")
    if incident.status != IncidentStatus.OPEN:
        raise Conflict(f"incident {incident_seq} is already resolved")
    event = ev.IncidentResolved(
        incident_seq=incident_seq, resolution=require_text(resolution, "resolution")
    )
    return append(session, ctx, event, occurred_at=occurred_at)


def record_correction(
    session: Session,
    ctx: Context,
    *,
    corrects_seq: int,
    text: str,
    occurred_at: datetime | None = None,
) -> Envelope:
    """Append a correction that references an earlier event; the earlier event is unchanged."""
    require_role(session, ctx, "curator", action="record corrections")
    get_event(session, corrects_seq)
    body = require_text(text, "text")
    return append(
        session,
        ctx,
        ev.Correction(text=body),
        occurred_at=occurred_at,
        corrects_seq=corrects_seq,
        reason=body,
    )
