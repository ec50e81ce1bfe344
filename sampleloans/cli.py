"""The command line's composition root: global options and one sub-app per noun.

Every command lives in `sampleloans/commands/`; this file only wires them together.
"""

from pathlib import Path
from typing import Annotated

import typer

from sampleloans.commands import (
    agreements,
    bulk,
    compliance,
    custody,
    incidents,
    institutions,
    ledger,
    loans,
    maintenance,
    people,
    reports,
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
app.command("import")(bulk.import_file)
app.add_typer(samples.app, name="samples")
app.add_typer(institutions.app, name="institutions")
app.add_typer(people.app, name="people")
app.add_typer(agreements.app, name="agreements")
app.add_typer(loans.app, name="loans")
app.add_typer(incidents.app, name="incidents")
app.add_typer(custody.app, name="custody")
app.add_typer(reports.app, name="report")
app.command("balance")(compliance.balance)
app.command("overdue")(compliance.overdue)
app.command("status")(compliance.status)
for _module, _names in ((reports, ("verify_document",)), (maintenance, ("backup", "restore"))):
    # registered once their modules define them (reports and reliability work in progress)
    for _name in _names:
        if hasattr(_module, _name):
            app.command(_name.replace("_", "-"))(getattr(_module, _name))


def main() -> None:
    """Entry point of the `sampleloans` console script."""
    app()
