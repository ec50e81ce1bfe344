"""`db`: the ledger database's schema (Alembic migrations, docs/migrations.md)."""

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from sampleloans.commands.common import (
    console,
    db_label,
    db_url,
    engine_context,
    errors_to_exit_codes,
)

if TYPE_CHECKING:
    from sampleloans.services.logins import PersonLogin

app = typer.Typer(
    help="The ledger database's schema and its migrations.\n\nMigrations: docs/migrations.md."
)


@app.command("upgrade")
def upgrade(
    ctx: typer.Context,
    sql: Annotated[
        bool,
        typer.Option(
            "--sql",
            help="Print the SQL instead of running it (for a DBA to review); connects to nothing.",
        ),
    ] = False,
    since: Annotated[
        str | None,
        typer.Option(
            "--from",
            metavar="REVISION",
            help="With --sql: the revision the database is at (default: an empty database).",
        ),
    ] = None,
) -> None:
    """Bring the ledger's schema to this release's revision.

    In one transaction.

    A ledger from before migrations is taken as the baseline (0001_baseline). Curators only.
    With --sql, print the SQL for the --db's kind of database (SQLite or PostgreSQL) instead.

    \b
    Example: sampleloans --db postgresql://dba@db.example/ledger db upgrade --sql
    """
    from sampleloans.errors import InvalidInput
    from sampleloans.services import schema

    with errors_to_exit_codes():
        if since is not None and not sql:
            raise InvalidInput("--from: only with --sql (online, the database says its revision)")
        if sql:
            script = schema.upgrade_sql(db_url(ctx), since)
            sys.stdout.write(script or f"-- {since} is this release's revision: no SQL to run\n")
            return
        engine, service_ctx = engine_context(ctx)  # on a secured ledger: the login
        try:
            result = schema.upgrade(engine, service_ctx)
        finally:
            engine.dispose()
    label = db_label(ctx)
    if result.before is None:
        message = (
            f"{label} is a ledger from before migrations: recorded at {schema.BASELINE}"
            + ("" if result.after == schema.BASELINE else f", then upgraded to {result.after}")
            + "."
        )
    elif result.before == result.after:
        done = "." if result.defences_restored else "; nothing to do."
        message = f"The schema of {label} is at {result.after} already{done}"
    else:
        message = f"Upgraded the schema of {label} from {result.before} to {result.after}."
    console().print(message, markup=False)
    if result.defences_restored:
        console().print(
            "Re-created the chain's triggers, functions and keys ('verify' named one missing, "
            "disabled or not the ledger's own).",
            markup=False,
        )


@app.command("secure")
def secure(ctx: typer.Context) -> None:
    """Install the login hardening on a PostgreSQL ledger.

    Opt-in: run it once, as the ledger's DBA.

    Tables pass to a NOLOGIN owner; group roles sampleloans_curator, sampleloans_compliance and
    sampleloans_researcher get only what they need (never UPDATE/DELETE/TRUNCATE on events);
    each registered person gets a LOGIN role named by their e-mail (no password: set one);
    a trigger checks every event's actor is the login; row-level security scopes researchers.
    --as names the curator on whose behalf the DBA runs it.

    \b
    Example: sampleloans --db postgresql://postgres@db.example/ledger \\
      --as li@naoc.example db secure
    """
    from sampleloans.services import logins

    with errors_to_exit_codes():
        engine, service_ctx = engine_context(ctx)  # on a secured ledger: the login
        try:
            people = logins.secure(engine, service_ctx)
        finally:
            engine.dispose()
    out = console()
    out.print(f"Secured {db_label(ctx)}: row-level security on, actors checked.", markup=False)
    for person in people:
        out.print(f"  login role {person.email} ({_login_words(person)})", markup=False)


def _login_words(person: "PersonLogin") -> str:
    """What the DBA is told of one person's login role after `db secure`."""
    if not person.active:  # NOLOGIN: for every database of the server, roles are its own
        return "deactivated in this ledger: the role may not log in, to any database on this server"
    # a role that logs in already (db secure run again, or another ledger's person on the
    # server) keeps its password: a new one would lock them out of every ledger there
    if person.has_password:
        return "it logs in already, with the password it has"
    return f'set its password: \\password "{person.email}"'
