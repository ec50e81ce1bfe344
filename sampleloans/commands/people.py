"""`sampleloans people …`: People who act: curators, compliance officers, researchers."""

import typer

app = typer.Typer(help="People who act: curators, compliance officers, researchers.", no_args_is_help=True)
