"""`sampleloans custody …`: Chain-of-custody history."""

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sampleloans.commands.common import (
    AtOption,
    JsonOption,
    console,
    parse_at,
    print_fitted,
    reading,
    whole_number,
    writing,
)
from sampleloans.commands.listing import (
    Column,
    CountedRows,
    JsonlOption,
    LimitOption,
    OffsetOption,
    TableSpec,
    check_formats,
    output_format,
    page_for,
    write_json_page,
    write_rows,
)

if TYPE_CHECKING:
    from sampleloans.services.history import History, HistoryFilters
    from sampleloans.services.listing import Page

app = typer.Typer(help="Chain-of-custody history.", no_args_is_help=True)


@app.command("history")
def history(
    ctx: typer.Context,
    sample: Annotated[
        str | None,
        typer.Option(
            "--sample",
            metavar="CODE",
            help="A sample code: its whole lineage (researchers: what was on their loans).",
        ),
    ] = None,
    loan: Annotated[
        str | None, typer.Option("--loan", metavar="NUMBER", help="A loan number.")
    ] = None,
    institution: Annotated[
        str | None,
        typer.Option("--institution", metavar="SHORT", help="An institution's short name."),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            metavar="DATETIME",
            help="Only events up to this time (ISO 8601, UTC if no offset), and the state "
            "replayed then.",
        ),
    ] = None,
    kind: Annotated[
        list[str] | None,
        typer.Option(
            "--kind",
            metavar="KIND",
            help="Only events of this kind, e.g. loan.received (repeatable).",
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="DATETIME",
            help="Only events that occurred at or after this time (ISO 8601, UTC if no offset).",
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            metavar="DATETIME",
            help="Only events that occurred at or before this time (ISO 8601, UTC if no offset).",
        ),
    ] = None,
    seal: Annotated[
        str | None,
        typer.Option(
            "--seal",
            metavar="SEAL",
            help="Only the shipment sealed with this seal and its receipt.",
        ),
    ] = None,
    limit: LimitOption = None,
    offset: OffsetOption = 0,
    as_json: JsonOption = False,
    as_jsonl: JsonlOption = False,
) -> None:
    """Every event of a sample lineage, loan or institution.

    The events are listed in ledger order.

    Give exactly one of --sample, --loan, --institution. With --as-of, only events that occurred
    up to that time are listed, and the ledger is replayed up to then to show the state of the
    record at that moment (custody state, custodian, masses). --kind, --since, --until and --seal
    narrow the events listed (they combine); events stream, --limit/--offset page through them.

    JSON keys (docs/json.md): subject_type, subject_key, lineage, as_of, events [seq,
    occurred_at, recorded_at,
    kind, actor, imported_by (the curator who imported the event from a history file, else null),
    recorded_by_borrower (true when a researcher of the borrower recorded it),
    os_user (the operating-system account that recorded it; null for a researcher), reason,
    description, corrects_seq, corrected_by, backdated (recorded over an hour after it
    occurred), handover (null except for
    issue, ship, receive, return and accept-return: {step, released_by, received_by, courier,
    witness}, each {email, name, institution} or null)], replayed_state (null without --as-of)
    {as_of, up_to_seq,
    samples [code, parent_code, custody_state, frozen, custodian, loan_number, initial_ug, vault_ug,
    on_loan_ug, split_ug, consumed_ug, lost_ug, transferred_ug], loans [number, institution,
    status, due_at, recalled_at, items [sample_code, custody_state, issued_ug, held_ug, consumed_ug,
    returned_ug]]}. --jsonl: one event object per line (not with --as-of).

    \b
    Example: sampleloans custody history --sample CE5C0400YJFM00505 --as-of 2025-05-01
    """
    check_formats(as_json=as_json, as_jsonl=as_jsonl)
    from sampleloans.dates import parse_datetime
    from sampleloans.services.history import history_listing

    fmt = output_format(as_json=as_json, as_jsonl=as_jsonl)
    with reading(ctx) as (session, service_ctx):
        _refuse_jsonl_as_of(as_jsonl=as_jsonl, as_of=as_of)
        moment = parse_datetime(as_of, "--as-of") if as_of else None
        filters = _history_filters(kind, since, until, seal)
        page = page_for(limit, offset, table=fmt == "table")
        result, total = history_listing(
            session,
            service_ctx,
            sample=sample,
            loan=loan,
            institution=institution,
            as_of=moment,
            filters=filters,
            page=page,
        )
        _write_history(result, page, total, fmt)


def _refuse_jsonl_as_of(*, as_jsonl: bool, as_of: str | None) -> None:
    """JSON Lines carry events only: the state replayed --as-of needs --json."""
    from sampleloans.errors import InvalidInput

    if as_jsonl and as_of:
        raise InvalidInput(
            "--jsonl: lists events only; give --json to see the state replayed --as-of"
        )


