"""The command line's composition root: global options and one sub-app per noun.

Every command lives in `sampleloans/commands/`; this file only wires them together.
"""

from pathlib import Path
from typing import Annotated

import typer

from sampleloans.commands import (
    agreements,
    compliance,
    custody,
    incidents,
    institutions,
    ledger,
    loans,
    people,
    samples,
)
from sampleloans.commands.common import State

app = typer.Typer(
    name="sampleloans",
    help="The custody ledger for lunar samples lent to researchers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback()
def root(
    ctx: typer.Context,
    db: Annotated[
        Path | None,
        typer.Option("--db", envvar="SAMPLELOANS_DB", help="Ledger database file."),
    ] = None,
    acting: Annotated[
        str | None,
        typer.Option("--as", envvar="SAMPLELOANS_USER", help="E-mail of the acting person."),
    ] = None,
) -> None:
    """The custody ledger for lunar samples lent to researchers."""
    ctx.obj = State(db=db, actor=acting)


app.command("init")(ledger.init)
app.command("demo")(ledger.demo)
app.command("verify")(ledger.verify)
app.add_typer(samples.app, name="samples")
app.add_typer(institutions.app, name="institutions")
app.add_typer(people.app, name="people")
app.add_typer(agreements.app, name="agreements")
app.add_typer(loans.app, name="loans")
app.add_typer(incidents.app, name="incidents")
app.add_typer(custody.app, name="custody")
for _name in ("balance", "overdue", "status"):
    # compliance.py defines these as plain functions; registered once they exist
    if hasattr(compliance, _name):
        app.command(_name)(getattr(compliance, _name))


def main() -> None:
    """Entry point of the `sampleloans` console script."""
    app()
