"""What every command shares: the actor, the database, the clock, errors, and output.

Heavy modules (SQLAlchemy, SQLModel, the services) are imported inside functions so that
`sampleloans --help` starts fast; reportlab is imported only by the report commands.
"""

import functools
import json
import os
import pwd
import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sampleloans.fields import option_candidates, rename_field
from sampleloans.text import one_line, trim_key, visible

if TYPE_CHECKING:
    from rich.console import Console
    from rich.segment import Segment
    from sqlalchemy import Engine
    from sqlmodel import Session

    from sampleloans.ledger.envelope import Context

_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+")
_MOST_DIGITS = 40
"""Digits a whole number typed may have: twice SQLite's largest integer's 19, so that each
command still names its own limit (`--limit`'s rows), and far below the 4,300 int() reads."""


def whole_number(text: str | int) -> int:
    """The value of an option or argument that takes a whole number (`--limit 50`, `SEQ`),
    refused in words when it is none: Typer's own message spoke of "parsing a string as an
    integer". ASCII digits only (Python's int() also reads other scripts' digits). Typer
    passes a default (`--offset`'s 0) through here too, as it is."""
    if isinstance(text, int):
        return text
    if not _WHOLE_NUMBER.fullmatch(text.strip()):
        shown = one_line(text[:40])
        raise typer.BadParameter(f"'{shown}' is not a whole number; give digits, e.g. 50")
    digits = len(text.strip().lstrip("+-").lstrip("0"))
    if digits > _MOST_DIGITS:  # int() refuses thousands of digits in Python's own words
        raise typer.BadParameter(
            f"'{one_line(text.strip()[:20])}…' is a number of {digits:,} digits, larger than "
            f"any a ledger holds; give at most {2**63 - 1}"
        )
    return int(text)


JsonOption = Annotated[
    bool, typer.Option("--json", help="Print JSON (stable keys) instead of tables.")
]
CsvOption = Annotated[
    bool,
    typer.Option("--csv", help="Print CSV (RFC 4180, the table's columns) instead of a table."),
]
AtOption = Annotated[
    str | None,
    typer.Option(
        "--at",
        metavar="DATETIME",
        help="When it happened (ISO 8601, UTC if no offset); default now.",
    ),
]
ReasonOption = Annotated[
    str, typer.Option("--reason", metavar="TEXT", help="Why (kept in the ledger).")
]
NewNameOption = Annotated[
    str, typer.Option("--name", metavar="NAME", help="The full name as it should read.")
]


@dataclass
class State:
    """Global options given before the command."""

    db: str | None = None  # a SQLite file, or a postgresql:// URL
    actor: str | None = None


def state(ctx: typer.Context) -> State:
    """The global options of this invocation."""
    root = ctx.find_root()
    if not isinstance(root.obj, State):
        root.obj = State()
    return root.obj


def default_db_path() -> Path:
    """Where the ledger lives unless --db or SAMPLELOANS_DB say otherwise."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "sampleloans" / "ledger.db"


def db_path(ctx: typer.Context) -> Path:
    """The database file of this invocation (for a PostgreSQL URL, a path no file has)."""
    from sampleloans.services.ledgerfile import ledger_file

    given = state(ctx).db
    return ledger_file(given) if given is not None else default_db_path()


def db_url(ctx: typer.Context) -> str:
    """The database of this invocation as a URL: a SQLite file's, or the postgresql:// one."""
    from sampleloans.services.ledgerfile import is_server_url, url_for_path

    given = state(ctx).db
    return given if given and is_server_url(given) else url_for_path(db_path(ctx))


def db_label(ctx: typer.Context) -> str:
    """The database of this invocation fit to print (a URL's password is never shown)."""
    from sampleloans.services.ledgerfile import display_url, is_server_url
    from sampleloans.text import path_shown

    given = state(ctx).db
    return display_url(given) if given and is_server_url(given) else path_shown(db_path(ctx))


