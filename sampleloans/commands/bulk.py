"""`import FILE`: a sample catalogue (CSV) or a history (JSON Lines), all or nothing."""

import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sampleloans.commands.common import (
    console,
    db_label,
    db_url,
    errors_to_exit_codes,
    lock_timeout_ms,
    on_server,
    parse_at,
    writing,
)

if TYPE_CHECKING:
    from sampleloans.services.bulk import BulkRejected


class CountedLines:
    """A file's lines that report the bytes read as they are read."""

    def __init__(self, handle: Iterable[str], report: Callable[[int], None]) -> None:
        self.handle = handle
        self.report = report

    def __iter__(self) -> Iterator[str]:
        done = 0
        for number, line in enumerate(self.handle, start=1):
            done += len(line.encode("utf-8", "surrogateescape"))  # as read, bad bytes too
            if number % 200 == 0:
                self.report(done)
            yield line


@contextmanager
def _lines(
    handle: Iterable[str], size: int, *, show: bool
) -> Iterator[Iterable[str] | CountedLines]:
    """The file's lines, with a transient progress bar by bytes read when `show`."""
    if not show:
        yield handle
        return
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TimeRemainingColumn

    columns = ("{task.description}", BarColumn(), TaskProgressColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console(stderr=True), transient=True) as progress:
        task = progress.add_task("importing", total=size or None)
        yield CountedLines(handle, lambda done: progress.update(task, completed=done))


def import_file(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(metavar="FILE", help="A catalogue .csv or a history .jsonl file.")
    ],
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            metavar="DATETIME",
            help="When a catalogue's samples were registered (ISO 8601, UTC if no offset); "
            "default now. A history's lines carry their own occurred_at.",
        ),
    ] = None,
) -> None:
    """Import a sample catalogue or a history, all or nothing.

    A catalogue is a CSV file, a history a JSON Lines file. Curators only.

    A catalogue has the columns of data/samples.csv, a history holds ledger events; every
    refused line is reported. An events export ('export --events', a bag's data/events.jsonl)
    imported into a --db file that does not exist yet, or a PostgreSQL database holding no
    ledger, rebuilds that ledger from it, as 'restore --events' does: the same events and
    hashes, so the same head (a bag's folder: 'restore --bag' rebuilds from it).

    --at dates a catalogue's registrations, so loans of its samples can be entered --at a
    later date (e.g. a 2025 round entered in 2026).

    \b
    Example: sampleloans --as curator@naoc.example import catalogue.csv --at 2025-04-01
    """
    if _rebuilt_from_export(ctx, file, at):
        return
    from sampleloans.errors import StorageError
    from sampleloans.fileio import check_input, open_text_input
    from sampleloans.services.bulk import (
        BulkRejected,
        detect_format,
        import_records,
        require_importer,
    )
    from sampleloans.services.events_file import bounded_lines
    from sampleloans.services.logins import head_seq, sync_logins_since

    with writing(ctx) as (session, service_ctx):
        require_importer(session, service_ctx)
        _refuse_a_bag(file)
        give = "give the path of a .csv or .jsonl file"
        # a missing file or a folder is named as such (open_input's rule for every input),
        # before its name's ending is judged: `import /data` is a folder, not a wrong format
        check_input(file, "FILE", give=give)
        fmt = detect_format(file.name)
        before_seq = head_seq(session)
        # a byte that is not UTF-8 is kept (as a surrogate) for the reader to name its line
        handle = open_text_input(
            file,
            "FILE",
            give=give,
            encoding="utf-8",
            errors="surrogateescape",
            newline="",
        )
        try:
            size = file.stat().st_size
            bounded = bounded_lines(handle, file.name)  # a 1 GB line is refused, not read
            with handle, _lines(bounded, size, show=sys.stderr.isatty()) as lines:
                result = import_records(
                    session,
                    service_ctx,
                    lines,
                    fmt=fmt,
                    source=file.name,
                    occurred_at=parse_at(at),
                )
        except BulkRejected as rejected:
            raise _naming_the_file(rejected, file.name) from None
        except OSError as exc:  # a read error midway (a failing disk, a vanished mount)
            raise StorageError(f"FILE: cannot read {file}: {exc.strerror}") from None
        # imported people log in (or stop) as with 'people add/deactivate/…', same transaction
        sync_logins_since(session, before_seq)
    from sampleloans.text import counted, path_shown

    what = counted(result.events, "sample" if fmt == "csv" else "event")
    console().print(f"Imported {what} from {path_shown(file)} in one transaction.", markup=False)


def _rebuilt_from_export(ctx: typer.Context, file: Path, at: str | None) -> bool:
    """Rebuild a new ledger from an events export (`restore --events`, verified), when --db
    names none yet: a SQLite file that does not exist, or a PostgreSQL database with no ledger;
    False, doing nothing, for anything else (a history, a catalogue, an existing ledger), which
    `import` itself reads or refuses. Its events keep their own times: `--at` is refused."""
    from sampleloans.services.bag import is_bag
    from sampleloans.services.events_file import is_events_export
    from sampleloans.services.ledgerfile import holds_no_ledger

    bag = is_bag(file)
    if not bag and not is_events_export(file):
        return False
    with errors_to_exit_codes():  # a --db URL of another kind is refused here, exit 2
        if not holds_no_ledger(db_url(ctx), lock_timeout_ms=lock_timeout_ms()):
            return False  # a bag: refused once the role is checked (`import_file`)
        _refuse_a_bag(file)  # no ledger, no role to check first
        if at is not None:
            from sampleloans.errors import InvalidInput

            raise InvalidInput(
                "--at: an events export keeps the time of each of its events; give --at with a "
                "catalogue (.csv) only"
            )
    from sampleloans.commands.maintenance import note_bag_checkpoints_left, restored_from
    from sampleloans.services.maintenance import IMPORT_EVENTS_ACTION

    result = restored_from(ctx, file, events=True, action=IMPORT_EVENTS_ACTION)
    from sampleloans.text import counted, path_shown

    # a server's URL, not result.path: a Path folds the URL's '//' into '/'
    ledger = db_label(ctx) if on_server(ctx) else str(result.path)
    console().print(
        f"Imported {counted(result.head_seq, 'event')} from {path_shown(file)} (an events export) "
        "into the "
        f"new ledger {ledger}, with their hashes; verified; ledger head {result.head}.",
        markup=False,
    )
    note_bag_checkpoints_left(file)
    return True


def _refuse_a_bag(file: Path) -> None:
    """A bag's folder is no catalogue nor history (exit 2): `restore --bag` rebuilds a ledger
    from it, its checkpoints checked with the lender's key, which `import` cannot be given
    (before: 'no database at …; run sampleloans init' into a new --db, exit 3)."""
    from sampleloans.errors import InvalidInput
    from sampleloans.services.bag import is_bag

    if is_bag(file):
        raise InvalidInput(
            f"FILE: {file} is an archival bag ('export --bag'), not a catalogue or a history; "
            f"rebuild a new ledger from it with 'sampleloans --db NEW.db restore --bag {file} "
            "--public-key KEY.pub' (KEY.pub: the lender's public key as you received it)"
        )


def _naming_the_file(rejected: "BulkRejected", name: str) -> "BulkRejected":
    """The refusal with the file named on every refused line and on the summary, as a
    malformed file's own error names it (`FILE line N: …`)."""
    rejected.details = [f"{name} {detail}" for detail in rejected.details]
    rejected.args = (f"{name}: {rejected}",)
    return rejected
