"""`sampleloans custody …`: Chain-of-custody history."""

from typing import Annotated, Any

import typer

from sampleloans.commands.common import (
    AtOption,
    JsonOption,
    console,
    parse_at,
    print_json,
    reading,
    writing,
)

app = typer.Typer(help="Chain-of-custody history.", no_args_is_help=True)


@app.command("history")
def history(
    ctx: typer.Context,
    sample: Annotated[
        str | None,
        typer.Option(
            "--sample",
            help="A sample code: its whole lineage (researchers: what was on their loans).",
        ),
    ] = None,
    loan: Annotated[str | None, typer.Option("--loan", help="A loan number.")] = None,
    institution: Annotated[
        str | None, typer.Option("--institution", help="An institution's short name.")
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of", help="Only events up to this time (ISO 8601), and the state replayed then."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Every event concerning a sample lineage, a loan or an institution, in ledger order.

    Give exactly one of --sample, --loan, --institution. With --as-of, only events that occurred
    up to that time are listed, and the ledger is replayed up to then to show the state of the
    record at that moment (custody state, custodian, masses).

    JSON keys: subject_type, subject_key, lineage, as_of, events [seq, occurred_at, recorded_at,
    kind, actor, imported_by (the curator who imported the event from a history file, else null),
    os_user (the operating-system account that recorded it), reason, description, corrects_seq,
    corrected_by], state (null without --as-of) {as_of, up_to_seq,
    samples [code, parent_code, custody_state, custodian, loan_number, initial_ug, vault_ug,
    on_loan_ug, split_ug, consumed_ug, lost_ug, transferred_ug], loans [number, institution,
    status, due_at, items [sample_code, state, issued_ug, held_ug, consumed_ug, returned_ug]]}.

    Example: sampleloans custody history --sample CE5C0400YJFM00505 --as-of 2025-05-01
    """
    from sampleloans.dates import parse_datetime
    from sampleloans.services.history import record_history

    with reading(ctx) as (session, service_ctx):
        moment = parse_datetime(as_of, "--as-of") if as_of else None
        result = record_history(
            session, service_ctx, sample=sample, loan=loan, institution=institution, as_of=moment
        )
    if as_json:
        print_json(history_json(result))
        return
    out = console()
    for renderable in history_renderables(result):
        out.print(renderable)


def _iso(moment: Any) -> str | None:
    from sampleloans.dates import to_iso

    return to_iso(moment) if moment is not None else None


def history_json(result: Any) -> dict[str, Any]:
    """The documented JSON shape of a history."""
    state = result.state
    return {
        "subject_type": result.subject_type,
        "subject_key": result.subject_key,
        "lineage": list(result.codes),
        "as_of": _iso(result.as_of),
        "events": [
            {
                "seq": e.seq,
                "occurred_at": _iso(e.occurred_at),
                "recorded_at": _iso(e.recorded_at),
                "kind": e.kind,
                "actor": e.actor,
                "imported_by": e.imported_by,
                "os_user": e.os_user,
                "reason": e.reason,
                "description": e.description,
                "corrects_seq": e.corrects_seq,
                "corrected_by": list(e.corrected_by),
            }
            for e in result.entries
        ],
        "state": None
        if state is None
        else {
            "as_of": _iso(state.as_of),
            "up_to_seq": state.up_to_seq,
            "samples": [
                {
                    "code": s.code,
                    "parent_code": s.parent_code,
                    "custody_state": s.custody_state,
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
            "loans": [
                {
                    "number": loan.number,
                    "institution": loan.institution,
                    "status": loan.status,
                    "due_at": _iso(loan.due_at),
                    "items": [
                        {
                            "sample_code": i.sample_code,
                            "state": i.state,
                            "issued_ug": i.issued_ug,
                            "held_ug": i.held_ug,
                            "consumed_ug": i.consumed_ug,
                            "returned_ug": i.returned_ug,
                        }
                        for i in loan.items
                    ],
                }
                for loan in state.loans
            ],
        },
    }


def history_renderables(result: Any) -> list[Any]:
    """The history table, then (with --as-of) the replayed state."""
    from rich.table import Table
    from rich.text import Text

    from sampleloans.dates import format_datetime
    from sampleloans.units import format_mass

    title = f"Custody history of {result.subject_type} {result.subject_key}"
    if result.as_of is not None:
        title += f" as of {format_datetime(result.as_of)}"
    table = Table(title=Text(title))
    table.add_column("seq", justify="right")
    table.add_column("occurred (UTC)", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("actor")
    table.add_column("what")
    for e in result.entries:
        what = Text(e.description)
        if e.corrected_by:
            what.append(f"  [corrected by {', '.join(map(str, e.corrected_by))}]", style="yellow")
        style = "yellow" if e.kind == "event.corrected" else ""
        table.add_row(
            str(e.seq),
            format_datetime(e.occurred_at),
            Text(e.kind),
            Text(e.actor + (f" (imported by {e.imported_by})" if e.imported_by else "")),
            what,
            style=style,
        )
    out: list[Any] = [table]
    if result.codes:
        out.append(Text(f"lineage: {', '.join(result.codes)}"))
    state = result.state
    if state is None:
        return out
    samples = Table(
        title=f"State as of {format_datetime(state.as_of)} (replayed to event {state.up_to_seq})"
    )
    samples.add_column("sample", no_wrap=True)
    samples.add_column("custody state")
    samples.add_column("custodian")
    samples.add_column("loan")
    for heading in ("initial", "vault", "on loan", "split", "consumed", "lost", "transferred"):
        samples.add_column(heading, justify="right", no_wrap=True)
    for s in state.samples:
        samples.add_row(
            Text(s.code),
            Text(s.custody_state.replace("_", " ")),
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
    out.append(samples)
    for loan in state.loans:
        due = format_datetime(loan.due_at) if loan.due_at else "—"
        status = loan.status.replace("_", " ")
        out.append(Text(f"loan {loan.number} ({loan.institution}): {status}, due {due}"))
    return out


@app.command("correct")
def correct(
    ctx: typer.Context,
    seq: Annotated[int, typer.Argument(help="The event being corrected (its seq).")],
    text: Annotated[str, typer.Option("--text", help="What was wrong and what is right.")],
    at: AtOption = None,
) -> None:
    """Record a correction of an earlier event; the earlier event stays exactly as it was.

    The correction is a new event that references the old one; `custody history` shows both.
    Example: sampleloans custody correct 57 --text "seal number was SL-OU-02, not SL-OU-20"
    """
    from sampleloans.services.incidents import record_correction

    with writing(ctx) as (session, service_ctx):
        envelope = record_correction(
            session, service_ctx, corrects_seq=seq, text=text, occurred_at=parse_at(at)
        )
    console().print(f"Recorded correction of event {seq} (event {envelope.seq}).", markup=False)
