"""Top-level maintenance commands: backup and restore of the ledger database."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sampleloans.commands.common import (
    console,
    context,
    db_label,
    db_path,
    db_url,
    engine_context,
    errors_to_exit_codes,
    lock_timeout_ms,
    on_server,
)
from sampleloans.text import counted, path_shown

if TYPE_CHECKING:
    from sampleloans.services.maintenance import BagGiven, CopyResult

Force = Annotated[bool, typer.Option("--force", help="Replace an existing file.")]


def backup(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(metavar="FILE", help="The backup file to write (0600).")],
    force: Force = False,
) -> None:
    """Copy the ledger to FILE while others keep working.

    It uses SQLite's online backup API.

    The copy is consistent, private (0600) and written atomically; an existing FILE is kept
    unless --force, which replaces only a regular file; FILE may never be the ledger (or its
    -wal/-shm/-journal) under any name. Curators and compliance officers may back up.

    \b
    Example: sampleloans backup /srv/backups/ledger-2025-04-24.db
    """
    from sampleloans.services.maintenance import backup as run_backup

    with errors_to_exit_codes():
        engine, service_ctx = engine_context(ctx)  # secured PostgreSQL: the login acts
        result = run_backup(engine, service_ctx, file, force=force)
    console().print(
        f"Backed up {path_shown(db_path(ctx))} to {path_shown(result.path)} at ledger head "
        f"{result.head}.",
        markup=False,
    )


def restore(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE",
            help="A backup written by 'backup' (with --events, an events export; with --bag, "
            "a bag's folder).",
        ),
    ],
    force: Annotated[
        bool, typer.Option("--force", help="Replace the existing ledger database.")
    ] = False,
    other_ledger: Annotated[
        bool,
        typer.Option("--other-ledger", help="Allow a backup of another ledger (another id)."),
    ] = False,
    older: Annotated[
        bool,
        typer.Option(
            "--older", help="Allow a backup that lacks events of the ledger (a rollback)."
        ),
    ] = False,
    events: Annotated[
        bool,
        typer.Option(
            "--events",
            metavar="FILE",
            help="FILE is an events export ('export --events'): rebuild the ledger from it.",
        ),
    ] = False,
    bag: Annotated[
        bool,
        typer.Option(
            "--bag",
            help="FILE is an archival bag ('export --bag'): validate it, rebuild the ledger "
            "from its events and keep its signed checkpoints.",
        ),
    ] = False,
    public_key: Annotated[
        list[Path] | None,
        typer.Option(
            "--public-key",
            metavar="KEY.pub",
            help="With --bag: the lender's public key as you received it; every checkpoint "
            "of the bag must be signed by it (needed when the bag holds any: a key the bag "
            "carries was chosen by whoever made it). Repeat it for a key the lender replaced.",
        ),
    ] = None,
) -> None:
    """Replace the ledger with a backup, after verifying it.

    A backup that fails verify is refused (exit 1); an existing ledger is replaced only with
    --force, by a backup of another ledger only with --other-ledger, and by an older backup
    (one lacking events the ledger has) only with --older. Only curators may restore.
    Afterwards, 'verify --anchor' with a head you saved earlier shows whether the restore
    rolled the ledger back. With --events, FILE is an events export (JSON lines): the ledger is
    rebuilt from it with the same events and hashes (so the same head), then verified. With
    --bag, FILE is a bag's folder: it is validated as 'verify-bag' does, the ledger rebuilt
    from its events, and its signed checkpoints kept, so reports that name them verify (a bag
    holding checkpoints needs --public-key: the lender's key as you received it).

    \b
    Example: sampleloans restore /srv/backups/ledger-2025-04-24.db --force
             sampleloans --db rebuilt.db restore --bag archive-2026/ --public-key naoc.pub
    """
    with errors_to_exit_codes():
        given = _bag_given(events=events, bag=bag, public_key=public_key)
    result = restored_from(
        ctx, file, force=force, other_ledger=other_ledger, older=older, events=events, bag=given
    )
    _print_restored(ctx, file, result)
    if given is not None:
        _print_kept_checkpoints(result)
    elif events:
        note_bag_checkpoints_left(file)


def note_bag_checkpoints_left(file: Path) -> None:
    """After a rebuild from an events file that a bag holds: its checkpoints were not kept."""
    from sampleloans.services.bag import EVENTS_FILE, is_bag

    if file.name == EVENTS_FILE and is_bag(file.parent.parent):
        console().print(
            f"Note: {path_shown(file)} is a bag's events file; the bag's checkpoints were not "
            "kept, so a "
            "report naming one does not verify against this ledger ('restore --bag DIR' "
            "keeps them).",
            markup=False,
        )


def _bag_given(*, events: bool, bag: bool, public_key: list[Path] | None) -> "BagGiven | None":
    """What `--bag` and `--public-key` ask for (exit 2 for a combination that means nothing)."""
    from sampleloans.errors import InvalidInput
    from sampleloans.services.maintenance import BagGiven

    if bag and events:
        raise InvalidInput("--bag: give --bag (a bag's folder) or --events (a file), not both")
    if public_key and not bag:
        raise InvalidInput(
            "--public-key: only with --bag (it checks the bag's checkpoints); a backup or an "
            "events export carries no checkpoint to check"
        )
    if not bag:
        return None
    # the key files are read by the service once the actor's role is checked (exit 4 first)
    return BagGiven(key_files=tuple(public_key or ()))


def _print_kept_checkpoints(result: "CopyResult") -> None:
    """Which of the bag's checkpoints the rebuilt ledger keeps, and by whose key (the reader's
    --public-key: a bag holding any is refused without it)."""
    out = console()
    kept = result.checkpoints
    if kept is None or not kept.kept:
        out.print("The bag holds no checkpoint: the ledger keeps none.", markup=False)
    else:
        out.print(f"Kept {counted(len(kept.kept), 'checkpoint')} of the bag:", markup=False)
        for row_id, note in kept.kept:
            signer = note.signer
            out.print(
                f"  checkpoint {row_id}: {note.name}, "
                f"{counted(note.checkpoint.size, 'event')}, signed by "
                f"{signer.name}+{signer.key_id.hex()} ({signer.fingerprint()[:23]}…)",
                markup=False,
            )
        out.print("Each is signed by your --public-key.", markup=False)
    for why in kept.left_out if kept is not None else ():
        out.print(f"Not kept: {why}", markup=False)


def restored_from(
    ctx: typer.Context,
    file: Path,
    *,
    force: bool = False,
    other_ledger: bool = False,
    older: bool = False,
    events: bool = False,
    bag: "BagGiven | None" = None,
    action: str = "restore the ledger",
) -> "CopyResult":
    """Restore the ledger --db names from `file` (`services.maintenance.restore`), errors as
    exit codes: for `restore`, and for `import` of an events export into a new ledger."""
    from sampleloans.services.ledgerfile import engine_for_restore_url
    from sampleloans.services.maintenance import restore as run_restore

    with errors_to_exit_codes():
        service_ctx = context(ctx)
        engine = engine_for_restore_url(db_url(ctx), lock_timeout_ms=lock_timeout_ms())
        try:
            return run_restore(
                engine,
                service_ctx,
                file,
                force=force,
                other_ledger=other_ledger,
                older=older,
                events=events,
                bag=bag,
                action=action,
            )
        finally:
            engine.dispose()


def _print_restored(ctx: typer.Context, file: Path, result: "CopyResult") -> None:
    """What was restored from where, the new head, and what it replaced or set aside."""
    out = console()
    # a server's URL, not result.path: a Path folds the URL's '//' into '/'
    restored = db_label(ctx) if on_server(ctx) else str(result.path)
    out.print(
        f"Restored {path_shown(restored)} from {path_shown(file)}; verified; ledger head is now "
        f"{result.head}.",
        markup=False,
    )
    for line in _replacement_lines(result):
        out.print(line, markup=False)
    if result.damaged_aside is not None:
        out.print(
            f"Replaced a damaged ledger file; it is kept, as it was, as {result.damaged_aside}.",
            markup=False,
        )


def _replacement_lines(result: "CopyResult") -> list[str]:
    """Plain words for what a restore replaced: another ledger, or events rolled back."""
    replaced = result.replaced
    if replaced is None:
        return []
    if result.removed_events and replaced.head_seq == result.removed_events:
        return [
            f"Replaced ledger {replaced.ledger_id} (head {replaced.head}) with another ledger: "
            f"{_its_events(replaced.head_seq)} no longer in {path_shown(result.path)}."
        ]
    if result.removed_events and result.head_seq < replaced.head_seq:
        return [
            f"Rolled back: the restored head (event {result.head_seq}) is older than the "
            f"ledger's was ({replaced.head}); {_removed(result.removed_events)}."
        ]
    if result.removed_events:
        return [
            f"Rolled back: the ledger was at head {replaced.head}; "
            f"{_not_restored(result.removed_events)}."
        ]
    return []


def _its_events(count: int) -> str:
    """'its 1 event is' or 'its 12 events are': what another ledger's restore replaced."""
    verb = "is" if count == 1 else "are"
    return f"its {counted(count, 'event')} {verb}"


def _removed(count: int) -> str:
    """'1 event was removed' or '2 events were removed', counted in agreement."""
    verb = "was" if count == 1 else "were"
    return f"{counted(count, 'event')} {verb} removed"


def _not_restored(count: int) -> str:
    """'1 of its events is not in the restored copy and was removed' (or the plural)."""
    if count == 1:
        return "1 of its events is not in the restored copy and was removed"
    return f"{count} of its events are not in the restored copy and were removed"
