"""`sampleloans agreements …`: Loan agreements and their terms."""

from typing import TYPE_CHECKING, Annotated

import typer

from sampleloans.commands.common import (
    AtOption,
    CsvOption,
    JsonOption,
    ReasonOption,
    check_output_format,
    console,
    parse_at,
    print_json,
    print_table,
    whole_number,
)
from sampleloans.commands.jsonout import renamed
from sampleloans.commands.samples import plain

if TYPE_CHECKING:
    from datetime import datetime

    from sampleloans.services.catalog import AgreementView

app = typer.Typer(help="Loan agreements and their terms.", no_args_is_help=True)

Number = Annotated[str, typer.Argument(metavar="NUMBER", help="The agreement's number.")]


@app.command("add")
def add(
    ctx: typer.Context,
    number: Number,
    institution: Annotated[
        str, typer.Option("--institution", metavar="SHORT", help="Borrower's short name.")
    ],
    term: Annotated[
        str, typer.Option("--term", metavar="PERIOD", help="In force for, e.g. '5 years'.")
    ],
    max_mass: Annotated[
        str, typer.Option("--max-mass", metavar="MASS", help="Total mass allowed, e.g. '1 g'.")
    ],
    purpose: Annotated[
        list[str],
        typer.Option(
            "--purpose",
            metavar="PURPOSE",
            help="Allowed purpose (repeatable): research, public-welfare.",
        ),
    ],
    max_loan_period: Annotated[
        str,
        typer.Option("--max-loan-period", metavar="PERIOD", help="Longest loan, e.g. '12 months'."),
    ],
    destructive: Annotated[
        bool, typer.Option("--destructive/--no-destructive", help="Destructive use allowed.")
    ] = False,
    onward_transfer: Annotated[
        bool,
        typer.Option("--onward-transfer/--no-onward-transfer", help="Onward transfer allowed."),
    ] = False,
    max_extensions: Annotated[
        int | None,
        typer.Option(
            "--max-extensions",
            metavar="N",
            parser=whole_number,
            help="How many extensions may be granted, 0 to 20 (default 1: CNSA rules).",
        ),
    ] = None,
    max_extension_period: Annotated[
        str | None,
        typer.Option(
            "--max-extension-period",
            metavar="PERIOD",
            help="Longest extension, e.g. P6M (default 6 months for research, 1 month for "
            "public welfare only).",
        ),
    ] = None,
    inventory_interval: Annotated[
        str,
        typer.Option(
            "--inventory-interval", metavar="PERIOD", help="Inventory due every, e.g. P1Y."
        ),
    ] = "P1Y",
    at: AtOption = None,
) -> None:
    """Draft an agreement with its terms, pending until signed.

    Curators only.

    \b
    Example: sampleloans agreements add AG-2025-OU --institution OU --term "5 years" \\
      --max-mass "1 g" --purpose research --max-loan-period "12 months"
    """
    from sampleloans.commands.common import writing
    from sampleloans.services.agreements import check_max_extensions, create_agreement
    from sampleloans.units import parse_mass_ug, parse_period

    with writing(ctx) as (session, service_ctx):
        envelope = create_agreement(
            session,
            service_ctx,
            number=number,
            institution=institution,
            term=parse_period(term, "--term"),
            max_total_mass_ug=parse_mass_ug(max_mass, "--max-mass"),
            allowed_purposes=_purposes(purpose),
            max_loan_period=parse_period(max_loan_period, "--max-loan-period"),
            destructive_use_allowed=destructive,
            onward_transfer_allowed=onward_transfer,
            max_extensions=max_extensions
            if max_extensions is None
            else check_max_extensions(max_extensions, "--max-extensions"),
            max_extension_period=parse_period(max_extension_period, "--max-extension-period")
            if max_extension_period is not None
            else None,
            inventory_interval=parse_period(inventory_interval, "--inventory-interval"),
            occurred_at=parse_at(at),
        )
    line = (
        f"Drafted agreement {number} with {institution} (pending until signed); "
        f"event {envelope.seq}."
    )
    console().print(line, markup=False)


def _purposes(typed: list[str]) -> list[str]:
    """The --purpose options, each a lendable purpose given once (exit 2 otherwise)."""
    from sampleloans.services.common import LENDABLE_PURPOSES, require_choice, require_distinct

    purposes = [require_choice(p, "--purpose", LENDABLE_PURPOSES) for p in typed]
    require_distinct([p.replace("_", "-") for p in purposes], "--purpose", "purpose")  # as typed
    return purposes


@app.command("sign")
def sign(
    ctx: typer.Context,
    number: Number,
    signed_by: Annotated[
        str, typer.Option("--signed-by", metavar="NAME", help="Who signed, for both sides.")
    ],
    at: AtOption = None,
) -> None:
    """Record an agreement's signature; it is in force from then.

    It stays in force for its term. Curators only.

    \b
    Example: sampleloans agreements sign AG-2025-OU \\
      --signed-by "LESEC and The Open University"
    """
    from sampleloans.commands.common import writing
    from sampleloans.dates import format_datetime
    from sampleloans.services.agreements import sign_agreement

    with writing(ctx) as (session, service_ctx):
        signed = sign_agreement(
            session, service_ctx, number=number, signed_by=signed_by, occurred_at=parse_at(at)
        )
    expires = signed.agreement.expires_at
    until = f"; in force until {format_datetime(expires)}" if expires else ""
    console().print(f"Signed agreement {number}{until}; event {signed.seq}.", markup=False)


