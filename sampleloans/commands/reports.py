"""`sampleloans report …` and `verify-document`: PDF custody, return, overdue and inventory reports."""

import typer

app = typer.Typer(
    help="PDF reports: custody, return, overdue notice, inventory statement.", no_args_is_help=True
)