def _history_filters(
    kind: list[str] | None, since: str | None, until: str | None, seal: str | None
) -> "HistoryFilters":
    """The --kind, --since, --until and --seal filters, parsed (a bad time: exit 2)."""
    from sampleloans.dates import parse_datetime
    from sampleloans.services.common import require_distinct
    from sampleloans.services.history import HistoryFilters

    kinds = require_distinct([k.strip() for k in kind or ()], "--kind", "kind")
    return HistoryFilters(
        kinds=tuple(kinds),
        since=parse_datetime(since, "--since") if since else None,
        until=parse_datetime(until, "--until") if until else None,
        seal=seal,
    )


def _write_history(result: "History", page: "Page", total: Callable[[], int], fmt: str) -> None:
    """The events as a table (then the replayed state), JSON Lines, or one JSON document."""
    if fmt == "json":
        events = CountedRows(result.entries)
        write_json_page(history_json(result, events), events, page=page, total=total)
        return
    write_rows(
        iter(result.entries),
        page=page,
        total=total,
        to_json=event_json,
        spec=history_spec(result),
        fmt=fmt,
    )
    if fmt == "table":
        from sampleloans.commands.render import MASS_TERM_ABBREVIATIONS

        print_fitted(state_renderables(result), abbreviations=MASS_TERM_ABBREVIATIONS)


def _iso(moment: Any) -> str | None:
    """A time in the JSON vocabulary (whole-second UTC 'Z'), or None."""
    from sampleloans.commands.jsonout import json_time

    return json_time(moment)


def _handover_json(handover: Any) -> dict[str, Any] | None:
    """The persons of a hand-over event as JSON (None for any other event)."""
    from dataclasses import asdict

    if handover is None:
        return None
    persons = ("released_by", "received_by", "courier", "witness")
    return {
        "step": handover.step,
        **{
            name: (asdict(view) if (view := getattr(handover, name)) is not None else None)
            for name in persons
        },
    }


def handover_text(handover: Any) -> str:
    """'released by A → received by B; courier C; witness D' for a hand-over, else ''."""
    from sampleloans.readmodels.handover import label, receiver_label

    if handover is None:
        return ""
    text = f"released by {label(handover.released_by)} → received by "
    text += receiver_label(handover.step, handover.received_by)
    for name in ("courier", "witness"):
        view = getattr(handover, name)
        if view is not None:
            text += f"; {name} {view.label}"
    return text


def event_json(e: Any) -> dict[str, Any]:
    """One event of a history in the JSON vocabulary."""
    return {
        "seq": e.seq,
        "occurred_at": _iso(e.occurred_at),
        "recorded_at": _iso(e.recorded_at),
        "kind": e.kind,
        "actor": e.actor,
        "imported_by": e.imported_by,
        "recorded_by_borrower": e.by_borrower,
        "os_user": e.os_user,
        "reason": e.reason,
        "description": e.description,
        "corrects_seq": e.corrects_seq,
        "corrected_by": list(e.corrected_by),
        "backdated": e.backdated,
        "handover": _handover_json(e.handover),
    }


def history_json(result: Any, entries: Iterable[Any] | None = None) -> dict[str, Any]:
    """The documented JSON shape of a history; `events` is an iterator (streamed) over
    `entries` (default: the result's)."""
    state = result.state
    return {
        "subject_type": result.subject_type,
        "subject_key": result.subject_key,
        "lineage": list(result.codes),
        "as_of": _iso(result.as_of),
        "events": map(event_json, result.entries if entries is None else entries),
        "replayed_state": None if state is None else _replayed_state_json(state),
    }


def _replayed_state_json(state: Any) -> dict[str, Any]:
    """The state replayed --as-of: every sample's masses, every loan with its items."""
    return {
        "as_of": _iso(state.as_of),
        "up_to_seq": state.up_to_seq,
        "samples": [
            {
                "code": s.code,
                "parent_code": s.parent_code,
                "custody_state": s.custody_state,
                "frozen": s.frozen,
                "custodian": s.custodian,
                "loan_number": s.loan_number,
                "initial_ug": s.initial_ug,
                "vault_ug": s.vault_ug,
                "on_loan_ug": s.on_loan_ug,
                "split_ug": s.split_ug,
                "consumed_ug": s.consumed_ug,
                "lost_ug": s.lost_ug,
                "transferred_ug": s.transferred_ug,
            }
            for s in state.samples
        ],
        "loans": [_replayed_loan_json(loan) for loan in state.loans],
    }


