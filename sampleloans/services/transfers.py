"""Permanent transfers: whole samples given away for good (China's gifts of Chang'e-5 material
to Russia in 2022 and to France in 2023). Not loans: nothing is due back, but the mass that
left is still accounted for, as the `transferred` term of the sample's balance."""

from datetime import datetime

from sqlmodel import Session, col, func, select

from sampleloans.errors import Conflict, InvalidInput, RuleViolation
from sampleloans.ledger import events as ev
from sampleloans.ledger.checks import NEVER_LENT, state_refusal
from sampleloans.ledger.envelope import Context, Envelope
from sampleloans.models import EventSubject, LedgerEvent, Sample
from sampleloans.services.common import (
    append,
    frozen_words,
    get_institution,
    get_sample,
    open_request_of,
    require_code,
    require_distinct,
    require_role,
    require_text,
    where_sample_is,
)
from sampleloans.vocab import CustodyState, InstitutionKind, state_words


def transfer_samples(
    session: Session,
    ctx: Context,
    *,
    codes: list[str],
    recipient: str,
    reference: str,
    occurred_at: datetime | None = None,
) -> Envelope:
    """Give whole samples from the vault to a recipient institution for good (curators only)."""
    require_role(session, ctx, "curator", action="transfer samples")
    to = get_institution(session, recipient)
    if to.kind != InstitutionKind.RECIPIENT:
        raise RuleViolation(
            f"--to: {to.short_name} is a {to.kind}; samples are given only to a recipient "
            "institution ('institutions add … --kind recipient'); a borrower gets a loan"
        )
    # a code typed twice is refused, not merged: as for a repeatable option, it is more often
    # a slip for another sample than meant
    # named by its words, `codes`: the command line's CODE, an imported event's `items`
    wanted = sorted(require_distinct([require_code(c, "sample") for c in codes], "codes", "sample"))
    if not wanted:
        raise InvalidInput("samples: name at least one sample code")
    samples = [get_sample(session, code) for code in wanted]
    for sample in samples:
        _require_transferable(session, sample, occurred_at)
    event = ev.SampleTransferred(
        recipient=to.short_name,
        items=[ev.CodeMass(sample.code, sample.vault_ug) for sample in samples],
        reference=require_text(reference, "reference", max_len=200),
    )
    return append(session, ctx, event, occurred_at=occurred_at)


def _require_transferable(session: Session, sample: Sample, at: datetime | None) -> None:
    """Only a whole sample in the vault, not frozen, and not storage-class, is given away (`at`:
    when the transfer says it happened; a refusal of one dated before the sample's last event
    names the time, `state_refusal`)."""
    if sample.purpose_class in NEVER_LENT:
        raise RuleViolation(
            f"sample {sample.code} is {sample.purpose_class} storage material, which never "
            "leaves the collection"
        )
    record, last_at = f"sample {sample.code}", sample.last_event_at
    if sample.frozen:
        frozen = frozen_words(session, sample.code, at=at)
        raise state_refusal(frozen, record, last_at, at, otherwise=RuleViolation)
    if sample.custody_state != CustodyState.VAULT:
        where = f"sample {sample.code} is {where_sample_is(sample)}; not in the vault"
        raise state_refusal(where, record, last_at, at, otherwise=RuleViolation)
    if sample.vault_ug <= 0:
        raise RuleViolation(f"sample {sample.code} has no mass left in the vault")
    requested = open_request_of(session, sample.code)
    if requested is not None:  # given away, it would strand the request (refused at its issue)
        raise Conflict(
            f"sample {sample.code} is on loan request {requested.number} "
            f"({state_words(requested.status)}, not issued); withdraw it first ('loans withdraw "
            f"{requested.number} --reason …') or give another sample"
        )


def last_transfer_seq(session: Session, code: str) -> int:
    """The sequence number of the transfer that gave a sample away."""
    query = (
        select(func.max(EventSubject.seq))
        .join(LedgerEvent, col(LedgerEvent.seq) == col(EventSubject.seq))
        .where(
            EventSubject.subject_type == "sample",
            EventSubject.subject_key == code,
            LedgerEvent.kind == ev.SampleTransferred.kind,
        )
    )
    seq = session.exec(query).first()
    if seq is None:
        raise RuleViolation(f"sample {code} was never transferred; no custody note to add")
    return int(seq)


def record_custody_note(
    session: Session,
    ctx: Context,
    *,
    code: str,
    note: str,
    occurred_at: datetime | None = None,
) -> Envelope:
    """Note what a recipient did with given samples (e.g. MNHN → IPGP for a while) as a note on
    the transfer event; the sample is no longer the lender's, so nothing else changes."""
    from sampleloans.services.incidents import record_correction

    sample = get_sample(session, require_code(code, "sample"))
    seq = last_transfer_seq(session, sample.code)
    return record_correction(session, ctx, corrects_seq=seq, text=note, occurred_at=occurred_at)
