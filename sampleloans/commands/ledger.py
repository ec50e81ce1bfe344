"""Commands about the ledger as a whole: init, demo, verify."""

import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from sampleloans.ledger.envelope import Context
    from sampleloans.services.checkpoints import CheckpointPair
    from sampleloans.services.verify import VerifyResult

from sampleloans.commands.common import (
    JsonOption,
    console,
    context,
    db_label,
    db_url,
    engine_context,
    errors_to_exit_codes,
    os_user,
    parse_at,
    print_fitted,
    print_json,
    state,
)
from sampleloans.text import counted, path_shown


def init(
    ctx: typer.Context,
    curator_email: Annotated[
        str, typer.Option("--curator-email", metavar="EMAIL", help="E-mail of the first curator.")
    ],
    curator_name: Annotated[
        str, typer.Option("--curator-name", metavar="NAME", help="Name of the first curator.")
    ],
    institution: Annotated[
        str,
        typer.Option(
            "--institution", metavar="SHORT", help="The curating institution (short name)."
        ),
    ] = "NAOC",
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            metavar="DATETIME",
            help="When the ledger, its institutions and first curator start (ISO 8601); "
            "default now. Missions and reference samples keep their real return dates.",
        ),
    ] = None,
) -> None:
    """Create a new ledger with reference data and a curator.

    The ledger starts with the real reference data and a first curator.

    \b
    Example: sampleloans --db lab.db init --curator-email li@naoc.example \\
      --curator-name "Li Na" --at 2025-03-01
    """
    from sampleloans.services.common import require_email
    from sampleloans.services.ledgerfile import create_ledger, transaction
    from sampleloans.services.setup import init_ledger

    with errors_to_exit_codes():
        email = require_email(curator_email, "--curator-email")
        started_at = parse_at(at)
        service_ctx = context(ctx, email)

        def build(engine: "Engine") -> None:
            """Write the new ledger's reference data and first curator in one transaction."""
            with transaction(engine) as session:
                init_ledger(
                    session,
                    service_ctx,
                    curator_name=curator_name,
                    curator_institution=institution,
                    occurred_at=started_at,
                )

        create_ledger(db_url(ctx), build)
    console().print(
        f"Created ledger {db_label(ctx)} with the reference data; first curator {email}.",
        markup=False,
    )


def demo(
    ctx: typer.Context,
    directory: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            metavar="DIR",
            help="Folder for the demo database (default: a new temporary folder).",
        ),
    ] = None,
    ledger_id: Annotated[
        str | None,
        typer.Option(
            "--ledger-id",
            metavar="UUID",
            help="The demo ledger's id (a UUID; default random): two demos with the same id "
            "end at the same head, e.g. one on SQLite and one on PostgreSQL.",
        ),
    ] = None,
) -> None:
    """Replay the 2025 Chang'e-5 loan round on a demo database.

    The 2025 international Chang'e-5 loan round, replayed on a fresh demo database.

    Never touches your real ledger. With a global --db typed on the command line (not
    SAMPLELOANS_DB) the demo is written there instead: a new file, or a PostgreSQL database that
    holds no ledger yet.

    \b
    Example: sampleloans demo
    """
    from sampleloans.services.ledgerfile import open_ledger_url

    with errors_to_exit_codes(), ExitStack() as stack:
        fixed_id = None if ledger_id is None else _parse_ledger_id(ledger_id)
        where = _demo_target(_explicit_db(ctx), directory, stack)
        with _named_as_typed(where):
            engine = open_ledger_url(where.url, create=True)
            result = _replay_and_report(engine, where.label, fixed_id)
        if where.target is not None and where.built is not None:
            engine.dispose()  # the last connection folds the write-ahead log into the file
            _put_in_place(where.built, where.target, where.option)
        console().print(
            f"Try: SAMPLELOANS_DB={where.label} SAMPLELOANS_USER=compliance@naoc.example "
            "sampleloans overdue"
            + ("  (your password in place of ***)" if "***" in where.label else ""),
            markup=False,
        )
    if not result.ok:
        raise typer.Exit(1)


