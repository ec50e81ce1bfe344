"""The events export: every event with its hashes as JSON lines, and a ledger rebuilt from one.

Format (docs/ledger-format.md section 5): line 1 is a header
`{"format":"sampleloans-events","ledger_id":…,"meta":{…},"version":1}`, then one line per
event in seq order with its eleven stored fields; every line is canonical JSON (RFC 8785), so
two exports of the same ledger are byte-identical. The export is streamed from one read
snapshot (memory does not grow with the ledger) into a private temp file moved into place.

`build_ledger` turns such a file back into a ledger file: the events are stored exactly as
exported (same hashes, so the same head) and replayed through the one `apply`; `restore
--events` then verifies that copy like any backup before it replaces anything.
"""

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TextIO

from sqlalchemy import Connection, Engine, insert, text

from sampleloans import db, fileio
from sampleloans.errors import Conflict, DamagedFile, InvalidInput, StorageError
from sampleloans.ledger import chain
from sampleloans.ledger.envelope import Context
from sampleloans.ledger.guard import LedgerTampered
from sampleloans.models import LedgerEvent, LedgerMeta
from sampleloans.services.common import require_role
from sampleloans.text import one_line
from sampleloans.units import quote_input

FORMAT = "sampleloans-events"
VERSION = 1
EXPORT_ROLES = ("curator", "compliance_officer")
EVENT_FIELDS = (*chain.BODY_FIELDS, "prev_hash", "hash")  # the fields of an export line
_INT_FIELDS = ("seq",)
_OPTIONAL = {"corrects_seq": int, "reason": str}
_BATCH = 5000


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote: the file, how many events, and the head they end at."""

    path: Path
    events: int
    head: str


def export_events(
    engine: Engine,
    ctx: Context,
    dest: Path,
    *,
    force: bool = False,
    option: str = "--events",
    shown: Path | None = None,
) -> ExportResult:
    """Write every event of the ledger to `dest` as JSON lines (0600, atomic); a failure names
    `option` and `shown` (a bag's events name `--bag` and the bag, not its private build
    folder)."""
    database = db.sqlite_path(str(engine.url))
    with db.transaction(engine, write=False) as session:
        require_role(session, ctx, *EXPORT_ROLES, action="export the ledger's events")
    fileio.check_output(dest, force=force, ledger=database, option=option)
    try:
        with fileio.private_temp_file(dest.parent, dest.name, option) as temp:
            with os.fdopen(os.dup(temp.fd), "w", encoding="utf-8", newline="\n") as out:
                count, head = _write_export(engine, out)
                out.flush()
                os.fsync(out.fileno())
            fileio.check_output(dest, force=force, ledger=database, option=option)
            fileio.move_into_place(temp.path, dest, force=force, option=option)
            if shown is None:  # else one file of a bag still being built: not the output
                fileio.placed(f"{dest} was written whole")
    except OSError as exc:
        raise StorageError(f"{option}: cannot write {shown or dest}: {exc.strerror}") from None
    fileio.fsync_directory(dest.parent)
    return ExportResult(dest, count, head)


def _write_export(engine: Engine, out: TextIO) -> tuple[int, str]:
    """Header and events from one read snapshot; the count and the head written."""
    database = db.where(engine)
    # one read transaction: a damaged page is one line, exit 3, like any read's
    with db.transaction(engine, write=False) as session:
        connection = session.connection()
        rows = connection.execute(text("SELECT key, value FROM ledger_meta")).all()
        meta: dict[str, str] = {str(key): str(value) for key, value in rows}
        ledger_id = meta.get("ledger_id")
        if ledger_id is None:
            raise InvalidInput("this database has no ledger; nothing to export")
        header = {"format": FORMAT, "version": VERSION, "ledger_id": ledger_id, "meta": meta}
        out.write(chain.canonical(header, "export header") + "\n")
        count, head = 0, chain.format_head(0, chain.genesis_hash(ledger_id))
        for row in _stream_events(connection):
            record = dict(zip(EVENT_FIELDS, row, strict=True))
            _refuse_missing_fields(record, database)
            out.write(chain.canonical(record, f"event {record['seq']}") + "\n")
            count, head = count + 1, chain.format_head(record["seq"], record["hash"])
    return count, head


def _refuse_missing_fields(record: dict[str, Any], database: str) -> None:
    """Refuse (exit 3) an event row lacking a field every event has: SQLite reads the cells of a
    page cut short (a truncated file) as NULLs, and an export of them would carry no hash."""
    missing = [name for name in EVENT_FIELDS if name not in _OPTIONAL and record[name] is None]
    if missing:
        raise DamagedFile(
            f"the ledger {database} is damaged: event {record['seq']} has no "
            f"{', '.join(missing)}, which every event has; nothing was written; run "
            "'sampleloans verify' and restore the latest verified backup"
        )
    wrong_type = chain.stored_type_problem(SimpleNamespace(**record))
    if wrong_type is not None:  # a BLOB where text belongs: edited in the file, no export line
        raise LedgerTampered(
            f"the ledger {database} was changed outside sampleloans: event {record['seq']} "
            f"was edited: {wrong_type}; nothing was written; run 'sampleloans verify' and "
            "restore the latest verified backup"
        )


def _stream_events(connection: Connection) -> Iterator[tuple[Any, ...]]:
    """Every event's stored fields in seq order, fetched in batches."""
    cursor = connection.execute(
        text(f"SELECT {', '.join(EVENT_FIELDS)} FROM ledger_event ORDER BY seq")
    )
    while rows := cursor.fetchmany(_BATCH):
        yield from (tuple(row) for row in rows)


