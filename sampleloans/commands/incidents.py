"""`sampleloans incidents …`: Loss, theft and damage incidents."""

import typer

app = typer.Typer(help="Loss, theft and damage incidents.", no_args_is_help=True)