@dataclass(frozen=True)
class _DemoTarget:
    """Where the demo writes: a server database, or a new file built aside then put in place."""

    url: str  # what the demo opens
    label: str  # what the user is told (a server URL without its password)
    target: Path | None = None  # the new ledger file, put in place only once complete
    built: Path | None = None  # where it is built meanwhile
    option: str = "--db"  # the option an error about the file names


def _demo_target(given: str | None, directory: Path | None, stack: ExitStack) -> _DemoTarget:
    """The demo's ledger: a server URL given as --db as it is; else a new file (--db) or a new
    folder's ledger.db (--dir, default a temporary folder), built in a private folder beside it
    that `stack` removes."""
    from sampleloans.errors import InvalidInput
    from sampleloans.fileio import private_build_dir, remove_empty_folders
    from sampleloans.services.ledgerfile import (
        display_url,
        is_server_url,
        ledger_file,
        refuse_query_mark,
        url_for_path,
    )

    if given and directory is not None:
        raise InvalidInput("--dir: give --dir or a global --db for the demo, not both")
    if given and is_server_url(given):
        return _DemoTarget(given, display_url(given))
    if given:
        ledger_file(given)  # a path no URL can name: refused before anything
        target, option = _new_demo_file(Path(given)), "--db"
    else:
        if directory is not None:  # refused before the folder is made
            refuse_query_mark(str(directory), "--dir")
        folder, made = _demo_folder(directory)
        # a demo that fails (a full disk) leaves no empty folder of its own behind, nor the
        # parents `--dir a/b/c` made
        stack.callback(remove_empty_folders, made)
        target, option = folder / "ledger.db", "--dir"
    # built in a private folder beside it, then linked into place: a failed or killed
    # demo leaves no partial ledger, and a killed one's folder goes at the next run
    built = stack.enter_context(private_build_dir(target.parent, target.name, option))
    path = built / "ledger.db"
    return _DemoTarget(url_for_path(path), path_shown(target), target, path, option)


def _named_as_typed(where: "_DemoTarget") -> AbstractContextManager[None]:
    """Errors about the demo's ledger built aside name the --db or --dir file instead."""
    from sampleloans.fileio import named_as_typed

    if where.built is None or where.target is None:  # a server database: named as it is
        return nullcontext()
    return named_as_typed(where.built, where.target, where.option)


def _replay_and_report(engine: "Engine", label: str, fixed_id: str | None) -> "VerifyResult":
    """Replay the demo round step by step, verify it and print the collection's summary."""
    from sampleloans.commands.render import demo_summary_table, step_line, verify_lines
    from sampleloans.demo import DEMO_TODAY, run_demo
    from sampleloans.services.ledgerfile import transaction
    from sampleloans.services.queries import collection_summary
    from sampleloans.services.verify import verify

    out = console()
    out.print(
        f"Demo ledger: {label}  (simulated clock; 'today' is {DEMO_TODAY:%Y-%m-%d})",
        markup=False,
    )
    for step in run_demo(engine, os_user(), fixed_id):
        out.print(step_line(step))
    result = verify(engine)
    for line in verify_lines(result):
        out.print(line)
    with transaction(engine, write=False) as session:
        summary = collection_summary(session, DEMO_TODAY)
    # fitted: on a narrow terminal rich would squeeze the loans and standing columns to nothing
    print_fitted([demo_summary_table(summary, result.head or "none (no event could be read)")])
    return result


def _explicit_db(ctx: typer.Context) -> str | None:
    """The global --db when typed on the command line (SAMPLELOANS_DB never sends the demo
    into a real database)."""
    source = ctx.find_root().get_parameter_source("db")
    # by name: typer 0.12 uses click's ParameterSource, later ones a vendored copy of it
    return state(ctx).db if getattr(source, "name", None) == "COMMANDLINE" else None


def _parse_ledger_id(value: str) -> str:
    """A ledger id given on the command line: a UUID, in its canonical form."""
    import uuid

    from sampleloans.errors import InvalidInput
    from sampleloans.units import quote_input

    try:
        return str(uuid.UUID(value.strip()))
    except ValueError:
        raise InvalidInput(
            f"--ledger-id: {quote_input(value)} is not a UUID (e.g. "
            "0d9ba0c2-5b8e-4a57-9d0e-6a1f0e3c1a2b)"
        ) from None