# --- reading an export back ---------------------------------------------------------------


FROM_AN_EXPORT = "give a file written by 'sampleloans export --events'"
"""What to give instead of a file that is no events export."""
BOM = "\ufeff"
"""The byte-order mark an editor may put at the start of a UTF-8 file; no export has one."""


def read_export(source: Path) -> tuple[dict[str, str], Iterator[dict[str, Any]]]:
    """The header's ledger_meta and the events of an export (each line checked as it is read).

    Malformed input raises InvalidInput naming the line (exit 2); whether the events chain is
    left to verify.
    """
    handle = fileio.open_text_input(source, "FILE", encoding="utf-8", newline="\n")
    try:
        first = _next_line(handle, source, 1)
        if first.startswith(BOM):
            raise InvalidInput(
                f"{source} line 1: it starts with a byte-order mark (U+FEFF) that an editor "
                "added; an export has none: save it without one and import it again"
            )
        header = _parse_line(first, source, 1)
    except BaseException:
        handle.close()
        raise
    meta = header.get("meta") if isinstance(header, dict) else None
    if (
        not isinstance(header, dict)
        or header.get("format") != FORMAT
        or type(header.get("version")) is not int  # JSON's true would pass as 1
        or header.get("version") != VERSION
        or not isinstance(meta, dict)
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items())
        or meta.get("ledger_id") != header.get("ledger_id")
    ):
        handle.close()
        raise InvalidInput(
            f"{source} line 1: not a sampleloans events export header "
            f'(expected {{"format":"{FORMAT}","version":{VERSION},"ledger_id":…,"meta":{{…}}}}); '
            f"{FROM_AN_EXPORT}"
        )
    extra = sorted(key for key in meta if key != "ledger_id")
    if extra:  # the one row any ledger has; anything else was added by hand to the header or
        # to ledger_meta (whose triggers allow an INSERT), and would come back in unverified
        handle.close()
        raise InvalidInput(
            f"{source} line 1: the header's meta holds {one_line(repr(extra[0]))[:80]}, which no "
            "sampleloans ledger writes (its only key is ledger_id): the file or its ledger was "
            f"edited by hand; {FROM_AN_EXPORT}"
        )
    return meta, _events(handle, source, chain.genesis_hash(str(meta["ledger_id"])))


def is_events_export(source: Path) -> bool:
    """Whether `source` is a regular file whose first line is an events export's header: what
    `import` into a --db that holds no ledger yet rebuilds the ledger from (as `restore
    --events`). Anything else (no such file, a FIFO, unreadable) is left to `import` to name."""
    try:  # is_file() raises, not answers, for a name longer than the system allows
        if not source.is_file():
            return False
        with source.open(encoding="utf-8", newline="\n") as handle:
            line = handle.readline(MAX_LINE_CHARS + 1)
    except (OSError, UnicodeDecodeError):
        return False
    try:  # an editor's byte-order mark is named by `read_export`, not taken for a history
        header = json.loads(line.removeprefix(BOM))
    except (ValueError, RecursionError):  # RecursionError: nested deeper than Python's stack
        return False
    return isinstance(header, dict) and header.get("format") == FORMAT


