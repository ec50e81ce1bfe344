"""`sampleloans samples …`: Samples and splits in the collection."""

import typer

app = typer.Typer(help="Samples and splits in the collection.", no_args_is_help=True)