def _new_demo_file(path: Path) -> Path:
    """The --db file the demo is to create; an existing file (perhaps a real ledger) is refused."""
    import stat

    from sampleloans.errors import StorageError
    from sampleloans.fileio import dangling_link_problem, inspected_mode, refuse_new_database

    # looked up, not `exists()`: that raises for a name too long or a folder that may not be
    # searched, where the answer is one line (exit 3)
    if inspected_mode(path, "--db", follow=False) is not None:
        advice = "the demo writes only a new ledger: give a new file name"
        raise StorageError(dangling_link_problem(path, advice) or f"--db: {path} exists; {advice}")
    folder = inspected_mode(path.parent, "--db")
    if folder is None or not stat.S_ISDIR(folder):
        raise StorageError(f"--db: {path.parent} is not an existing folder")
    refuse_new_database(path, "--db")
    return path


def _put_in_place(built: Path, target: Path, option: str) -> None:
    """Link the finished demo ledger at `target`, never over a file made meanwhile (the folder
    it was built in is removed when the command ends)."""
    import os

    from sampleloans import fileio
    from sampleloans.errors import StorageError
    from sampleloans.fileio import refuse_new_database

    refuse_new_database(target, option)  # nothing put beside it while the demo ran
    try:
        os.link(built, target)
        fileio.placed(f"the demo ledger {target} was created whole")
    except FileExistsError:
        raise StorageError(
            f"{option}: {target} was created while the demo ran; not replaced"
        ) from None
    except OSError as exc:  # e.g. a file system without hard links: never a blind rename
        raise StorageError(f"{option}: cannot create {target}: {exc.strerror}") from None


def _demo_folder(directory: Path | None) -> tuple[Path, list[Path]]:
    """A fresh folder for the demo, and the folders this run made for it (deepest first); an
    existing non-empty one is refused."""
    from sampleloans.errors import StorageError
    from sampleloans.fileio import missing_folders, remove_empty_folders, remove_stale_temps

    made: list[Path] = []
    try:
        if directory is None:
            temp = Path(tempfile.mkdtemp(prefix="sampleloans-demo-"))
            return temp, [temp]
        if directory.exists() and not directory.is_dir():
            raise StorageError(
                f"--dir: {directory} is a file, not a folder; give a new or empty folder"
            )
        if directory.is_dir():  # a killed demo's build folder is not the user's file
            remove_stale_temps(directory)
        if directory.exists() and any(directory.iterdir()):
            raise StorageError(f"--dir: {directory} is not empty; give a new or empty folder")
        made = missing_folders(directory)
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a read-only or full disk, a folder we may not read
        remove_empty_folders(made)  # `a` made before the disk refused `a/b`
        where = directory if directory is not None else "TMPDIR"
        raise StorageError(f"--dir: cannot create a folder in {where}: {exc.strerror}") from None
    return directory, made


@contextmanager
def _replay_progress(*, quiet: bool) -> Iterator[Callable[[int], None] | None]:
    """A transient progress bar over the replay of the ledger on a terminal; nothing when piped."""
    import sys

    if quiet or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import Progress

    with Progress(console=console(stderr=True), transient=True) as progress:
        task = progress.add_task("replaying the ledger", total=None)

        def advance(seq: int) -> None:
            """Move the bar every thousand events replayed."""
            if seq % 1000 == 0:
                progress.update(task, completed=seq)

        yield advance


