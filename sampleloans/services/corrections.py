"""Corrections of recorded masses: a new event supersedes the value, the old event stays.

A mistyped consumption, weighing, registration, split or loss mass is corrected by a
`mass.corrected` event that names the event it corrects (`corrects_seq`), the sample, the mass
in force and the right one, with a reason. `apply` moves the difference through the same
projections the original event built (so `balance`, `status`, `loans show` and the reports use
the corrected value, and `verify` replays it) and refuses a correction that would break
conservation at any moment since the corrected event.
"""

import json
from datetime import datetime

from sqlmodel import Session

from sampleloans.errors import InvalidInput
from sampleloans.ledger import events as ev
from sampleloans.ledger.apply import MASS_WHAT, MAY_BE_ZERO, mass_samples, recorded_mass_ug
from sampleloans.ledger.envelope import Context, Envelope
from sampleloans.models import LedgerEvent, Mission, Sample
from sampleloans.services.common import append, get_event, require_role, require_text
from sampleloans.units import MAX_MASS_UG, format_mass


def correct_mass(
    session: Session,
    ctx: Context,
    *,
    corrects_seq: int,
    mass_ug: int,
    reason: str,
    sample: str | None = None,
    occurred_at: datetime | None = None,
) -> Envelope:
    """Record that event `corrects_seq` should have recorded `mass_ug` (of `sample`)."""
    require_role(session, ctx, "curator", action="correct recorded masses")
    row = _mass_event(session, corrects_seq)
    code = _corrected_sample(row, sample)
    why = require_text(reason, "reason")
    old_ug = recorded_mass_ug(session, row.kind, row.seq, code)
    _check_new_mass(MASS_WHAT[row.kind], code, old_ug, mass_ug)
    if row.kind == ev.SampleRegistered.kind:
        _check_mission_total(session, code, mass_ug - old_ug)
    event = ev.MassCorrected(
        what=MASS_WHAT[row.kind], sample=code, old_mass_ug=old_ug, new_mass_ug=mass_ug
    )
    envelope = append(
        session, ctx, event, occurred_at=occurred_at, reason=why, corrects_seq=corrects_seq
    )
    if row.kind == ev.SampleRegistered.kind:
        _follow_mission_total(session, code, mass_ug - old_ug)
    return envelope


def _mass_event(session: Session, seq: int) -> LedgerEvent:
    """The event to correct, which must be one that records a mass."""
    row = get_event(session, seq)
    if row.kind == ev.MassCorrected.kind and row.corrects_seq is not None:
        # its mass is the one in force for the event it corrects: that event is corrected again
        original = row.corrects_seq
        raise InvalidInput(
            f"--mass: event {seq} is a mass correction of event {original}; to change that mass "
            f"again, correct event {original}: 'custody correct {original} --mass … --reason …' "
            "(the newest correction is the mass in force)"
        )
    if row.kind not in MASS_WHAT:
        raise InvalidInput(
            f"--mass: event {seq} ({row.kind.replace('.', ' ')}) records no mass; a mass can be "
            "corrected on a consumption, a receipt's or return's weighing, a registration, a "
            "split or a loss; use --text for other corrections"
        )
    return row


def _corrected_sample(row: LedgerEvent, given: str | None) -> str:
    """The sample whose mass is corrected: the one given, or the event's only one."""
    codes = mass_samples(row.kind, json.loads(row.payload))
    if given is None:
        if len(codes) == 1:
            return codes[0]
        raise InvalidInput(
            f"--sample: event {row.seq} records the mass of {len(codes)} samples "
            f"({', '.join(codes)}); name the one to correct"
        )
    if given not in codes:
        raise InvalidInput(
            f"--sample: event {row.seq} records no mass of {given}; it records {', '.join(codes)}"
        )
    return given


def _check_new_mass(what: str, code: str, old_ug: int, new_ug: int) -> None:
    """A corrected mass is a real change within what a mass can be."""
    least_ug = 0 if what in MAY_BE_ZERO else 1
    if new_ug < least_ug:
        raise InvalidInput(f"--mass: must be at least {format_mass(least_ug)} for a {what}")
    if new_ug > MAX_MASS_UG:
        raise InvalidInput(f"--mass: {format_mass(new_ug)} is more than 10 kg; check the unit")
    if new_ug == old_ug:
        raise InvalidInput(
            f"--mass: the {what} of {code} is already {format_mass(old_ug)}; nothing to correct"
        )


def _check_mission_total(session: Session, code: str, delta_ug: int) -> None:
    """A larger registered mass may not take the mission's samples past what it returned."""
    from sampleloans.services.samples import _check_mission_total as check_total

    found = session.get(Sample, code)
    assert found is not None
    mission = session.get(Mission, found.mission)
    assert mission is not None
    check_total(session, mission, max(delta_ug, 0))


def _follow_mission_total(session: Session, code: str, delta_ug: int) -> None:
    """A bulk session's running total of the mission's root samples follows the correction."""
    from sampleloans.ledger.unit import open_batch

    found = session.get(Sample, code)
    batch = open_batch(session)
    if found is not None and batch is not None and found.mission in batch.mission_root_ug:
        batch.mission_root_ug[found.mission] += delta_ug
