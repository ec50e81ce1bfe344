"""Top-level maintenance commands: backup and restore of the ledger database."""

from pathlib import Path
from typing import Annotated

import typer

from sampleloans.commands.common import (
    console,
    context,
    db_path,
    errors_to_exit_codes,
    lock_timeout_ms,
    open_engine,
)

Force = Annotated[bool, typer.Option("--force", help="Replace an existing file.")]


def backup(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="The backup file to write (0600).")],
    force: Force = False,
) -> None:
    """Copy the ledger to FILE while others keep working (SQLite's online backup API).

    The copy is consistent, private (0600) and written atomically; an existing FILE is kept
    unless --force, which replaces only a regular file; FILE may never be the ledger (or its
    -wal/-shm/-journal) under any name. Curators and compliance officers may back up.
    Example: sampleloans backup /srv/backups/ledger-2025-04-24.db
    """
    from sampleloans.services.maintenance import backup as run_backup

    with errors_to_exit_codes():
        service_ctx = context(ctx)
        engine = open_engine(ctx)
        result = run_backup(engine, service_ctx, file, force=force)
    console().print(
        f"Backed up {db_path(ctx)} to {result.path} at ledger head {result.head}.", markup=False
    )


def restore(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A backup written by 'sampleloans backup'.")],
    force: Annotated[
        bool, typer.Option("--force", help="Replace the existing ledger database.")
    ] = False,
) -> None:
    """Replace the ledger database with a backup, after verifying the backup.

    A backup that fails verify is refused (exit 1); an existing ledger is replaced only with
    --force. Only curators may restore. Afterwards, 'verify --anchor' with a head you saved
    earlier shows whether the restore rolled the ledger back.
    Example: sampleloans restore /srv/backups/ledger-2025-04-24.db --force
    """
    from sampleloans import db
    from sampleloans.services.maintenance import restore as run_restore

    with errors_to_exit_codes():
        service_ctx = context(ctx)
        path = db_path(ctx)
        engine = db.make_engine(db.url_for_path(path), lock_timeout_ms=lock_timeout_ms())
        try:
            result = run_restore(engine, service_ctx, file, force=force)
        finally:
            engine.dispose()
    console().print(
        f"Restored {result.path} from {file}; verified; ledger head is now {result.head}.",
        markup=False,
    )
