"""`sampleloans institutions …`: Lenders, curators, borrowers and recipients of gifts."""

from typing import Annotated

import typer

from sampleloans.commands.common import (
    AtOption,
    CsvOption,
    JsonOption,
    NewNameOption,
    ReasonOption,
    check_output_format,
    console,
    parse_at,
    print_json,
    print_table,
)
from sampleloans.commands.jsonout import renamed
from sampleloans.commands.samples import plain
from sampleloans.vocab import InstitutionKind, in_words

app = typer.Typer(
    help="Lenders, curators, borrowers and recipients of gifts.", no_args_is_help=True
)


@app.command("add")
def add(
    ctx: typer.Context,
    short_name: Annotated[str, typer.Argument(metavar="SHORT", help="Short name, e.g. OU.")],
    name: Annotated[str, typer.Option("--name", metavar="NAME", help="Full name.")],
    country: Annotated[str, typer.Option("--country", metavar="COUNTRY", help="Country.")],
    city: Annotated[str, typer.Option("--city", metavar="CITY", help="City.")],
    kind: Annotated[
        str,
        typer.Option(
            "--kind", metavar="KIND", help="lender, curator, borrower or recipient (of gifts)."
        ),
    ],
    at: AtOption = None,
) -> None:
    """Register an institution (curators only).

    \b
    Example: sampleloans institutions add KIT --name "Karlsruhe Institute of Technology" \\
      --country Germany --city Karlsruhe --kind borrower
    """
    from sampleloans.commands.common import writing
    from sampleloans.services.common import INSTITUTION_KINDS, require_choice
    from sampleloans.services.reference import add_institution

    with writing(ctx) as (session, service_ctx):
        envelope = add_institution(
            session,
            service_ctx,
            short_name=short_name,
            name=name,
            country=country,
            city=city,
            institution_kind=require_choice(kind, "--kind", INSTITUTION_KINDS),
            occurred_at=parse_at(at),
        )
    line = f"Added institution {short_name} ({kind.strip().lower()}); event {envelope.seq}."
    console().print(line, markup=False)


@app.command("rename")
def rename(
    ctx: typer.Context,
    short_name: Annotated[str, typer.Argument(metavar="SHORT", help="Short name, e.g. OU.")],
    name: NewNameOption,
    reason: ReasonOption,
    at: AtOption = None,
) -> None:
    """Put an institution's mistyped name right.

    Curators only. Its short name stays its key. The name first typed stays in its history
    (`institution.renamed` names both); every view and document made from now on prints the new
    one. --at is no earlier than its registration or its last rename.

    \b
    Example: sampleloans institutions rename UoC --reason "typed 'Colgne'" \\
      --name "University of Cologne, Institute of Geology and Mineralogy"
    """
    from sampleloans.commands.common import renamed_line, writing
    from sampleloans.services.reference import rename_institution

    with writing(ctx) as (session, service_ctx):
        envelope = rename_institution(
            session,
            service_ctx,
            short_name=short_name,
            name=name,
            reason=reason,
            occurred_at=parse_at(at),
        )
    console().print(renamed_line(envelope, "short_name"), markup=False)


@app.command("set-place")
def set_place(
    ctx: typer.Context,
    short_name: Annotated[str, typer.Argument(metavar="SHORT", help="Short name, e.g. OU.")],
    city: Annotated[str, typer.Option("--city", metavar="CITY", help="The right city.")],
    country: Annotated[
        str, typer.Option("--country", metavar="COUNTRY", help="The right country.")
    ],
    reason: ReasonOption,
    at: AtOption = None,
) -> None:
    """Put an institution's mistyped city or country right.

    Curators only. Give both, the one unchanged as it is. The place first typed stays in its
    history (`institution.place_changed` names both); every view and document made from now on
    prints the new one. --at is no earlier than its registration or its last change.

    \b
    Example: sampleloans institutions set-place IPGP --city Paris --country France \\
      --reason "typed 'Pari'"
    """
    from sampleloans.commands.common import placed_line, writing
    from sampleloans.services.reference import change_institution_place

    with writing(ctx) as (session, service_ctx):
        envelope = change_institution_place(
            session,
            service_ctx,
            short_name=short_name,
            city=city,
            country=country,
            reason=reason,
            occurred_at=parse_at(at),
        )
    console().print(placed_line(envelope), markup=False)


# The views' counts under their JSON names (docs/json.md: a count is <thing>_count).
COUNTS = {"people": "person_count", "agreements": "agreement_count", "loans": "loan_count"}


@app.command("list")
def list_(
    ctx: typer.Context,
    kind: Annotated[
        str | None,
        typer.Option(
            "--kind", metavar="KIND", help=f"Only this kind: {in_words(InstitutionKind)}."
        ),
    ] = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """List institutions by short name (researchers: only their own).

    JSON (docs/json.md): an array of objects with keys short_name, name, country, city, kind,
    person_count, agreement_count, loan_count.

    \b
    Example: sampleloans institutions list --kind borrower
    """
    check_output_format(as_json=as_json, as_csv=as_csv)
    from rich.table import Table

    from sampleloans.commands.common import reading
    from sampleloans.services.catalog import list_institutions

    with reading(ctx) as (session, service_ctx):
        rows = list_institutions(session, service_ctx, kind=kind)
    if as_json:
        print_json(renamed(rows, COUNTS))
        return
    table = Table(title=f"Institutions ({len(rows):,})")
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
    abbreviations = {"people": "ppl", "agreements": "agr"}
    print_table(table, as_csv=as_csv, abbreviations=abbreviations, empty="No institutions match.")


@app.command("show")
def show(
    ctx: typer.Context,
    short_name: Annotated[str, typer.Argument(metavar="SHORT", help="Short name, e.g. OU.")],
    as_json: JsonOption = False,
) -> None:
    """Show one institution: its place, kind and counts of records.

    JSON keys (docs/json.md): short_name, name, country, city, kind, person_count,
    agreement_count, loan_count.

    \b
    Example: sampleloans institutions show OU
    """
    from rich.table import Table

    from sampleloans.commands.common import reading
    from sampleloans.services.catalog import show_institution

    with reading(ctx) as (session, service_ctx):
        view = show_institution(session, service_ctx, short_name=short_name)
    if as_json:
        print_json(renamed(view, COUNTS))
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