def _events(handle: TextIO, source: Path, genesis: str) -> Iterator[dict[str, Any]]:
    """The event lines of an export, each checked for its fields and their types, and for
    following the line before it: the next seq, linked to that event's hash (`genesis`, the
    ledger's genesis value, for the first)."""
    with handle:
        number = 2
        before: dict[str, Any] | None = None
        while line := _next_line(handle, source, number):
            record = _parse_line(line, source, number)
            _check_record(record, source, number)
            _check_follows(record, before, genesis, f"{source} line {number}")
            yield record
            before = record
            number += 1


def _check_follows(
    record: dict[str, Any], before: dict[str, Any] | None, genesis: str, where: str
) -> None:
    """An export's events run seq 1, 2, 3, … each linking to the one before: a seq that jumps,
    repeats or goes back, or a `prev_hash` that is not the hash before it, is no export's
    (before: a seq named by no line, exit 1, or a whole replay to find the broken link)."""
    seq = 1 if before is None else int(before["seq"]) + 1
    after = "the header" if before is None else f"seq {before['seq']} on the line before"
    if record["seq"] != seq:
        raise InvalidInput(
            f"{where}: seq is {record['seq']}, where {seq} follows {after}: an export's events "
            f"run 1, 2, 3, … with no seq skipped, repeated or going back; {FROM_AN_EXPORT}"
        )
    expected = genesis if before is None else before["hash"]
    if record["prev_hash"] != expected:
        what = (
            "the genesis value of the header's ledger_id"
            if before is None
            else (f"the hash of seq {before['seq']} on the line before")
        )
        raise InvalidInput(
            f"{where}: prev_hash {record['prev_hash'][:16]}… is not {what}: an event before it "
            f"was changed, removed or reordered; {FROM_AN_EXPORT}"
        )


def _next_line(handle: TextIO, source: Path, number: int) -> str:
    """The next line of an export ("" at the end); bytes that are not UTF-8 are bad input."""
    try:
        line = handle.readline(MAX_LINE_CHARS + 1)
    except UnicodeDecodeError:
        raise InvalidInput(f"{source} line {number}: not UTF-8 text; {FROM_AN_EXPORT}") from None
    except OSError as exc:  # a read error (EIO) or a file the kernel will not read this way
        raise StorageError(f"{source} line {number}: cannot be read ({exc.strerror})") from None
    refuse_long_line(line, source, number)
    return line


MAX_LINE_CHARS = 16 * 1024 * 1024
"""The longest line an input file (an export, a history, a catalogue) may hold: no record
comes near it (a text is at most 500 characters), and a line is read whole into memory."""


def refuse_long_line(line: str, source: object, number: int) -> None:
    """Refuse a line read with `readline(MAX_LINE_CHARS + 1)` that reached the limit before
    its end: reading on would hold all of it in memory (a 1 GB line, 2 GB)."""
    if len(line) > MAX_LINE_CHARS:
        raise InvalidInput(
            f"{source} line {number}: longer than {MAX_LINE_CHARS:,} characters; no record is "
            "that long: is it the right file?"
        )


def bounded_lines(handle: TextIO, source: object) -> Iterator[str]:
    """The lines of a text file, each read at most `MAX_LINE_CHARS` at a time."""
    number = 0
    while line := handle.readline(MAX_LINE_CHARS + 1):
        number += 1
        refuse_long_line(line, source, number)
        yield line


def _parse_line(line: str, source: Path, number: int) -> Any:
    """One JSON line (no floats, no duplicate keys); InvalidInput naming the line."""
    if not line.endswith("\n"):
        raise InvalidInput(f"{source} line {number}: truncated (no end of line); the file is cut")
    try:
        return json.loads(
            line,
            parse_int=_integer,
            parse_float=_OtherNumber,
            parse_constant=_refuse_number,
            object_pairs_hook=_once,
        )
    except _TooManyDigits as exc:  # valid JSON, but no number an export writes
        raise InvalidInput(f"{source} line {number}: {exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{source} line {number}: not valid JSON ({exc})") from None
    except RecursionError:  # arrays or objects nested deeper than Python's stack
        raise InvalidInput(
            f"{source} line {number}: not valid JSON (nested too deeply; an event is a flat object)"
        ) from None