def _replayed_loan_json(loan: Any) -> dict[str, Any]:
    """One loan as replayed: its status, due date and items."""
    return {
        "number": loan.number,
        "institution": loan.institution,
        "status": loan.status,
        "due_at": _iso(loan.due_at),
        "recalled_at": _iso(loan.recalled_at),
        "items": [
            {
                "sample_code": i.sample_code,
                "custody_state": i.state,
                "issued_ug": i.issued_ug,
                "held_ug": i.held_ug,
                "consumed_ug": i.consumed_ug,
                "returned_ug": i.returned_ug,
            }
            for i in loan.items
        ],
    }


def history_spec(result: Any) -> TableSpec:
    """The history as a table: one row per event."""
    from sampleloans.dates import format_datetime

    title = f"Custody history of {result.subject_type} {result.subject_key}"
    if result.as_of is not None:
        title += f" as of {format_datetime(result.as_of)}"
    return TableSpec(
        title=title.replace("{", "{{").replace("}", "}}"),
        columns=(
            Column("seq", right=True),
            Column("occurred (UTC)", no_wrap=True),
            Column("event", no_wrap=True),
            Column("actor"),
            Column("what"),
        ),
        cells=_event_cells,
        empty="No events match.",
        row_style=_event_style,
    )


def _event_style(e: Any) -> str:
    return "yellow" if e.kind in ("event.corrected", "mass.corrected") else ""


def _event_cells(e: Any) -> list[Any]:
    from rich.text import Text

    from sampleloans.commands.render import when_cell
    from sampleloans.readmodels.handover import direction_of
    from sampleloans.vocab import event_label

    what = Text(e.description)
    # corrections and person events already say their reason in the description
    described = ("event.corrected", "mass.corrected")
    if e.reason and not e.kind.startswith("person.") and e.kind not in described:
        what.append(f"; reason: {e.reason}")  # a recall's, an extension's, a move's
    if e.handover is not None:
        what.append(f"; {handover_text(e.handover)}")
    if e.corrected_by:
        what.append(f"  [corrected by {', '.join(map(str, e.corrected_by))}]", style="yellow")
    return [
        str(e.seq),
        Text(
            when_cell(e.occurred_at, e.recorded_at, e.backdated),
            style="yellow" if e.backdated else "",
        ),
        Text(event_label(e.kind, direction_of(e.handover))),
        Text(
            e.actor
            + (f" (imported by {e.imported_by})" if e.imported_by else "")
            + (" (recorded by the borrower)" if e.by_borrower else "")
        ),
        what,
    ]


def history_renderables(result: Any) -> list[Any]:
    """The history table (every event of `result`), then the lineage and replayed state."""
    from rich.table import Table
    from rich.text import Text

    spec = history_spec(result)
    table = Table(title=Text(spec.title.format()))
    for column in spec.columns:
        table.add_column(
            column.heading, justify="right" if column.right else "left", no_wrap=column.no_wrap
        )
    for e in result.entries:
        table.add_row(*_event_cells(e), style=_event_style(e))
    return [table, *state_renderables(result)]


def state_renderables(result: Any) -> list[Any]:
    """The lineage line, then (with --as-of) the replayed state."""
    from rich.text import Text

    from sampleloans.dates import format_datetime
    from sampleloans.vocab import state_words

    out: list[Any] = []
    if result.codes:
        out.append(Text(f"lineage: {', '.join(result.codes)}"))
    state = result.state
    if state is None:
        return out
    out.append(_replayed_samples_table(state))
    for loan in state.loans:
        due = format_datetime(loan.due_at) if loan.due_at else "—"
        if loan.recalled_at is not None:  # the due date a recall set, as the reports say
            due += f" (recalled {format_datetime(loan.recalled_at)})"
        status = state_words(loan.status)
        out.append(Text(f"loan {loan.number} ({loan.institution}): {status}, due {due}"))
    return out


def _replayed_samples_table(state: Any) -> Any:
    """Each sample as replayed: custody, custodian, loan and masses (in transit in yellow)."""
    from rich.table import Table
    from rich.text import Text

    from sampleloans.dates import format_datetime
    from sampleloans.readmodels.items import state_words
    from sampleloans.units import format_mass

    samples = Table(
        title=f"State as of {format_datetime(state.as_of)} (replayed to event {state.up_to_seq})"
    )
    samples.add_column("sample", no_wrap=True)
    samples.add_column("custody state")
    samples.add_column("custodian", no_wrap=True)
    samples.add_column("loan", no_wrap=True)
    for heading in ("initial", "vault", "on loan", "split", "consumed", "lost", "transferred"):
        samples.add_column(heading, justify="right", no_wrap=True)
    for s in state.samples:
        samples.add_row(
            Text(s.code),
            Text(state_words(s.custody_state, s.frozen)),
            Text(s.custodian),
            Text(s.loan_number or "—"),
            *(
                format_mass(m)
                for m in (
                    s.initial_ug,
                    s.vault_ug,
                    s.on_loan_ug,
                    s.split_ug,
                    s.consumed_ug,
                    s.lost_ug,
                    s.transferred_ug,
                )
            ),
            style="yellow" if "transit" in s.custody_state else "",
        )
    return samples