def verify(
    ctx: typer.Context,
    print_head: Annotated[
        bool, typer.Option("--print-head", help="Print only SEQ:HASH of the last event.")
    ] = False,
    anchor: Annotated[
        str | None,
        typer.Option(
            "--anchor",
            metavar="SEQ:HASH",
            help="SEQ:HASH from an earlier report; prove the ledger still extends it.",
        ),
    ] = None,
    as_json: JsonOption = False,
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            "--checkpoint",
            metavar="FILE",
            help="A signed checkpoint file: also prove the ledger still extends it.",
        ),
    ] = None,
    public_key: Annotated[
        Path | None,
        typer.Option(
            "--public-key",
            metavar="KEY.pub",
            help="The public key (.pub) the checkpoint is signed with.",
        ),
    ] = None,
    since: Annotated[
        Path | None,
        typer.Option(
            "--since",
            metavar="FILE",
            help="A kept checkpoint file: check only the events after it (incremental).",
        ),
    ] = None,
) -> None:
    """Check the whole ledger: hash chain, replay, invariants.

    The hash chain, replay = projections, the invariants, and SQLite's integrity.

    Exit 0 when clean, 1 when anything is wrong (every problem is printed). Curators and
    compliance officers only. JSON keys (docs/json.md): ok, head, event_count, problems [area,
    message], not_checked. Without --checkpoint or --anchor it also says what the ledger alone
    cannot prove: that it is the lender's whole, current ledger.
    With --checkpoint FILE --public-key KEY.pub it also checks the signed checkpoint and that
    the ledger still extends it (its head and Merkle root): truncation, a rollback or a
    recomputed chain fail without a remembered anchor. --since FILE checks only what came
    after a checkpoint this ledger kept (made after a full verify) and prints what it did not
    re-check.

    \b
    Example: sampleloans verify --anchor 212:5f0c…
    """
    if since is not None:
        if checkpoint is not None or anchor is not None or print_head:
            _usage("--since checks only new events; not with --checkpoint, --anchor, --print-head")
        _verify_since(ctx, since, public_key, as_json=as_json)
        return
    if (checkpoint is None) != (public_key is None):
        _usage("--checkpoint and --public-key go together (the checkpoint and its key)")
    with errors_to_exit_codes():
        engine, result, proved, covered = _verify_whole(
            ctx, anchor, checkpoint, public_key, quiet=print_head or as_json
        )
    unproven = [*result.not_checked, *_unproven(anchor, checkpoint, covered, result.head_seq)]
    if print_head and result.ok:
        typer.echo(result.head)
    elif as_json:
        _print_verify_json(result, unproven)
    else:
        _print_verify_lines(engine, result, [*proved, *unproven])
    if not result.ok:
        raise typer.Exit(1)


def _verify_whole(
    ctx: typer.Context,
    anchor: str | None,
    checkpoint: Path | None,
    public_key: Path | None,
    *,
    quiet: bool,
) -> tuple["Engine", "VerifyResult", list[str], int]:
    """The full verify (with --anchor), plus --checkpoint's problems; the engine, the result,
    the lines saying what an anchor or a checkpoint proved (printed when all is well) and the
    last event they cover (0: none given)."""
    from sampleloans.services.checkpoints import read_checkpoint_pair
    from sampleloans.services.verify import parse_anchor, verifier_refused, verify

    # the whole verify checks the role itself, on a damaged ledger too (which it reports,
    # exit 1, where a read for the role would stop at the damage); then what was typed is
    # read (exit 2, before any check): the anchor, the checkpoint and its key
    engine, service_ctx = engine_context(ctx, check_role=False)
    damaged = verifier_refused(engine, service_ctx)
    if damaged is not None:
        return engine, damaged, [], 0
    anchor_value = None if anchor is None else parse_anchor(anchor, "--anchor")
    pair = None
    if checkpoint is not None and public_key is not None:
        pair = read_checkpoint_pair(checkpoint, public_key)
    with _replay_progress(quiet=quiet) as advance:
        result = verify(engine, anchor=anchor_value, progress=advance)
    proved, covered = [], 0
    if anchor_value is not None:  # say what was proved, as for a checkpoint
        seq, hash_hex = anchor_value
        proved.append(
            f"anchor: the ledger extends {seq}:{hash_hex} (event {seq} still has that hash)"
        )
        covered = seq
    if checkpoint is not None and pair is not None:
        line, size = _add_checkpoint_problems(engine, service_ctx, checkpoint, pair, result)
        proved.append(line)
        covered = max(covered, size)
    return engine, result, proved, covered


def _unproven(
    anchor: str | None, checkpoint: Path | None, covered: int, head_seq: int
) -> list[str]:
    """What a clean verify did not prove: without a witness from outside the ledger, that it is
    the lender's; with one, the events after the last one it covers."""
    from sampleloans.services.verify import unproven

    return unproven(
        anchor_given=anchor is not None,
        checkpoint_given=checkpoint is not None,
        covered=covered,
        head_seq=head_seq,
    )


