"""`export`: the ledger's events as JSON lines with their hashes (docs/ledger-format.md)."""

from pathlib import Path
from typing import Annotated

import typer

from sampleloans.commands.common import console, context, errors_to_exit_codes, open_engine


def export(
    ctx: typer.Context,
    events: Annotated[
        Path,
        typer.Option("--events", help="The JSON-lines file to write (0600, atomic)."),
    ],
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
) -> None:
    """Write every event, with its hashes, to a JSON-lines file (format: docs/ledger-format.md).

    Line 1 is a header (format, version, ledger id); then one canonical JSON object per event in
    seq order. 'restore --events FILE' rebuilds the same ledger (same head) from it, and
    tools/verify_ledger.py checks it without sampleloans. Curators and compliance officers.
    Example: sampleloans export --events ledger-events.jsonl
    """
    from sampleloans.services.events_file import export_events

    with errors_to_exit_codes():
        service_ctx = context(ctx)
        engine = open_engine(ctx)
        result = export_events(engine, service_ctx, events, force=force)
    console().print(
        f"Exported {result.events} events to {result.path}; head {result.head}.", markup=False
    )
