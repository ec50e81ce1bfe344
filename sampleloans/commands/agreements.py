"""`sampleloans agreements …`: Loan agreements and their terms."""

import typer

app = typer.Typer(help="Loan agreements and their terms.", no_args_is_help=True)