def _refuse_number(value: str) -> Any:
    """NaN and Infinity are no JSON."""
    raise ValueError(f"{value} is not an integer")


class _OtherNumber:
    """A number as no export writes it (`1.0`, `1e3`, `-0`: canonical JSON writes an integer
    in digits alone), kept as read so that the field holding it is named."""

    def __init__(self, text: str) -> None:
        self.text = text


class _TooManyDigits(Exception):
    """A JSON integer longer than any an export writes (int() refuses thousands of digits in
    Python's own words, which spoke of sys.set_int_max_str_digits)."""


_MOST_DIGITS = len(str(2**63 - 1))  # SQLite's largest integer: an export writes none longer


def _integer(text: str) -> int | _OtherNumber:
    """An integer, or `-0` (JSON allows it; an export writes 0) kept as `_OtherNumber`."""
    digits = len(text.lstrip("-"))
    if digits > _MOST_DIGITS:
        raise _TooManyDigits(
            f"the number {quote_input(text, 24)} has {digits:,} digits; no field of an export "
            f"has more than {_MOST_DIGITS}"
        )
    return _OtherNumber(text) if text == "-0" else int(text)


def _once(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object whose keys each appear once."""
    record = dict(pairs)
    if len(record) != len(pairs):
        raise ValueError("a key appears twice")
    return record


def _check_record(record: Any, source: Path, number: int) -> None:
    """An event line has exactly the stored fields, each of its type."""
    where = f"{source} line {number}"
    if not isinstance(record, dict) or set(record) != set(EVENT_FIELDS):
        raise InvalidInput(f"{where}: an event needs exactly the keys {', '.join(EVENT_FIELDS)}")
    for name in EVENT_FIELDS:
        value = record[name]
        if isinstance(value, _OtherNumber):
            raise InvalidInput(
                f"{where}: {name} is {value.text[:40]}, not a number as an export writes it "
                "(an integer in digits alone: no fraction, exponent or minus zero)"
            )
        if name in _OPTIONAL:
            ok = value is None or (
                isinstance(value, _OPTIONAL[name]) and not isinstance(value, bool)
            )
        elif name in _INT_FIELDS:
            ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
        else:
            ok = isinstance(value, str)
        if not ok and name in _INT_FIELDS and isinstance(value, int):
            raise InvalidInput(f"{where}: {name} is {value}, not a whole number from 1")
        if not ok:
            raise InvalidInput(f"{where}: {name} is {value!r}, not of its type")
    for name in ("prev_hash", "hash"):
        if len(record[name]) != 64 or any(ch not in "0123456789abcdef" for ch in record[name]):
            raise InvalidInput(f"{where}: {name} is not 64 lower-case hex digits")


def load_events(source: Path, target: Engine) -> int:
    """Store the header's metadata and every event of an export, as they are, in the empty
    schema of `target` (no projections); how many events."""
    meta, events = read_export(source)
    count = 0
    with target.begin() as connection:
        for key, value in sorted(meta.items()):
            connection.execute(insert(LedgerMeta.__table__), {"key": key, "value": value})  # type: ignore[attr-defined]  # SQLModel sets __table__ on table classes; its stubs omit it
        batch: list[dict[str, Any]] = []
        for record in events:
            batch.append(record)
            if len(batch) == _BATCH:
                count += _insert(connection, batch, source)
                batch = []
        count += _insert(connection, batch, source)
    return count


def _insert(connection: Connection, batch: list[dict[str, Any]], source: Path) -> int:
    """Insert a batch of events; a repeated seq is bad input."""
    if not batch:
        return 0
    from sqlalchemy.exc import IntegrityError

    try:
        connection.execute(insert(LedgerEvent.__table__), batch)  # type: ignore[attr-defined]  # SQLModel sets __table__ on table classes; its stubs omit it
    except IntegrityError:
        raise Conflict(
            f"{source}: events between seq {batch[0]['seq']} and {batch[-1]['seq']} repeat a "
            "seq or break the ledger's constraints; nothing was restored"
        ) from None
    return len(batch)
