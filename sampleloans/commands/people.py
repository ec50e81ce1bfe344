"""`sampleloans people …`: People who may act: curators, compliance officers, researchers."""

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
from sampleloans.commands.jsonout import to_json as jsonable
from sampleloans.commands.samples import plain
from sampleloans.vocab import Role, in_words

app = typer.Typer(
    help="People who may act and their roles.\n\n"
    "They are curators, compliance officers and researchers.",
    no_args_is_help=True,
)
Email = Annotated[
    str, typer.Argument(metavar="EMAIL", help="E-mail address of a registered person.")
]


@app.command("add")
def add(
    ctx: typer.Context,
    email: Annotated[
        str, typer.Argument(metavar="EMAIL", help="E-mail address (the person's key).")
    ],
    name: Annotated[str, typer.Option("--name", metavar="NAME", help="Full name.")],
    institution: Annotated[
        str, typer.Option("--institution", metavar="SHORT", help="Short name, e.g. OU.")
    ],
    role: Annotated[
        str,
        typer.Option("--role", metavar="ROLE", help="curator, compliance-officer or researcher."),
    ],
    at: AtOption = None,
    print_sql: Annotated[
        bool,
        typer.Option(
            "--print-sql",
            help="Also print the SQL a DBA runs to give the person a PostgreSQL login.",
        ),
    ] = False,
) -> None:
    """Register a person who may act (curators only).

    On a secured PostgreSQL ledger (`db secure`) this also creates their LOGIN role, named by
    the e-mail, in their group (no password yet: the DBA sets one).

    \b
    Example: sampleloans people add pi@kit.example --name "Ada Example" --institution KIT \\
      --role researcher
    """
    from sampleloans.commands.common import writing
    from sampleloans.services.common import ROLES, require_choice
    from sampleloans.services.logins import login_exists, login_sql, require_logins, sync_login
    from sampleloans.services.reference import add_person

    with writing(ctx) as (session, service_ctx):
        chosen = require_choice(role, "--role", ROLES)
        if print_sql:  # refused before anything is written
            require_logins(session, "--print-sql")
        envelope = add_person(
            session,
            service_ctx,
            email=email,
            name=name,
            institution=institution,
            role=chosen,
            occurred_at=parse_at(at),
        )
        existed = login_exists(session, email)
        login = sync_login(session, email)
    words = role.strip().lower().replace("_", " ").replace("-", " ")
    line = f"Added {email.lower()} ({words} at {institution}); event {envelope.seq}."
    console().print(line + _login_words(made=login, existed=existed), markup=False)
    if print_sql and login:  # the role is made, in its group: only its password is left
        console().print(login_sql(email.lower(), existed=existed), markup=False, end="")


def _login_words(*, made: bool, existed: bool) -> str:
    """What `people add` says of the person's login on a secured ledger ("" elsewhere)."""
    if not made:
        return ""
    if existed:  # one login per e-mail on the server: another ledger's person logs in at once
        return (
            " Their login role already exists on this server (roles are cluster-wide: another "
            "ledger's person): it logs in here with the password it has."
        )
    return " Login role created: the DBA sets its password."


@app.command("list")
def list_(
    ctx: typer.Context,
    institution: Annotated[
        str | None, typer.Option("--institution", metavar="SHORT", help="Only this institution.")
    ] = None,
    role: Annotated[
        str | None,
        typer.Option("--role", metavar="ROLE", help=f"Only this role: {in_words(Role)}."),
    ] = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """List people by e-mail.

    Researchers see only their own institution's.

    JSON (docs/json.md): an array of objects with keys email, name, institution, role, active.

    \b
    Example: sampleloans people list --institution OU
    """
    check_output_format(as_json=as_json, as_csv=as_csv)
    from rich.table import Table

    from sampleloans.commands.common import reading
    from sampleloans.services.catalog import list_people

    with reading(ctx) as (session, service_ctx):
        rows = list_people(session, service_ctx, institution=institution, role=role)
    if as_json:
        print_json(jsonable(rows))
        return
    table = Table(title=f"People ({len(rows):,})")
    for heading in ("email", "name", "institution", "role", "status"):
        table.add_column(heading)
    for row in rows:
        role = row.role.replace("_", " ")
        table.add_row(*plain(row.email, row.name, row.institution, role, _status(row.active)))
    print_table(table, as_csv=as_csv, empty="No people match.")


@app.command("show")
def show(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(metavar="EMAIL", help="E-mail address.")],
    as_json: JsonOption = False,
) -> None:
    """Show one person.

    JSON keys (docs/json.md): email, name, institution, role, active.

    \b
    Example: sampleloans people show anand@open.example
    """
    from rich.table import Table

    from sampleloans.commands.common import reading
    from sampleloans.services.catalog import show_person

    with reading(ctx) as (session, service_ctx):
        view = show_person(session, service_ctx, email=email)
    if as_json:
        print_json(jsonable(view))
        return
    table = Table(title=plain(f"Person {view.email}")[0], show_header=False)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value")
    table.add_row(*plain("name", view.name))
    table.add_row(*plain("institution", view.institution))
    table.add_row(*plain("role", view.role.replace("_", " ")))
    table.add_row(*plain("status", _status(view.active)))
    console().print(table)


