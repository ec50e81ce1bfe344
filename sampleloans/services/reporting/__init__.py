"""Build the PDF reports' read models from the ledger: one builder module per report.

The read models themselves (frozen dataclasses and the content digest) are in
`sampleloans/readmodels/report.py`; `reports/` turns them into PDF bytes. This package reads
the projections through the ORM session and never writes: `custody.py`, `returns.py`,
`overdue.py` and `inventory.py` each build one report's body, `parts.py` holds what they share.
"""

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from sqlalchemy import inspect, text
from sqlmodel import Session, col, select

from sampleloans.dates import (
    bound_text,
    format_datetime,
    format_moment,
    from_iso,
    refuse_future,
    to_iso,
)
from sampleloans.errors import (
    Conflict,
    InvalidInput,
    NoSuchRecord,
    NotFound,
    NotYetRecorded,
    RuleViolation,
)
from sampleloans.ledger.envelope import Context
from sampleloans.models import LedgerEvent
from sampleloans.readmodels.report import (
    BORROWER,
    KINDS,
    TITLES,
    CustodyBody,
    InventoryBody,
    OverdueBody,
    Report,
    ReportRequest,
    ReturnBody,
)
from sampleloans.services import access
from sampleloans.services.common import get_sample
from sampleloans.services.logins import events_hidden, refuse_hidden_replay
from sampleloans.services.reporting import custody, inventory, overdue, returns
from sampleloans.text import counted

Body = CustodyBody | ReturnBody | OverdueBody | InventoryBody
NEWEST = "newest"
"""Name the newest kept checkpoint covering the head (else `SIZE:ROOT`, or None for none)."""
Builder = Callable[[Session, ReportRequest, datetime], tuple[Body, str]]


def make_request(
    kind: str,
    *,
    loan: str | None = None,
    sample: str | None = None,
    institution: str | None = None,
    as_of: datetime | None = None,
    audience: str | None = None,
) -> ReportRequest:
    """Validate which scopes a kind accepts (`audience`: None, or BORROWER)."""
    if kind not in KINDS:
        raise InvalidInput(f"report kind {kind!r} is not one of {', '.join(KINDS)}")
    given = [
        name
        for name, value in (("loan", loan), ("sample", sample), ("institution", institution))
        if value
    ]
    allowed = {"custody": ("loan", "sample", "institution"), "overdue": ("institution",)}.get(
        kind, ("loan",)
    )
    if len(given) != 1 or given[0] not in allowed:
        if len(allowed) == 1 and not given:  # "exactly one of --loan" names no choice
            raise InvalidInput(f"--{allowed[0]}: missing; report {kind} requires it")
        options = " or ".join(f"--{a}" for a in allowed)
        raise InvalidInput(f"report {kind}: give exactly one of {options}")
    if as_of is not None and kind != "custody":
        raise InvalidInput(f"--as-of: only the custody report takes it, not {kind}")
    if audience not in (None, BORROWER):
        raise InvalidInput(f"for: {str(audience)[:20]!r} is not {BORROWER!r}")
    return ReportRequest(
        kind=kind,
        loan=loan,
        sample=sample,
        institution=institution,
        as_of=to_iso(as_of) if as_of is not None else None,
        audience=audience,
    )


def for_reader(session: Session, ctx: Context, request: ReportRequest) -> ReportRequest:
    """`request` printed for the acting person: a researcher's report is the borrower's
    (`BORROWER`), which leaves out the lender's internal details; staff's is the lender's."""
    person = access.reader(session, ctx)
    return replace(request, audience=None if access.is_staff(person) else BORROWER)


def check_access(session: Session, ctx: Context, request: ReportRequest) -> None:
    """Curators and compliance officers read every report; researchers their own institution."""
    person = access.reader(session, ctx)
    if request.loan:
        access.readable_loan(session, person, request.loan)
    elif request.sample:
        # a lineage spans other institutions' loans (siblings, earlier borrowers): staff only
        access.require_staff(person, "print a sample lineage's custody report")
        get_sample(session, request.sample)
    else:
        access.readable_institution(session, person, request.institution or "")