def now() -> datetime:
    """The clock: SAMPLELOANS_NOW (ISO 8601) for reproducible sessions, else the real time."""
    from sampleloans.dates import parse_datetime, utc_now

    fixed = os.environ.get("SAMPLELOANS_NOW")
    return parse_datetime(fixed, "SAMPLELOANS_NOW") if fixed else utc_now()


def os_user() -> str:
    """The operating-system account running us, from the real uid (USER can lie)."""
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return f"uid:{os.getuid()}"


def lock_timeout_ms() -> int:
    """How long a writer waits for another (SAMPLELOANS_LOCK_TIMEOUT, seconds)."""
    from sampleloans.errors import InvalidInput
    from sampleloans.units import quote_input

    # set but empty is unset, as for SAMPLELOANS_NOW and the other variables
    raw = os.environ.get("SAMPLELOANS_LOCK_TIMEOUT", "").strip() or "10"
    # ASCII digits and one point only: float() also reads '1e3', '1_0', 'nan' and other
    # scripts' digits ('٥'), which nobody types as a number of seconds on purpose
    if not re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", raw):  # a sign: refused as out of range
        raise InvalidInput(
            f"SAMPLELOANS_LOCK_TIMEOUT: {quote_input(raw)} is not a number of seconds; "
            "give 0 to 3600 (default 10)"
        )
    seconds = float(raw)
    if not 0 <= seconds <= 3600:
        raise InvalidInput("SAMPLELOANS_LOCK_TIMEOUT: must be between 0 and 3600 seconds")
    return int(seconds * 1000)


def open_engine(ctx: typer.Context, *, create: bool = False) -> "Engine":
    """The ledger database engine (refuses a missing file unless creating)."""
    from sampleloans.services.ledgerfile import open_ledger_url

    return open_ledger_url(db_url(ctx), create=create, lock_timeout_ms=lock_timeout_ms())


def actor(ctx: typer.Context, *, required: bool = True) -> str | None:
    """The acting person's e-mail from --as or SAMPLELOANS_USER."""
    from sampleloans.errors import PermissionDenied

    who = state(ctx).actor or os.environ.get("SAMPLELOANS_USER")
    if not who and required:
        raise PermissionDenied(
            "no acting person: pass --as EMAIL or set SAMPLELOANS_USER to a registered person"
        )
    # a key as every other is read (`text.trim_key`), and an e-mail in any case
    return trim_key(who).lower() if who else None


def context(ctx: typer.Context, who: str | None = None) -> "Context":
    """The service context: who acts, as which OS user, at what time."""
    from sampleloans.ledger.envelope import Context

    system_clock = not os.environ.get("SAMPLELOANS_NOW")  # set but empty is unset, as in now()
    return Context(
        actor=who or actor(ctx) or "", os_user=os_user(), now=now(), system_clock=system_clock
    )


def parse_at(at: str | None) -> datetime | None:
    """The --at option as an aware UTC datetime."""
    from sampleloans.dates import parse_datetime

    return None if at is None else parse_datetime(at, "--at")


def on_server(ctx: typer.Context) -> bool:
    """Whether this invocation's ledger is on a PostgreSQL server (where `--as` is optional:
    a secured ledger knows who logged in)."""
    from sampleloans.services.ledgerfile import is_server_url

    given = state(ctx).db
    return bool(given and is_server_url(given))


def engine_context(ctx: typer.Context, *, check_role: bool = True) -> tuple["Engine", "Context"]:
    """The ledger's engine and who acts, for a command that runs its own transactions
    (verify, export, checkpoints): on a secured PostgreSQL ledger the login, as in `reading`."""
    from sampleloans.services.gate import COMMAND_ROLES, require_command_role
    from sampleloans.services.ledgerfile import transaction

    engine = open_engine(ctx)  # first, as before: a missing ledger is exit 3 whoever acts
    declared = actor(ctx, required=not on_server(ctx))
    command = command_name(ctx)
    if not on_server(ctx) and not (check_role and command in COMMAND_ROLES):
        return engine, context(ctx, declared)
    with transaction(engine, write=False) as session:
        service_ctx = session_context(ctx, session, declared)
        if check_role:  # before the files it reads
            require_command_role(session, service_ctx, command)
        return engine, service_ctx


