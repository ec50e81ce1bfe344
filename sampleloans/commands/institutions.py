"""`sampleloans institutions …`: Lenders, curators and borrowing institutions."""

from typing import Annotated

import typer

from sampleloans.commands.common import AtOption, JsonOption, console, parse_at, print_json
from sampleloans.commands.samples import jsonable, plain

app = typer.Typer(help="Lenders, curators and borrowing institutions.", no_args_is_help=True)


@app.command("add")
def add(
    ctx: typer.Context,
    short_name: Annotated[str, typer.Argument(help="Short name, e.g. OU.")],
    name: Annotated[str, typer.Option("--name", help="Full name.")],
    country: Annotated[str, typer.Option("--country", help="Country.")],
    city: Annotated[str, typer.Option("--city", help="City.")],
    kind: Annotated[
        str, typer.Option("--kind", help="lender, curator, borrower or recipient (of gifts).")
    ],
    at: AtOption = None,
) -> None:
    """Register an institution (curators only).

    Example: sampleloans institutions add KIT --name "Karlsruhe Institute of Technology" --country Germany --city Karlsruhe --kind borrower
    """  # noqa: E501
    from sampleloans.commands.common import writing
    from sampleloans.services.reference import add_institution

    with writing(ctx) as (session, service_ctx):
        envelope = add_institution(
            session,
            service_ctx,
            short_name=short_name,
            name=name,
            country=country,
            city=city,
            kind=kind,
            occurred_at=parse_at(at),
        )
    line = f"Added institution {short_name.strip()} ({kind.strip().lower()}); event {envelope.seq}."
    console().print(line, markup=False)


@app.command("list")
def list_(
    ctx: typer.Context,
    kind: Annotated[
        str | None, typer.Option("--kind", help="Only lenders, curators, borrowers or recipients.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List institutions by short name (researchers: only their own).

    JSON: an array of objects with keys short_name, name, country, city, kind, people,
    agreements, loans (counts).
    Example: sampleloans institutions list --kind borrower
    """
    from rich.table import Table

    from sampleloans.commands.common import reading
    from sampleloans.services.catalog import list_institutions

    with reading(ctx) as (session, service_ctx):
        rows = list_institutions(session, service_ctx, kind=kind)
    if as_json:
        print_json(jsonable(rows))
        return
    table = Table(title=f"Institutions ({len(rows)})")
    for heading in ("short", "name", "country", "city", "kind"):
        table.add_column(heading)
    for heading in ("people", "agreements", "loans"):
        table.add_column(heading, justify="right")
    for row in rows:
        table.add_row(
            *plain(
                row.short_name,
                row.name,
                row.country,
                row.city,
                row.kind,
                str(row.people),
                str(row.agreements),
                str(row.loans),
            )
        )
    console().print(table)


@app.command("show")
def show(
    ctx: typer.Context,
    short_name: Annotated[str, typer.Argument(help="Short name, e.g. OU.")],
    as_json: JsonOption = False,
) -> None:
    """Show one institution with the number of its people, agreements and loans.

    JSON keys: short_name, name, country, city, kind, people, agreements, loans (counts).
    Example: sampleloans institutions show OU
    """
    from rich.table import Table

    from sampleloans.commands.common import reading
    from sampleloans.services.catalog import show_institution

    with reading(ctx) as (session, service_ctx):
        view = show_institution(session, service_ctx, short_name=short_name)
    if as_json:
        print_json(jsonable(view))
        return
    table = Table(title=plain(f"Institution {view.short_name}")[0], show_header=False)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value")
    for field, value in (
        ("name", view.name),
        ("place", f"{view.city}, {view.country}"),
        ("kind", view.kind),
        ("people", str(view.people)),
        ("agreements", str(view.agreements)),
        ("loans", str(view.loans)),
    ):
        table.add_row(*plain(field, value))
    console().print(table)
