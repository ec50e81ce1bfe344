"""`sampleloans custody …`: Chain-of-custody history."""

import typer

app = typer.Typer(help="Chain-of-custody history.", no_args_is_help=True)
