"""`sampleloans loans …`: Loans through their whole life."""

import typer

app = typer.Typer(help="Loans through their whole life.", no_args_is_help=True)
