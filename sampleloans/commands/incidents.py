"""`sampleloans incidents …`: Loss, theft and damage; an incident freezes its sample."""

from typing import Annotated

import typer

from sampleloans.commands.common import (
    AtOption,
    CsvOption,
    JsonOption,
    check_output_format,
    console,
    parse_at,
    print_json,
    print_table,
    reading,
    whole_number,
    writing,
)

app = typer.Typer(
    help="Loss, theft and damage; an incident freezes its sample.", no_args_is_help=True
)


@app.command("report")
def report(
    ctx: typer.Context,
    sample: Annotated[
        str, typer.Option("--sample", metavar="CODE", help="The affected sample's code.")
    ],
    kind: Annotated[str, typer.Option("--kind", metavar="KIND", help="loss, theft or damage.")],
    description: Annotated[
        str, typer.Option("--description", metavar="TEXT", help="What happened.")
    ],
    mass_lost: Annotated[
        str | None,
        typer.Option("--mass-lost", metavar="MASS", help="Mass lost, e.g. '1 mg' (default none)."),
    ] = None,
    at: AtOption = None,
) -> None:
    """Report a loss, theft or damage; it freezes the sample.

    The sample is frozen until the incident is resolved.

    A curator reports on any sample in the vault or out on loan (one lost on its way is then
    weighed at 0 µg when its shipment arrives); a researcher on a sample held in their lab, on
    their institution's loan.

    \b
    Example: sampleloans incidents report --sample CE5C0200YJFM00112 --kind loss \\
      --description "spilled during transfer" --mass-lost "1 mg"
    """
    from sampleloans.services import incidents
    from sampleloans.services.common import INCIDENT_KINDS, require_choice
    from sampleloans.units import parse_mass_ug

    with writing(ctx) as (session, service_ctx):
        envelope = incidents.report_incident(
            session,
            service_ctx,
            sample=sample,
            incident_kind=require_choice(kind, "--kind", INCIDENT_KINDS),
            description=description,
            mass_lost_ug=parse_mass_ug(mass_lost, "--mass-lost") if mass_lost else 0,
            occurred_at=parse_at(at),
        )
    console().print(
        f"Incident {envelope.seq} reported on {sample}; the sample is frozen until a curator "
        f"resolves it ('incidents resolve {envelope.seq} --resolution …') (event {envelope.seq}).",
        markup=False,
    )


@app.command("resolve")
def resolve(
    ctx: typer.Context,
    seq: Annotated[
        int,
        typer.Argument(
            metavar="SEQ", parser=whole_number, help="The incident number (its event seq)."
        ),
    ],
    resolution: Annotated[
        str, typer.Option("--resolution", metavar="TEXT", help="How it was resolved.")
    ],
    at: AtOption = None,
) -> None:
    """Resolve an open incident; the sample is released.

    The incident's record stays.

    \b
    Example: sampleloans incidents resolve 57 --resolution "fragment recovered and weighed"
    """
    from sampleloans.services import incidents

    with writing(ctx) as (session, service_ctx):
        envelope = incidents.resolve_incident(
            session, service_ctx, incident_seq=seq, resolution=resolution, occurred_at=parse_at(at)
        )
    console().print(f"Incident {seq} resolved (event {envelope.seq}).", markup=False)


@app.command("list")
def list_(
    ctx: typer.Context,
    open_only: Annotated[bool, typer.Option("--open", help="Only open incidents.")] = False,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """List incidents by number.

    Researchers see those on their own institution's loans.

    JSON (docs/json.md): a list of {seq, sample_code, loan_number, institution, kind,
    description, mass_lost_ug, reported_at, reported_by, status, resolved_at, resolution}.

    \b
    Example: sampleloans incidents list --open
    """
    check_output_format(as_json=as_json, as_csv=as_csv)
    from rich.table import Table
    from rich.text import Text

    from sampleloans.commands.listing import Fact, mass_heading
    from sampleloans.commands.loans import jsonable
    from sampleloans.commands.render import NOTHING, StyledFact, mass_fact, time_fact
    from sampleloans.services import loan_views
    from sampleloans.vocab import IncidentStatus

    with reading(ctx) as (session, service_ctx):
        rows = loan_views.list_incidents(session, service_ctx, open_only=open_only)
    if as_json:
        print_json(jsonable(rows))
        return
    table = Table(title=f"Incidents ({len(rows):,})")
    # a table cell joining two facts reads as two CSV columns (`render.Fact`)
    headings = ("no.", "sample", "loan", Fact("kind", "kind", "description"))
    for heading in (*headings, mass_heading("mass lost"), "reported (UTC)"):
        table.add_column(
            heading,
            justify="right" if heading in ("no.", "mass lost") else "left",
            # codes and a mass read whole; the description wraps instead
            no_wrap=heading in ("no.", "sample", "loan", "mass lost"),
        )
    table.add_column(Fact("status", "status", "resolution"))
    for row in rows:
        status = row.status
        if row.resolution:
            status += f": {row.resolution}"
        table.add_row(
            str(row.seq),
            Text(row.sample),
            Text(row.loan) if row.loan else NOTHING,
            StyledFact(f"{row.kind}: {row.description}", row.kind, row.description),
            mass_fact(row.mass_lost_ug),
            time_fact(row.reported_at),
            StyledFact(
                status,
                row.status,
                row.resolution or "",
                style="red" if row.status == IncidentStatus.OPEN else "",
            ),
        )
    print_table(table, as_csv=as_csv, empty="No incidents match.")