def command_name(ctx: typer.Context) -> str:
    """The command as typed after the program's name and global options: 'loans issue'."""
    if ctx.parent is None:
        return ""
    names = [ctx.info_name or ""]
    parent = ctx.parent
    while parent.parent is not None:
        names.append(parent.info_name or "")
        parent = parent.parent
    return " ".join(reversed(names))


def session_context(ctx: typer.Context, session: "Session", declared: str | None) -> "Context":
    """Who acts in this transaction, and when: on a secured PostgreSQL ledger the login (a
    different `--as` is refused, exit 4) at the server's clock; otherwise `--as` /
    SAMPLELOANS_USER at SAMPLELOANS_NOW or the system clock."""
    from dataclasses import replace

    from sampleloans.errors import PermissionDenied
    from sampleloans.services.logins import identity

    who, clock = identity(session, declared)
    if not who:
        raise PermissionDenied(
            "no acting person: pass --as EMAIL or set SAMPLELOANS_USER to a registered person"
        )
    service_ctx = context(ctx, who)
    return service_ctx if clock is None else replace(service_ctx, now=clock)


@contextmanager
def quiet_broken_pipe() -> Iterator[None]:
    """A reader that stops reading (`| head`) ends the output quietly with exit 0, as for
    `git log` (Click would exit 1, a refusal's code): every command runs inside it. Standard
    output that cannot be written (a full disk, `> /dev/full`) is one line, exit 3
    (`StdoutGuard`), also when only the last flush finds it out."""
    from sampleloans.errors import StdoutUnwritable

    try:
        yield
        sys.stdout.flush()
    except BrokenPipeError:
        _discard_stdout()  # Python would report the pipe again when it flushes stdout at exit
        raise typer.Exit(0) from None
    except StdoutUnwritable as error:  # raised outside a command's errors_to_exit_codes
        sys.stderr.write(f"Error: {one_line(str(error))}\n")
        raise typer.Exit(error.exit_code) from None


def _discard_stdout() -> None:
    """Point file descriptor 1 at /dev/null: what is still buffered goes nowhere, and the
    interpreter's last flush at exit cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


class StdoutGuard:
    """Standard output whose writes, failing for any reason but a closed pipe (a full disk, a
    file size limit, an I/O error), raise `StdoutUnwritable` (exit 3, one line) instead of an
    OSError traceback from deep inside rich, csv or json; everything else is the stream's."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        """Write `text`, or raise StdoutUnwritable."""
        if isinstance(text, str) and not text:
            # nothing to write: Click probes a stream with write(""), swallowing any error,
            # which on /dev/full would be taken for the output's own failure and lost
            return 0
        with _unwritable_as_error():
            return int(self._stream.write(text))

    def writelines(self, lines: Iterable[str]) -> None:
        """Write each line, or raise StdoutUnwritable."""
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        """Flush the stream, or raise StdoutUnwritable."""
        with _unwritable_as_error():
            self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextmanager
def _unwritable_as_error() -> Iterator[None]:
    """Turn a failed write to standard output into StdoutUnwritable; a closed pipe stays a
    BrokenPipeError (`quiet_broken_pipe`: exit 0)."""
    from sampleloans.errors import StdoutUnwritable
    from sampleloans.interrupts import has_committed, kept_now

    try:
        yield
    except BrokenPipeError:
        raise
    except OSError as exc:
        _discard_stdout()  # nothing more can be written there; the exit must not fail again
        raise StdoutUnwritable(
            exc.strerror or str(exc), committed=has_committed(), kept=kept_now()
        ) from None


