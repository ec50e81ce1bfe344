"""`sampleloans institutions …`: Lenders, curators and borrowing institutions."""

import typer

app = typer.Typer(help="Lenders, curators and borrowing institutions.", no_args_is_help=True)