def build_report(
    session: Session,
    ctx: Context,
    request: ReportRequest,
    *,
    generated_at: datetime,
    checkpoint: str | None = NEWEST,
) -> Report:
    """The report's read model at the ledger's head (or as of `request.as_of`), naming the
    `checkpoint` (NEWEST: the newest kept one covering its head; `SIZE:ROOT`; None: none)."""
    check_access(session, ctx, request)
    refuse_future("--generated-at", generated_at, ctx.now, "a report is dated when it is made")
    if request.as_of is not None:
        as_of = from_iso(request.as_of)
        refuse_future("--as-of", as_of, ctx.now, "give a moment up to now")
        from sampleloans.ledger import replay  # the write side loads only for a past report

        cut = replay.as_of(session, as_of)  # the one definition of "as it stood at"
        return rebuild_at(
            session, ctx, request, cut.up_to_seq or 0, generated_at, checkpoint=checkpoint
        )
    report = _build(session, request, generated_at)
    refuse_unlike_events(session, ctx, report)
    return with_checkpoint(session, report, checkpoint)


def refuse_unlike_events(session: Session, ctx: Context, report: Report) -> None:
    """Refuse (exit 1) a report whose pages, read from the projections, differ from what its
    records' own events give (the scoped replay `rebuild_at` uses): a table edited by hand is
    never printed as the ledger's word. A report over every institution has no scope to
    replay, and a login the events are hidden from cannot replay them: `verify` covers both."""
    request = report.request
    subject = _subject_of(request)
    if subject is None or events_hidden(session.connection()):
        return
    rebuilt = rebuild_at(
        session, ctx, request, report.head_seq, report.generated_at, checkpoint=None
    )
    if rebuilt.body != report.body:
        raise Conflict(
            f"{subject}: the ledger's tables differ from what its events give (edited outside "
            "sampleloans); nothing is printed from them: run 'sampleloans verify'"
        )


def _subject_of(request: ReportRequest) -> str | None:
    """The record a report is about, as named to the user (None: every institution)."""
    if request.loan:
        return f"loan {request.loan}"
    if request.sample:
        return f"sample {request.sample}"
    return f"institution {request.institution}" if request.institution else None


def refuse_dated_before_head(session: Session, report: Report) -> None:
    """Refuse a report dated (--generated-at) before what it prints (exit 1): before its head
    event was recorded, or before the moment it is as of."""
    when = to_iso(report.generated_at)
    as_of = report.request.as_of
    if as_of is not None and report.generated_at < from_iso(as_of):
        raise RuleViolation(
            f"--generated-at: {when} is before --as-of {as_of}; a report is dated when it is "
            f"made: give --generated-at {bound_text(from_iso(as_of))}"
        )
    recorded_at = event_recorded_at(session, report.head_seq) if report.head_seq else None
    if recorded_at is not None and report.generated_at < from_iso(recorded_at):
        raise RuleViolation(
            f"--generated-at: {when} is before {recorded_at}, when event {report.head_seq} "
            "(the last the report prints) was recorded; a report is dated when it is made: "
            f"give --generated-at {bound_text(from_iso(recorded_at))}"
        )


def rebuild_at(
    session: Session,
    ctx: Context,
    request: ReportRequest,
    seq: int,
    generated_at: datetime,
    *,
    checkpoint: str | None = NEWEST,
) -> Report:
    """The same report built from a replay of the ledger up to `seq` (in memory); a report as
    of a moment takes the ledger as it stood then (`ledger/replay.py`), whose head is `seq`."""
    from sampleloans.ledger import replay

    check_access(session, ctx, request)
    refuse_hidden_replay(session, "a report as it stood at an earlier event")
    moment = from_iso(request.as_of) if request.as_of is not None else None
    cut = replay.Cut(up_to_seq=seq, occurred_by=moment)
    # only the report's scope is replayed, so its head is read here: the last event the cut
    # takes, which is where the full replay would end
    head_seq = replay.last_taken(session, cut)
    head_hash = hash_at(session, head_seq)
    head = None if head_hash is None else (head_seq, head_hash)  # none taken: the genesis
    with replay.ledger_at(session, cut, scope=_scope_of(session, request)) as past:
        report = _build(past, request, generated_at, head=head, live=session)
    return with_checkpoint(session, report, checkpoint)


def _scope_of(session: Session, request: ReportRequest) -> list[tuple[str, str]]:
    """The records a report reads, as `event_subject` subjects (a sample: its whole lineage)."""
    if request.loan:
        return [("loan", request.loan)]
    if request.sample:
        from sampleloans.services.history import lineage

        return [("sample", code) for code in lineage(session, request.sample)]
    return [("institution", request.institution or "")]