def _print_verify_json(result: "VerifyResult", unproven: list[str]) -> None:
    """The verdict as JSON: ok, head, event count, every problem and what was not checked."""
    print_json(
        {
            "ok": result.ok,
            "head": result.head,
            "event_count": result.events,
            "problems": [{"area": p.area, "message": p.message} for p in result.problems],
            "not_checked": unproven,
        }
    )


def _print_verify_lines(engine: "Engine", result: "VerifyResult", proved: list[str]) -> None:
    """The verdict for a reader: the verify lines, what an anchor or a checkpoint proved (or,
    without either, what was not proved), a schema note."""
    from sampleloans.commands.render import verify_lines

    out = console()
    for verdict in verify_lines(result):
        out.print(verdict)
    # what this login could not check is said with the problems too (the rest only when clean)
    for line in proved if result.ok else result.not_checked:
        out.print(line, markup=False)
    with errors_to_exit_codes():
        _schema_note(engine)


def _schema_note(engine: "Engine") -> None:
    """Say on stderr what to run when the ledger's schema is older than this release's."""
    from sampleloans.services.ledgerfile import SCHEMA_HEAD, schema_behind, who_upgrades

    behind = schema_behind(engine)
    if behind is not None:
        console(stderr=True).print(
            f"Note: this ledger's schema is at {behind}, not this release's ({SCHEMA_HEAD}); "
            f"{who_upgrades(engine)} to bring it up.",
            markup=False,
        )


def _usage(message: str) -> NoReturn:
    """One usage error line and exit 2."""
    from sampleloans.text import one_line

    typer.echo(f"Error: {one_line(message)}", err=True)
    raise typer.Exit(2)


def _add_checkpoint_problems(
    engine: "Engine",
    service_ctx: "Context",
    note: Path,
    pair: "CheckpointPair",
    result: "VerifyResult",
) -> tuple[str, int]:
    """Check the ledger against a signed checkpoint; its problems join verify's. The line
    to print when it holds, and the checkpoint's size."""
    from sampleloans.services.checkpoints import verify_checkpoint_read
    from sampleloans.services.verify import Problem

    found = verify_checkpoint_read(engine, service_ctx, note, pair)
    result.problems += [Problem("checkpoint", message) for message in found.problems]
    line = (
        f"checkpoint: the ledger extends the checkpoint signed by {found.key_name} "
        f"({counted(found.checkpoint.size, 'event')}, {found.checkpoint.extension('head')})"
    )
    return line, found.checkpoint.size


def _verify_since(ctx: typer.Context, since: Path, key: Path | None, *, as_json: bool) -> None:
    """`verify --since`: the events after a kept checkpoint, and what was not re-checked."""
    from sampleloans.services.checkpoints import verify_since

    with errors_to_exit_codes():
        result = verify_since(*engine_context(ctx), since, key)
    if as_json:
        print_json(
            {
                "ok": result.ok,
                "head": result.head,
                "checkpoint_id": result.checkpoint_id,
                "checkpoint_event_count": result.from_size,
                "new_event_count": result.new_events,
                "checked": result.checked,
                "not_checked": result.not_checked,
                "problems": [{"area": a, "message": m} for a, m in result.problems],
            }
        )
    else:
        out = console()
        verdict = "OK" if result.ok else f"{counted(len(result.problems), 'problem')} found"
        out.print(
            f"verify --since checkpoint {result.checkpoint_id} "
            f"({counted(result.from_size, 'event')} signed): "
            f"{verdict} — {counted(result.new_events, 'new event')}; head {result.head}",
            markup=False,
        )
        for area, message in result.problems:
            out.print(f"  [{area}] {message}", markup=False)
        for line in result.checked:
            out.print(f"  checked: {line}", markup=False)
        for line in result.not_checked:
            out.print(f"  {_left_to_full_verify(line)}", markup=False)
    if not result.ok:
        raise typer.Exit(1)


def _left_to_full_verify(line: str) -> str:
    """A `verify --since` line of what it did not check: left to a full verify, unless the line
    says itself what checks it (the policies' expressions, which this login may not compare)."""
    if line.startswith("not checked: "):
        return line
    return f"not re-checked (a full 'verify' does): {line}"