@app.command("correct")
def correct(
    ctx: typer.Context,
    seq: Annotated[
        int,
        typer.Argument(
            metavar="SEQ", parser=whole_number, help="The event being corrected (its seq)."
        ),
    ],
    text: Annotated[
        str | None,
        typer.Option("--text", metavar="TEXT", help="A text-only correction: what was wrong."),
    ] = None,
    mass: Annotated[
        str | None,
        typer.Option(
            "--mass",
            metavar="MASS",
            help="The right mass of a consumption, weighing, registration, split or loss.",
        ),
    ] = None,
    sample: Annotated[
        str | None,
        typer.Option(
            "--sample",
            metavar="CODE",
            help="With --mass: the sample, where the event weighed several.",
        ),
    ] = None,
    reason: Annotated[
        str | None,
        typer.Option(
            "--reason", metavar="TEXT", help="With --mass: why the recorded mass was wrong."
        ),
    ] = None,
    at: AtOption = None,
) -> None:
    """Record a correction of an earlier event.

    The earlier event stays exactly as it was.

    Give --text for a note, or --mass with --reason to supersede a recorded mass: a consumption
    (0mg for one entered twice or on the wrong sample or loan), a weighing at a receipt or
    return, a registration (before the sample was split or lent), a split child or an
    incident's lost mass (0mg for a false alarm). The balance, status, loans show and the
    reports then use the corrected mass; a correction that would break the mass balance at any
    point since is refused (exit 1), and so is one dated (--at) before the event it corrects.
    `custody history` shows both events; `loans show` lists the corrections of a loan's events.
    The README's "Correcting a mistake" says how each kind of mistake is put right.

    \b
    Example: sampleloans custody correct 57 --mass '0.3 mg' --reason "lab log says 0.3 mg"
    Example: sampleloans custody correct 57 --text "seal number was SL-OU-02, not SL-OU-20"
    """
    from sampleloans.errors import InvalidInput

    with writing(ctx) as (session, service_ctx):
        if (text is None) == (mass is None):
            raise InvalidInput("give either --text TEXT or --mass MASS --reason TEXT")
        if mass is None:
            if sample is not None or reason is not None:
                raise InvalidInput("--sample and --reason go with --mass; --text is the whole note")
            envelope = _correct_text(session, service_ctx, seq, text or "", at)
        else:
            envelope = _correct_mass(session, service_ctx, seq, mass, sample, reason, at)
    console().print(_corrected_line(seq, envelope), markup=False)


def _corrected_line(seq: int, envelope: Any) -> str:
    """What a correction recorded; a mass correction with its old and new mass, as printed
    back by every write that records a mass ('loss of CODE 500 µg → 200 µg')."""
    if envelope.kind != "mass.corrected":
        return f"Recorded correction of event {seq} (event {envelope.seq})."
    import json

    from sampleloans.units import format_mass

    p = json.loads(envelope.payload)
    change = f"{format_mass(p['old_mass_ug'])} → {format_mass(p['new_mass_ug'])}"
    return (
        f"Recorded mass correction of event {seq} (event {envelope.seq}): "
        f"{p['what']} of {p['sample']} {change}."
    )


def _correct_text(session: Any, service_ctx: Any, seq: int, text: str, at: str | None) -> Any:
    """A text-only correction."""
    from sampleloans.services.incidents import record_correction

    return record_correction(
        session, service_ctx, corrects_seq=seq, text=text, occurred_at=parse_at(at)
    )


def _correct_mass(
    session: Any,
    service_ctx: Any,
    seq: int,
    mass: str,
    sample: str | None,
    reason: str | None,
    at: str | None,
) -> Any:
    """A correction that supersedes a recorded mass."""
    from sampleloans.errors import InvalidInput
    from sampleloans.services.corrections import correct_mass
    from sampleloans.units import parse_mass_ug

    if reason is None:
        raise InvalidInput("--reason: say why the recorded mass was wrong")
    return correct_mass(
        session,
        service_ctx,
        corrects_seq=seq,
        mass_ug=parse_mass_ug(mass, "--mass", allow_zero=True),
        reason=reason,
        sample=sample,
        occurred_at=parse_at(at),
    )