def _end(ctx: typer.Context, number: str, status: str, reason: str, at: str | None) -> None:
    """Expire or terminate an agreement and print the confirmation."""
    from sampleloans.commands.common import writing
    from sampleloans.services.agreements import end_agreement

    with writing(ctx) as (session, service_ctx):
        envelope = end_agreement(
            session,
            service_ctx,
            number=number,
            status=status,
            reason=reason,
            occurred_at=parse_at(at),
        )
    console().print(f"Agreement {number} {status}; event {envelope.seq}.", markup=False)


@app.command("expire")
def expire(ctx: typer.Context, number: Number, reason: ReasonOption, at: AtOption = None) -> None:
    """Mark an agreement expired; loans under it stay tracked.

    Curators only.

    \b
    Example: sampleloans agreements expire AG-2025-OU --reason "term ended"
    """
    _end(ctx, number, "expired", reason, at)


@app.command("terminate")
def terminate(
    ctx: typer.Context, number: Number, reason: ReasonOption, at: AtOption = None
) -> None:
    """Terminate an agreement early; loans under it stay tracked.

    Curators only.

    \b
    Example: sampleloans agreements terminate AG-2025-OU \\
      --reason "breach of onward-transfer term"
    """
    _end(ctx, number, "terminated", reason, at)


@app.command("list")
def list_(
    ctx: typer.Context,
    institution: Annotated[
        str | None, typer.Option("--institution", metavar="SHORT", help="Only this institution.")
    ] = None,
    status: Annotated[
        str | None,
        typer.Option("--status", metavar="STATUS", help="pending, signed, expired or terminated."),
    ] = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """List agreements by number.

    Researchers see only their own institution's.

    JSON: an array of objects with the keys of 'agreements show --json'.

    \b
    Example: sampleloans agreements list --status signed
    """
    check_output_format(as_json=as_json, as_csv=as_csv)
    from rich.table import Table

    from sampleloans.commands.common import reading
    from sampleloans.commands.listing import mass_heading
    from sampleloans.commands.render import mass_fact
    from sampleloans.services.catalog import list_agreements

    with reading(ctx) as (session, service_ctx):
        rows = list_agreements(session, service_ctx, institution=institution, status=status)
    if as_json:
        print_json(renamed(rows, {"loans": "loan_count"}))
        return
    table = Table(title=f"Agreements ({len(rows):,})")
    for heading in ("number", "institution", "status", "in force"):
        table.add_column(heading, no_wrap=True)
    # masses and counts flush right, as in every table: their digits line up
    for mass in ("issued", "max mass"):
        table.add_column(mass_heading(mass), justify="right", no_wrap=True)
    table.add_column("loans", justify="right", no_wrap=True)
    for row in rows:
        table.add_row(
            *plain(row.number, row.institution, row.status, "yes" if row.in_force else "no"),
            mass_fact(row.issued_ug),
            mass_fact(row.max_total_mass_ug),
            str(row.loans),
        )
    print_table(table, as_csv=as_csv, empty="No agreements match.")


def _terms(view: "AgreementView") -> list[tuple[str, str]]:
    """The agreement's fields and terms in words."""
    from sampleloans.dates import format_datetime
    from sampleloans.units import format_mass, format_period

    def when(value: "datetime | None") -> str:
        """A time as printed, or a dash when there is none."""
        return format_datetime(value) if value else "—"

    def yes(flag: bool) -> str:
        """'allowed' or 'not allowed'."""
        return "allowed" if flag else "not allowed"

    return [
        ("institution", view.institution),
        ("status", view.status + (f" ({view.end_reason})" if view.end_reason else "")),
        ("in force now", "yes" if view.in_force else "no"),
        ("drafted", when(view.created_at)),
        ("signed", when(view.signed_at) + (f" by {view.signed_by}" if view.signed_by else "")),
        ("term", format_period(view.term)),
        ("expires", when(view.expires_at)),
        ("ended", when(view.ended_at)),
        ("mass issued", f"{format_mass(view.issued_ug)} of {format_mass(view.max_total_mass_ug)}"),
        ("loans", str(view.loans)),
        ("purposes", ", ".join(p.replace("_", " ") for p in view.allowed_purposes)),
        ("destructive use", yes(view.destructive_use_allowed)),
        ("onward transfer", yes(view.onward_transfer_allowed)),
        ("longest loan", format_period(view.max_loan_period)),
        (
            "extensions",
            f"at most {view.max_extensions}, each up to {format_period(view.max_extension_period)}",
        ),
        ("inventory", f"every {format_period(view.inventory_interval)}"),
    ]


@app.command("show")
def show(ctx: typer.Context, number: Number, as_json: JsonOption = False) -> None:
    """Show an agreement: terms, in force or not, mass issued vs max.

    Its terms in words, whether it is in force now, and the mass issued vs the max.

    JSON keys (docs/json.md): number, institution, status, in_force, created_at, signed_at,
    signed_by, term, expires_at, ended_at, end_reason, max_total_mass_ug, issued_ug, loan_count,
    allowed_purposes (list), destructive_use_allowed, onward_transfer_allowed, max_loan_period,
    max_extensions, max_extension_period, inventory_interval (periods in words, e.g. "5 years").

    \b
    Example: sampleloans agreements show AG-2025-OU
    """
    from rich.table import Table
    from rich.text import Text

    from sampleloans.commands.common import reading
    from sampleloans.services.catalog import show_agreement

    with reading(ctx) as (session, service_ctx):
        view = show_agreement(session, service_ctx, number=number)
    if as_json:
        print_json(renamed(view, {"loans": "loan_count"}))
        return
    table = Table(title=Text(f"Agreement {view.number}"), show_header=False)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value")
    for field, value in _terms(view):
        table.add_row(*plain(field, value))
    print_table(table)  # fitted: a mass is never cut from its unit on a narrow terminal