@contextmanager
def errors_to_exit_codes() -> Iterator[None]:
    """Turn our errors into `Error: …` on stderr and the documented exit code."""
    from sampleloans.errors import NoSuchRecord, RecordConflict, SampleLoansError

    try:
        yield
    except SampleLoansError as error:
        if isinstance(error, NoSuchRecord) and error.option is None:
            option = option_holding(error.key)
            error = error if option is None else error.typed_as(option)
        if isinstance(error, RecordConflict):  # a key taken: lead with where it was typed
            option = option_holding(error.key)
            error = error if option is None else RecordConflict(f"{option}: {error}", key="")
        # a name in a message may come from a file someone else made (a bag's file names, an
        # import's lines): its terminal controls are shown (`\x1b`, `\r`), never obeyed, or a
        # crafted name could repaint the line into "valid"
        # (a newline or tab in a path shows as `\n`, `\t`: one line, and unambiguous)
        for detail in getattr(error, "details", ()):  # e.g. every refused line of an import
            sys.stderr.write(f"{one_line(detail)}\n")
        message = rename_field(str(error), typed_option)
        sys.stderr.write(f"Error: {one_line(message)}\n")
        raise typer.Exit(error.exit_code) from None


def option_holding(key: str) -> str | None:
    """The running command's option (or argument, by its metavar) the user typed `key` in —
    a record a service did not find — or None: a service looks records up by key, and only
    the command line knows which option each key came from."""
    from typer.main import get_current_context

    current = get_current_context(silent=True)
    if current is None:
        return None
    for param in current.command.params:
        if param.name is None or not _holds(current.params.get(param.name), key):
            continue
        if param.param_type_name == "argument":
            return param.metavar or param.name.upper()
        return next((opt for opt in param.opts if opt.startswith("--")), None)
    return None


def _holds(value: object, key: str) -> bool:
    """Whether an option's value is `key` as typed (an e-mail in any case, a number), holds
    it among its values (a repeatable option) or pairs it (`--weighed CODE=MASS`)."""
    if isinstance(value, (list, tuple)):
        return any(_holds(item, key) for item in value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value) == key
    if not isinstance(value, str):
        return False
    return (
        value.lower() == key.lower()
        if "@" in key
        else (value == key or value.startswith(f"{key}="))
    )


def typed_option(words: str) -> str | None:
    """The running command's option (or argument) a service's field words name, as the user
    types it (`time` → `--at`, `storage location` → `--location`), or None if it has none."""
    # Typer carries its own copy of Click: its context stack, not `click`'s, holds the command
    from typer.main import get_current_context

    current = get_current_context(silent=True)
    if current is None:
        return None
    spellings: dict[str, str] = {}
    for param in current.command.params:
        if param.param_type_name == "argument" and param.name is not None:
            spellings[param.name] = param.metavar or param.name.upper()
        else:
            spellings.update((opt, opt) for opt in param.opts if opt.startswith("--"))
    return next((spellings[c] for c in option_candidates(words) if c in spellings), None)


@contextmanager
def writing(ctx: typer.Context) -> Iterator[tuple["Session", "Context"]]:
    """One write transaction as the acting person, whose role is checked before anything
    the command reads from its options (`services/gate.py`); errors become exit codes."""
    from sampleloans.services.gate import require_command_role
    from sampleloans.services.ledgerfile import transaction

    with errors_to_exit_codes():
        engine = open_engine(ctx)  # first: a missing ledger is exit 3 whoever acts
        declared = actor(ctx, required=not on_server(ctx))
        with transaction(engine) as session:
            # BEGIN IMMEDIATE first, then read the clock: writers queued on the lock then
            # record in the order they append, so recorded_at never goes back along seq
            session.connection()
            service_ctx = session_context(ctx, session, declared)
            require_command_role(session, service_ctx, command_name(ctx))
            yield session, service_ctx


@contextmanager
def reading(ctx: typer.Context) -> Iterator[tuple["Session", "Context"]]:
    """One read transaction as the acting person (reads need an actor too: researchers see
    only their own institution, so nobody's view is guessed)."""
    from sampleloans.services.ledgerfile import transaction

    with errors_to_exit_codes():
        engine = open_engine(ctx)  # first: a missing ledger is exit 3 whoever acts
        declared = actor(ctx, required=not on_server(ctx))
        with transaction(engine, write=False) as session:
            yield session, session_context(ctx, session, declared)