def _status(active: bool) -> str:
    """How a person's standing reads in a table."""
    return "active" if active else "deactivated"


@app.command("deactivate")
def deactivate(ctx: typer.Context, email: Email, reason: ReasonOption, at: AtOption = None) -> None:
    """Deactivate a person: they may no longer act.

    Their record and history stay. Curators only.

    \b
    Example: sampleloans people deactivate pi@kit.example --reason "left the institute"
    """
    from sampleloans.commands.common import writing
    from sampleloans.services.logins import sync_login
    from sampleloans.services.reference import deactivate_person

    with writing(ctx) as (session, service_ctx):
        envelope = deactivate_person(
            session, service_ctx, email=email, reason=reason, occurred_at=parse_at(at)
        )
        secured = sync_login(session, email)
    line = f"Deactivated {email.lower()}; event {envelope.seq}."
    console().print(line, markup=False)
    if secured:
        console().print(server_wide_login_note(email), markup=False)
        console().print(SESSIONS_ENDED, markup=False)


SESSIONS_ENDED = (
    "Any session they had open on this ledger was ended (anything they had not committed is "
    "rolled back)."
)


def server_wide_login_note(email: str) -> str:
    """What deactivating a person's PostgreSQL login also does: roles are the server's, so the
    login is refused by every database on it, not this ledger's alone."""
    return (
        f"Their login is revoked server-wide: {email.lower()} can no longer log in to "
        "any database on this PostgreSQL server, another ledger's too (a login role is the "
        "server's, not one database's)."
    )


SERVER_WIDE_REACTIVATION = (
    "Their login is restored server-wide: every database on this PostgreSQL server takes it "
    "again (a login role is the server's, not one database's)."
)
SERVER_WIDE_ROLE = (
    "Their login changed group server-wide: in every ledger on this PostgreSQL server they log "
    "in as a {words} (a login role is the server's, not one database's)."
)


@app.command("reactivate")
def reactivate(ctx: typer.Context, email: Email, reason: ReasonOption, at: AtOption = None) -> None:
    """Let a deactivated person act again, in the role they had.

    Curators only.

    \b
    Example: sampleloans people reactivate pi@kit.example --reason "deactivated by mistake"
    """
    from sampleloans.commands.common import writing
    from sampleloans.services.logins import sync_login
    from sampleloans.services.reference import reactivate_person

    with writing(ctx) as (session, service_ctx):
        envelope = reactivate_person(
            session, service_ctx, email=email, reason=reason, occurred_at=parse_at(at)
        )
        secured = sync_login(session, email)
    line = f"Reactivated {email.lower()}; event {envelope.seq}."
    console().print(line, markup=False)
    if secured:
        console().print(SERVER_WIDE_REACTIVATION, markup=False)


@app.command("rename")
def rename(
    ctx: typer.Context,
    email: Email,
    name: NewNameOption,
    reason: ReasonOption,
    at: AtOption = None,
) -> None:
    """Put a person's mistyped name right.

    Curators only. Their e-mail stays their key. The name first typed stays in their history
    (`person.renamed` names both); every view and document made from now on prints the new one.

    \b
    Example: sampleloans people rename moynier@ipgp.example --name "Frédéric Moynier" \\
      --reason "registered without its accents"
    """
    from sampleloans.commands.common import renamed_line, writing
    from sampleloans.services.reference import rename_person

    with writing(ctx) as (session, service_ctx):
        envelope = rename_person(
            session,
            service_ctx,
            email=email,
            name=name,
            reason=reason,
            occurred_at=parse_at(at),
        )
    console().print(renamed_line(envelope, "email"), markup=False)


@app.command("set-role")
def set_role(
    ctx: typer.Context,
    email: Email,
    role: Annotated[
        str,
        typer.Option("--role", metavar="ROLE", help="curator, compliance-officer or researcher."),
    ],
    reason: ReasonOption,
    at: AtOption = None,
) -> None:
    """Change a person's role.

    Curators only. Staff roles need a lender or curator institution.

    \b
    Example: sampleloans people set-role zhang@naoc.example --role curator --reason "promoted"
    """
    from sampleloans.commands.common import writing
    from sampleloans.services.common import ROLES, require_choice
    from sampleloans.services.logins import sync_login
    from sampleloans.services.reference import change_role

    with writing(ctx) as (session, service_ctx):
        envelope = change_role(
            session,
            service_ctx,
            email=email,
            role=require_choice(role, "--role", ROLES),
            reason=reason,
            occurred_at=parse_at(at),
        )
        secured = sync_login(session, email)
    words = role.strip().lower().replace("_", " ").replace("-", " ")
    line = f"{email.lower()} is now a {words}; event {envelope.seq}."
    console().print(line, markup=False)
    if secured:
        console().print(SERVER_WIDE_ROLE.format(words=words), markup=False)