def with_checkpoint(session: Session, report: Report, checkpoint: str | None) -> Report:
    """`report` naming a kept signed checkpoint covering its head, with the head's inclusion
    proof (NEWEST: the newest such, if any; `SIZE:ROOT`: that one; None: none)."""
    if checkpoint is None or (checkpoint == NEWEST and not _keeps_checkpoints(session)):
        return report
    from sampleloans.services.reporting import checkpoint as checkpoints  # loads the ledger

    connection = session.connection()
    if checkpoint == NEWEST:
        kept = checkpoints.newest_covering(connection, report.head_seq)
        if kept is None:
            return report
    else:
        problem = checkpoints.named_problem(session, checkpoint, report.head_seq)
        kept = checkpoints.kept_named(connection, checkpoint)
        if problem is not None or kept is None:
            raise RuleViolation(problem or f"checkpoint: {checkpoint[:24]}… is not kept")
    named = checkpoints.report_checkpoint(session, report.head_seq, kept)
    return replace(report, checkpoint=named)


def event_recorded_at(session: Session, seq: int) -> str | None:
    """When event `seq` was recorded (stored text), or None when this login cannot know: a
    researcher's login on a secured PostgreSQL ledger learns it of the head alone."""
    row = session.get(LedgerEvent, seq)
    if row is not None:
        return row.recorded_at
    if not events_hidden(session.connection()):
        return None
    from sampleloans.ledger.unit import head_query

    head = session.execute(head_query(session.connection())).first()
    return str(head[2]) if head is not None and int(head[0]) == seq else None


def ledger_head(session: Session) -> tuple[int, str]:
    """The ledger's last event as (seq, hash): what a report printed now would carry.

    Read with one primary-key seek here, so that printing a report does not load the write
    side (`ledger/store.py`); only an empty ledger asks the store for its genesis link, and
    a researcher's login on a secured PostgreSQL ledger, which row-level security shows only
    their loans' events, asks the store (it reads the head through the ledger's function).
    """
    if events_hidden(session.connection()):
        from sampleloans.ledger.store import head

        return head(session)
    last = session.exec(
        select(LedgerEvent.seq, LedgerEvent.hash).order_by(col(LedgerEvent.seq).desc()).limit(1)
    ).first()
    if last is None:
        from sampleloans.ledger.store import head

        return head(session)
    return last[0], last[1]


def hash_at(session: Session, seq: int) -> str | None:
    """The hash of event `seq`, or None when the ledger has no such event (whoever reads: a
    researcher's login too, through the function showing every event's seq and hash)."""
    if events_hidden(session.connection()):
        from sampleloans.services.checkpoints import event_hash

        return event_hash(session.connection(), seq)
    row = session.get(LedgerEvent, seq)
    return None if row is None else row.hash


def _build(
    session: Session,
    request: ReportRequest,
    generated_at: datetime,
    head: tuple[int, str] | None = None,
    live: Session | None = None,
) -> Report:
    head_seq, head_hash = head or ledger_head(session)
    builders: dict[str, Builder] = {
        "custody": custody.build,
        "return": returns.build,
        "overdue": overdue.build,
        "inventory": inventory.build,
    }
    try:
        body, label = builders[request.kind](session, request, generated_at)
    except NoSuchRecord as exc:
        if request.as_of:  # it exists now (the request was checked against the ledger as it is)
            moment = format_moment(from_iso(request.as_of))  # as typed, to its second
            from sampleloans.ledger import replay  # only on this refusal

            # when it came to be is read from the ledger as it is (`live`), not as it stood
            since = replay.earliest_cut_with(live or session, exc.what, exc.key)
            later = bound_text(since) if since else None
            held = counted(head_seq, "event")
            raise NotYetRecorded.as_of(exc, moment, held, later=later) from None
        hint = f"{exc.hint} (in the ledger up to event {head_seq})"
        raise NoSuchRecord(exc.what, exc.key, hint, scoped=exc.scoped, option=exc.option) from None
    except NotFound as exc:
        raise NotFound(f"{exc} (in the ledger up to event {head_seq})") from None
    if request.as_of:
        label += f", as of {format_datetime(from_iso(request.as_of))}"
    return Report(
        request=request,
        title=TITLES[request.kind],
        scope_label=label,
        generated_at=generated_at,
        head_seq=head_seq,
        head_hash=head_hash,
        body=body,
    )


def _keeps_checkpoints(session: Session) -> bool:
    """Whether the ledger keeps any signed checkpoint: without one, a report names none and the
    checkpoint code (hashing, proofs, the write side's checks) is never loaded."""
    connection = session.connection()
    if not inspect(connection).has_table("checkpoint"):
        return False
    return connection.execute(text("SELECT 1 FROM checkpoint LIMIT 1")).first() is not None