def console(*, stderr: bool = False) -> "Console":
    """A rich console built at call time (tests set COLUMNS); no colour when piped.

    Piped output with no COLUMNS gets 120 columns rather than rich's 80, so that tables in
    logs and files keep their columns readable instead of folding.
    """
    stream = sys.stderr if stderr else sys.stdout
    width = None if os.environ.get("COLUMNS") or stream.isatty() else 120
    return _console_class()(stderr=stderr, highlight=False, soft_wrap=True, width=width)


@functools.cache
def _console_class() -> type["Console"]:
    """rich's Console, except that a closed pipe is left to `quiet_broken_pipe` (exit 0)."""
    from rich.console import Console

    class PipedConsole(Console):
        """A console whose reader may stop reading (`| head`)."""

        def _render_buffer(self, buffer: Iterable["Segment"]) -> str:
            """The text to write, every terminal control in the ledger's text shown, not
            obeyed (rich's own styles are added after this, from each segment's style)."""
            from rich.segment import Segment

            shown = (
                Segment(visible(s.text), s.style, s.control) if not s.control else s for s in buffer
            )
            return super()._render_buffer(shown)

        def on_broken_pipe(self) -> None:
            """Raise the closed pipe to the command's `quiet_broken_pipe`: rich would exit 1,
            the code of a refusal."""
            raise BrokenPipeError

    return PipedConsole


def print_json(data: Any) -> None:
    """Stable JSON in the one vocabulary of docs/json.md: sorted keys, two-space indent, UTF-8."""
    from sampleloans.commands.jsonout import to_json

    text = json.dumps(to_json(data), indent=2, sort_keys=True, ensure_ascii=False, default=str)
    sys.stdout.write(text)
    sys.stdout.write("\n")


def check_output_format(*, as_json: bool, as_csv: bool) -> None:
    """Refuse --json and --csv together (exit 2) before anything is read."""
    if as_json and as_csv:
        sys.stderr.write("Error: --json and --csv: give one of them, not both\n")
        raise typer.Exit(2)


def print_table(
    table: Any,
    *,
    as_csv: bool = False,
    abbreviations: dict[str, str] | None = None,
    empty: str | None = None,
) -> None:
    """A rich table on stdout, every column kept on a narrow terminal (abbreviated headers
    get a legend), or the same columns and cells as CSV (RFC 4180); a table with no row is the
    line `empty` instead, as the streamed lists say it ("No loans match.")."""
    from sampleloans.commands.render import fitted, table_csv

    if as_csv:
        sys.stdout.write(table_csv(table))
        return
    out = console()
    if empty is not None and not table.row_count:
        out.print(empty, markup=False)
        return
    out.print(fitted(table, out.width, abbreviations))


def print_fitted(renderables: list[Any], *, abbreviations: dict[str, str] | None = None) -> None:
    """Lines and tables on stdout; each table keeps every column on a narrow terminal (headers
    in `abbreviations` shortened, with a legend, when it does not fit)."""
    from rich.table import Table

    from sampleloans.commands.render import fitted

    out = console()
    for renderable in renderables:
        if isinstance(renderable, Table):
            renderable = fitted(renderable, out.width, abbreviations)
        out.print(renderable)


def renamed_line(envelope: Any, key: str) -> str:
    """What a rename recorded: the record's `key` and its name as the event holds it (spaces as
    typed, an e-mail in lower case), with the event's number."""
    recorded = json.loads(envelope.payload or "{}")  # an append always sets the payload
    return f"{recorded[key]} is now named {recorded['name']}; event {envelope.seq}."


def placed_line(envelope: Any) -> str:
    """What a change of an institution's place recorded, as the event holds it."""
    recorded = json.loads(envelope.payload or "{}")  # an append always sets the payload
    where = f"{recorded['city']}, {recorded['country']}"
    return f"{recorded['short_name']} is now in {where}; event {envelope.seq}."
