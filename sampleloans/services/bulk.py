"""The bulk path: a sample catalogue (CSV) or a history (JSON Lines), all or nothing.

Every record goes through the same service function as the single command, so every rule
applies. Records are imported in batches through one batch unit of work (`ledger/unit.py`),
each batch inside a SAVEPOINT, its checks run once at the batch's end. When a batch is refused,
it is rolled back and narrowed down (the records before the refused one, the refused one
alone, the rest) until every refused record is known, each judged on exactly the state the
records before it left, as one by one; the other batches keep the fast path. When anything
was refused, `import_records` raises `BulkRejected` and the caller's transaction rolls back:
nothing is written. Input is streamed one batch at a time.

History format: one JSON object per line,
`{"kind": "loan.consumed", "occurred_at": "2025-05-01T10:00:00Z", "actor": "curator@…",
  "payload": {...}, "reason": null, "corrects_seq": null}` with the event kinds and payload fields
of `ledger/events.py`. Fields the ledger derives (a loan's issued items, a receipt's shipment,
a sample's custodian, …) may be left out; when given they must equal what the ledger records.
Sequence numbers (`incident_seq`, `shipment_seq`, `corrects_seq`) are those of the receiving
ledger. `actor` is who did the act: their role must allow it, as the command would check. The
importing curator is recorded with every imported event (`os_user`: "ACCOUNT; imported by
EMAIL", see `envelope.imported_os_user`).
"""

import csv
import difflib
import functools
import gc
import inspect
import json
import re
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from itertools import islice
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from sampleloans import db
from sampleloans.dates import parse_datetime, refuse_future
from sampleloans.errors import InvalidInput, PermissionDenied, SampleLoansError
from sampleloans.fields import key_of_field, rename_field
from sampleloans.gcpause import gc_paused
from sampleloans.ledger.envelope import imported_os_user
from sampleloans.ledger.payload import MAX_INT, check_int, check_payload, check_value, shown
from sampleloans.ledger.payload_fields import FIELDS
from sampleloans.ledger.store import Context, Envelope
from sampleloans.ledger.unit import Unit, batch_unit
from sampleloans.models import Loan, Sample
from sampleloans.services import (
    agreements,
    corrections,
    incidents,
    loans,
    reference,
    samples,
    transfers,
)
from sampleloans.services.common import get_loan, require_choice, require_role, require_text
from sampleloans.services.events_file import FORMAT as EVENTS_FORMAT
from sampleloans.services.results import Written
from sampleloans.services.setup import Row
from sampleloans.text import clean_email, counted
from sampleloans.units import parse_depth_mm, parse_mass_ug, quote_input
from sampleloans.vocab import Direction, LoanStatus

FORMATS = ("csv", "jsonl")
CATALOGUE_COLUMNS = (
    *("code", "mission", "origin", "material_type", "physical_form", "mass", "purpose_class"),
    "storage_location",
)
"""The columns a catalogue must have: the values `samples register` requires (without one,
every row would be refused for the same missing value)."""
KNOWN_COLUMNS = (
    *CATALOGUE_COLUMNS,
    *("depth_top_cm", "depth_bottom_cm", "condition"),
    *("record", "mass_source", "firmness", "illustrative_fields", "source"),
)
"""Every column of data/samples.csv (data/README.md): any other is refused, not skipped (a
misspelt `condtion` would record the sample as 'pristine')."""
FIRMNESS = ("firm", "likely", "unsure", "illustrative")
"""What a row's `firmness` may say (data/README.md)."""
MASS_SOURCES = ("published", "illustrative")
"""What a row's `mass_source` may say (data/README.md)."""
ALL_FIELDS = "all"  # `illustrative_fields` of a row invented as a whole
ENVELOPE_KEYS = {"kind", "occurred_at", "actor", "payload", "reason", "corrects_seq"}
REASON_KINDS = (
    "agreement.ended",
    "institution.place_changed",
    "institution.renamed",
    "loan.extended",
    "loan.recalled",
    "loan.withdrawn",
    "mass.corrected",
    "person.deactivated",
    "person.reactivated",
    "person.renamed",
    "person.role_changed",
    "sample.moved",
)
"""The kinds whose command takes a reason (stored in the envelope, not the payload)."""

TEXT_REASON_KINDS = ("event.corrected",)
"""The kinds whose command records their text as the reason too: a history line may give that
reason (as an events export holds it), and must then give that text."""
CORRECTION_KINDS = ("event.corrected", "mass.corrected")
"""The kinds that reference an earlier event (`corrects_seq`)."""
MAX_DIGITS = 19  # digits of MAX_INT: a JSON number with more is refused before it is converted
OTHER_SEPARATORS = {";": "';'", "\t": "a tab", "|": "'|'"}
"""Separators a spreadsheet may have saved a catalogue with, and how a message names them."""
BOM = "\ufeff"  # the byte-order mark Excel writes at the start of a UTF-8 CSV
REFUSALS = (SampleLoansError, IntegrityError)
"""What refuses one record (a rule, bad input, a constraint of the schema)."""


@dataclass(frozen=True)
class LineError:
    """One refused record: its line in the file and the reason."""

    line: int
    message: str
    exit_code: int = 2

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class BulkRejected(InvalidInput):
    """Some records were refused; nothing was written. Carries every error, sorted by line."""

    def __init__(self, errors: list[LineError], total: int) -> None:
        self.errors = sorted(errors, key=lambda e: e.line)
        self.total = total
        self.details = [str(error) for error in self.errors]
        super().__init__(
            f"{len(self.errors)} of {counted(total, 'record')} refused; nothing was imported "
            "(fix every line listed and run the import again)"
        )
        # 2 when any record is unreadable or invalid input, else 1 (refused by a rule)
        self.exit_code = 2 if any(e.exit_code == 2 for e in self.errors) else 1


@dataclass
class BulkResult:
    """What an import did."""

    format: str
    records: int = 0
    events: int = 0
    errors: list[LineError] = field(default_factory=list)


def detect_format(name: str) -> str:
    """`csv` for a sample catalogue, `jsonl` for a history, from the file name."""
    lower = name.lower()
    if lower.endswith(".csv"):
        return "csv"
    if lower.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    raise InvalidInput(
        f"FILE: {name!r} is neither a sample catalogue (.csv) nor a history (.jsonl); "
        "name it with one of those endings"
    )


# --- reading records ----------------------------------------------------------------------------


def _text_lines(lines: Iterable[str], source: str) -> Iterator[str]:
    """The lines, with a byte-order mark at the start of the first one removed; a line holding
    bytes that are not UTF-8 (read as surrogate escapes) stops the import, naming the line."""
    for number, line in enumerate(lines, start=1):
        if number == 1 and line.startswith(BOM):
            line = line[len(BOM) :]
        if number == 1 and line.startswith(UTF16_BOMS):
            raise InvalidInput(
                f"{source}: is UTF-16 text (it starts with a UTF-16 byte-order mark); save the "
                "file as UTF-8"
            )
        if not line.isascii() and (bad := _NOT_UTF8_RE.search(line)):
            byte = ord(bad.group()) - 0xDC00  # surrogateescape keeps the byte as U+DC80..U+DCFF
            raise InvalidInput(
                f"{source} line {number}: the byte 0x{byte:02X} at character {bad.start() + 1} "
                "is not UTF-8 (another encoding, e.g. Latin-1, mixed in); save the file as UTF-8"
            )
        yield line


UTF16_BOMS = ("\udcff\udcfe", "\udcfe\udcff")
"""The UTF-16 byte-order marks (FF FE, FE FF) as `surrogateescape` reads them."""
_NOT_UTF8_RE = re.compile("[\udc80-\udcff]")
"""A byte that is not UTF-8, as the `surrogateescape` error handler reads it."""


def _csv_records(lines: Iterable[str], source: str) -> Iterator[tuple[int, Any]]:
    """(line number, Row or the reason it is refused) per CSV record; the header is checked first.

    A row with more or fewer fields than the header is refused (a value with an unquoted comma
    would otherwise shift into the wrong column, or be dropped). A malformed file stops here.
    """
    reader = csv.reader(_text_lines(lines, source))
    header = _csv_step(reader, source, lambda: next(reader, None)) or []
    _check_header(header, source)
    start = reader.line_num + 1  # the line a record starts on (a quoted value may span lines)
    while (fields := _csv_step(reader, source, lambda: next(reader, None), start)) is not None:
        if not fields:  # a blank line: no record (the next one starts after it)
            pass
        elif fields == header:  # two files joined, headers and all
            yield start, InvalidInput("repeats the header line (files joined?); remove it")
        elif len(fields) != len(header) and reader.line_num > start:
            yield start, InvalidInput(_unclosed_quote(reader.line_num))
        elif len(fields) != len(header):
            yield (
                start,
                InvalidInput(
                    f"has {len(fields)} fields but the header has {len(header)}; quote a value "
                    'that contains a comma ("a, b")'
                ),
            )
        else:
            yield start, Row(source, start, dict(zip(header, fields, strict=True)))
        start = reader.line_num + 1


def _unclosed_quote(last_line: int) -> str:
    """Why a record that ran over several lines is refused: a quote opened and never closed."""
    return (
        f"a quoted value opens on this line and is not closed (the record runs on to line "
        f"{last_line}); close its quote, or remove the stray '\"'"
    )


def _csv_step(reader: Any, source: str, step: Callable[[], Any], start: int = 0) -> Any:
    """One step of the CSV reader; a malformed file is refused naming the line (where the
    record started, for a quote never closed)."""
    try:
        return step()
    except csv.Error as exc:
        if "field larger than field limit" in str(exc) and start and reader.line_num > start:
            raise InvalidInput(
                f"{source} line {start}: {_unclosed_quote(reader.line_num)}"
            ) from None
        limit = csv.field_size_limit()
        reason = (
            f"a field is longer than {limit:,} characters; no catalogue value is that long"
            if "field larger than field limit" in str(exc)
            else f"not valid CSV ({exc})"
        )
        raise InvalidInput(f"{source} line {reader.line_num}: {reason}") from None


def _check_header(header: list[str], source: str) -> None:
    """Every catalogue column present, and none named twice (the last one would silently win)."""
    if not header:
        raise InvalidInput(
            f"{source}: holds no sample (it is empty or only blank lines); a catalogue's first "
            "line names the columns, at least "
            f"{', '.join(CATALOGUE_COLUMNS)} (see data/README.md); nothing was imported"
        )
    other = next((sep for sep in OTHER_SEPARATORS if len(header) == 1 and sep in header[0]), None)
    if other is not None:
        raise InvalidInput(
            f"{source}: the header separates its columns with {OTHER_SEPARATORS[other]}; a "
            "catalogue is comma-separated (in a spreadsheet: save as 'CSV UTF-8 (comma delimited)')"
        )
    if not set(CATALOGUE_COLUMNS) & set(header):  # a data row, or another kind of file
        raise InvalidInput(
            f"{source}: the first line is not the header: it names none of the columns "
            f"{', '.join(CATALOGUE_COLUMNS)}; put the header line first (see data/README.md)"
        )
    twice = sorted({name for name in header if header.count(name) > 1})
    if twice:
        raise InvalidInput(
            f"{source}: the header names {', '.join(map(repr, twice))} more than once; "
            "name each column once"
        )
    unknown = [name for name in header if name not in KNOWN_COLUMNS]
    if unknown:
        close = difflib.get_close_matches(unknown[0], KNOWN_COLUMNS, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise InvalidInput(
            f"{source}: the header names {quote_input(unknown[0])}, which is not a catalogue "
            f"column; {hint}the columns are {', '.join(KNOWN_COLUMNS)} (see data/README.md)"
        )
    missing = [c for c in CATALOGUE_COLUMNS if c not in header]
    if missing:
        raise InvalidInput(
            f"{source}: the header lacks {', '.join(missing)}; see data/README.md for the columns"
        )


def _jsonl_records(lines: Iterable[str], source: str) -> Iterator[tuple[int, Any]]:
    """(line number, parsed object or the reason it is refused) per non-blank line."""
    first = True  # the first line that is not blank
    for number, line in enumerate(_text_lines(lines, source), start=1):
        if not line.strip():
            continue
        record = _parse_json(line)
        if first and isinstance(record, InvalidInput) and line.strip() in ("[", "{"):
            raise InvalidInput(
                f"{source} line {number}: starts a JSON document written over several lines; "
                "a history is JSON Lines, one event object on each line"
            )
        first = False
        if number == 1 and isinstance(record, dict) and record.get("format") == EVENTS_FORMAT:
            raise InvalidInput(
                f"{source} line 1: is an events export ('export --events'), not a history to "
                "import into a ledger; rebuild a new ledger from it with 'sampleloans --db NEW.db "
                f"import {source}' (NEW.db: a new file, or an empty PostgreSQL database's URL) or "
                f"'restore --events {source}'"
            )
        yield number, record


def _parse_json(line: str) -> Any:
    """One line of JSON, strictly: no duplicate keys, no NaN or Infinity, no huge numbers."""
    try:
        return json.loads(
            line,
            object_pairs_hook=_object_without_duplicates,
            parse_int=_json_int,
            parse_float=TypedFraction,  # exact, never inf: 1e400 stays a number to refuse by name
            parse_constant=_json_constant,
        )
    except _NotANumber as constant:
        return _constant_named(line, constant.name)
    except InvalidInput as refused:
        return refused
    except json.JSONDecodeError as exc:
        return InvalidInput(f"not valid JSON ({exc.msg} at column {exc.colno})")
    except RecursionError:
        return InvalidInput("not valid JSON (nested too deeply; a record is a flat object)")


class TypedFraction(Decimal):
    """A JSON number with a fraction or an exponent, exact, that keeps its text as typed (a
    message quotes `1e-0`, not the `1` Decimal makes of it)."""

    typed: str

    def __new__(cls, text: str) -> "TypedFraction":
        """The number of `text`, remembering `text`."""
        number = super().__new__(cls, text)
        number.typed = text
        return number


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are all different (any depth): a repeated key is refused."""
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise InvalidInput(f"the key {quote_input(key)} appears twice in one object")
        found[key] = value
    return found


def _json_int(text: str) -> int:
    """A JSON integer no longer than any the ledger stores (int() of 5,000 digits is refused)."""
    digits = len(text.lstrip("-"))
    if digits > MAX_DIGITS:
        raise InvalidInput(
            f"the number {quote_input(text, 24)} has {digits:,} digits; no field takes more "
            f"than {MAX_DIGITS}"
        )
    return int(text)


class _NotANumber(InvalidInput):
    """NaN or Infinity in a line: refused, named by its key once the line is decoded."""

    def __init__(self, name: str) -> None:
        super().__init__(f"{name} is not a number the ledger takes; give a whole number")
        self.name = name


def _json_constant(name: str) -> Any:
    """NaN and Infinity are not JSON numbers; the ledger never takes them (the parser's hook
    knows no key: `_constant_named` finds it)."""
    raise _NotANumber(name)


@dataclass(frozen=True)
class _Constant:
    """Where NaN or Infinity stood in a decoded line (`_constant_named`)."""

    name: str


def _constant_named(line: str, name: str) -> InvalidInput:
    """The refusal of a line holding NaN or Infinity, naming its field as every import
    refusal does (`payload.mass_ug: …`) and what that field accepts (`give text`): the line
    decoded again, the constant marked where it stands (only a refused line pays for this)."""
    try:
        decoded = json.loads(
            line,
            object_pairs_hook=_object_without_duplicates,
            parse_int=_json_int,
            parse_float=TypedFraction,
            parse_constant=_Constant,
        )
        found = _constant_keys(decoded, [])
    except (InvalidInput, json.JSONDecodeError, RecursionError):
        # the line has another fault after the constant: the constant, met first, is the
        # one refused, unnamed (the first decode stopped there)
        decoded, found = None, None
    if found is None:
        return InvalidInput(f"{name} is not a number the ledger takes; no field accepts it")
    keys, name = found
    said = f"{name} is not a number the ledger takes; {_accepted(decoded, keys)}"
    if not keys:
        return InvalidInput(said)
    field = "".join(
        f"[{key}]" if isinstance(key, int) else f"{'.' * bool(n)}{_key_shown(key)}"
        for n, key in enumerate(keys)
    )
    if len(field) > _LONGEST_PATH_SHOWN:  # a line nested deep: the message stays one short line
        field = field[:_LONGEST_PATH_SHOWN] + "…"
    return InvalidInput(f"{field}: {said}")


_LONGEST_PATH_SHOWN = 80
# a key named as written when it reads as a field name; any other is quoted and cut short
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}")
# what each key of a history line accepts, as its own refusals say it (`_check_envelope`)
_ENVELOPE_ACCEPTS = {
    "kind": "give an event kind as text ('loan.consumed')",
    "occurred_at": "give an ISO 8601 time as text",
    "actor": "give the e-mail of the person who acted",
    "payload": "give a JSON object of the event's fields",
    "reason": "give text, or null",
    "corrects_seq": "give a whole number, or null",
}
# what a payload field of each declared type accepts, as `payload.check_value` says it
_TYPE_ACCEPTS = {
    "str": "give text",
    "str?": "give text, or null",
    "int": "give a whole number",
    "int?": "give a whole number, or null",
    "bool": "give true or false",
    "list[str]": "give a list of text",
    "pairs": "give a list of [code, micrograms] pairs",
}


def _key_shown(key: str) -> str:
    """A decoded key as a path shows it: a field-like name as is, any other quoted, cut short
    and escaped (`quote_input`), as every import refusal names a key it does not know."""
    return key if _PLAIN_KEY.fullmatch(key) else quote_input(key)


def _accepted(decoded: Any, keys: list[str | int]) -> str:
    """What the field at `keys` of a history line accepts, in the words of its refusals
    (`give text`, `give a whole number`); a field the line's kind does not have, said so."""
    if not keys:
        return "each line must be a JSON object with kind, actor and payload"
    if len(keys) == 1 or keys[0] != "payload":
        return _ENVELOPE_ACCEPTS.get(str(keys[0]), "a history line has no such field")
    kind = decoded.get("kind")
    fields = FIELDS.get(kind) if isinstance(kind, str) else None
    if fields is None:
        return "the line's kind is not an event kind, so no field of it takes this"
    if keys[1] not in fields:
        return f"{kind} has no such field"
    declared, inner = fields[str(keys[1])][0], keys[2:]
    if not inner:
        return _TYPE_ACCEPTS[declared]
    if declared == "list[str]" and len(inner) == 1:
        return "give text"
    if declared == "pairs" and len(inner) == 1:
        return "give a [code, micrograms] pair"
    if declared == "pairs" and len(inner) == 2:
        return "give text" if inner[1] == 0 else "give a whole number"
    return f"{kind}'s {keys[1]} holds no value there"


def _constant_keys(value: Any, keys: list[str | int]) -> tuple[list[str | int], str] | None:
    """The keys and indexes that lead to the first constant in a decoded value
    (`['payload', 'children', 0, 1]`), and the constant's name."""
    if isinstance(value, _Constant):
        return keys, value.name
    if isinstance(value, dict):
        items: Iterable[tuple[str | int, Any]] = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = _constant_keys(item, [*keys, key])
        if found is not None:
            return found
    return None


# --- checking values against the event's fields ---------------------------------------------


def _repr(value: Any, limit: int = 120) -> str:
    """repr() of a value, cut short so that a message stays one readable line."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


# --- the catalogue ------------------------------------------------------------------------------


def _register_row(
    session: Session,
    ctx: Context,
    row: Row | SampleLoansError,
    occurred_at: datetime | None = None,
) -> Envelope:
    """One catalogue row through `register_sample`, exactly as `init` reads data/samples.csv,
    registered at `occurred_at` (`import --at`; default now); a refused value is named by its
    column, as the file's header spells it."""
    if isinstance(row, SampleLoansError):
        raise row
    try:
        return _register(session, ctx, row, occurred_at)
    except SampleLoansError as refused:
        raise _named_as_in_file(refused, KNOWN_COLUMNS) from None


def _named_as_in_file(refused: SampleLoansError, keys: Collection[str]) -> SampleLoansError:
    """The refusal with the field the service names in words (`storage location`, `time`)
    spelled as the file's column or key (`storage_location`, `occurred_at`), when it has one."""
    message = str(refused)
    renamed = rename_field(message, lambda words: key_of_field(words, keys))
    if renamed != message:
        refused.args = (renamed,)  # the same error (its kind and exit code), named as typed
    return refused


def _check_provenance(row: Row) -> None:
    """The columns that say where a row comes from, checked though not recorded (README, "Data
    and sources"): a value none of them accepts is a mistake in the file, not a note."""
    if firmness := row.get("firmness"):
        require_choice(firmness, "firmness", FIRMNESS)
    if mass_source := row.get("mass_source"):
        require_choice(mass_source, "mass_source", MASS_SOURCES)
    if fields := row.get("illustrative_fields"):
        _check_field_names(fields)
    if source := row.get("source"):
        require_text(source, "source")


def _check_field_names(text: str) -> None:
    """`illustrative_fields`: `all`, or `;`-separated names of the catalogue's columns."""
    if text.strip().lower() == ALL_FIELDS:
        return
    for name in text.split(";"):
        if name.strip() not in KNOWN_COLUMNS:
            raise InvalidInput(
                f"illustrative_fields: {quote_input(name.strip())} is not a column of the "
                "catalogue; give 'all' or column names separated by ';' (mass;storage_location)"
            )


def _register(
    session: Session, ctx: Context, row: Row, occurred_at: datetime | None = None
) -> Envelope:
    """`register_sample` with a catalogue row's columns as its arguments; the row's provenance
    is checked after what the ledger records, so a row's first refusal is the one that matters
    to its sample (the whole import is refused either way)."""
    envelope = samples.register_sample(
        session,
        ctx,
        code=row.get("code"),
        mission=row.get("mission"),
        mass_ug=parse_mass_ug(row.get("mass"), "mass"),
        origin=row.get("origin"),
        material_type=row.get("material_type"),
        physical_form=row.get("physical_form"),
        purpose_class=row.get("purpose_class"),
        storage_location=row.get("storage_location"),
        condition=row.get("condition") or "pristine",
        depth_top_mm=_depth_mm(row, "depth_top_cm"),
        depth_bottom_mm=_depth_mm(row, "depth_bottom_cm"),
        record=row.get("record") or "illustrative",
        occurred_at=occurred_at,
    )
    _check_provenance(row)
    return envelope


def _depth_mm(row: Row, column: str) -> int | None:
    """A depth column in cm as integer millimetres, or None when empty."""
    text = row.get(column)
    return parse_depth_mm(text, column) if text else None


# --- the history --------------------------------------------------------------------------------


def _when(value: Any, what: str) -> datetime:
    """An ISO 8601 time from a payload."""
    if not isinstance(value, str):
        raise InvalidInput(f"{what}: give an ISO 8601 time as text")
    return parse_datetime(value, what)


def _pairs(value: Any, what: str) -> list[tuple[str, int]]:
    """[[code, micrograms], …] from a payload."""
    try:
        return [(str(code), int(mass)) for code, mass in value]
    except (TypeError, ValueError):
        raise InvalidInput(f"{what}: give a list of [code, micrograms] pairs") from None


Handler = Callable[[Session, Context, dict[str, Any], dict[str, Any]], Envelope]


def _received(s: Session, c: Context, p: dict[str, Any], kw: dict[str, Any]) -> Envelope:
    """A receipt: outbound (`loans receive`) or a return (`loans accept-return`)."""
    weighed = dict(_pairs(p.get("weighed", []), "weighed"))
    args = {
        "seal_intact": bool(p["seal_intact"]),
        "condition": p["condition"],
        **_parties(p),
        **kw,
    }
    if _receives_outbound(s, p):
        return loans.receive_loan(s, c, number=p["number"], weighed_ug=weighed or None, **args)
    return loans.accept_return(s, c, number=p["number"], weighed_ug=weighed, **args).envelope


def _receives_outbound(s: Session, p: dict[str, Any]) -> bool:
    """Whether a receipt line receives the outbound shipment (`loans receive`) rather than
    accepting a return: the direction of the shipment it names, else the loan's status (only
    the outbound shipment makes a loan `in_transit`; a return may travel while the borrower
    still holds other samples)."""
    from sampleloans.ledger.reads import get_row
    from sampleloans.models import Shipment

    seq = p.get("shipment_seq")  # a shipment written earlier in this import is in its batch
    shipment = get_row(s, Shipment, seq) if isinstance(seq, int) and 0 < seq <= MAX_INT else None
    if shipment is not None and shipment.loan_number == p["number"]:
        return shipment.direction == Direction.OUTBOUND
    return get_loan(s, p["number"]).status == LoanStatus.IN_TRANSIT


def _shipped(s: Session, c: Context, p: dict[str, Any], kw: dict[str, Any]) -> Envelope:
    """A shipment: outbound (`loans ship`) or the return trip (`loans return`)."""
    args = {
        "number": p["number"],
        "container": p["container"],
        "seal_number": p["seal_number"],
        "method": p.get("method", "courier"),
        **_parties(p),
        **kw,
    }
    if p.get("direction", Direction.OUTBOUND) == Direction.RETURN:
        return loans.release_return(s, c, samples=p.get("samples"), **args)
    if p.get("direction", Direction.OUTBOUND) != Direction.OUTBOUND:
        raise InvalidInput(f"direction: {p.get('direction')!r} is not outbound or return")
    return loans.ship_loan(s, c, **args)


def _parties(p: dict[str, Any]) -> dict[str, Any]:
    """The hand-over persons a line names (released_by, received_by, courier, witness)."""
    return _pick(p, "released_by", "received_by", "courier", "witness")


def _pick(p: dict[str, Any], *names: str) -> dict[str, Any]:
    """The named payload fields that are present."""
    return {name: p[name] for name in names if name in p}


def _mass_corrected(
    session: Session, ctx: Context, p: dict[str, Any], kw: dict[str, Any]
) -> Envelope:
    """A mass correction names the event it corrects in the envelope's `corrects_seq`."""
    corrects_seq = kw.pop("corrects_seq", None)
    if corrects_seq is None:
        raise InvalidInput("corrects_seq: a mass.corrected record names the event it corrects")
    return corrections.correct_mass(
        session,
        ctx,
        corrects_seq=int(corrects_seq),
        mass_ug=int(p["new_mass_ug"]),
        sample=p["sample"],
        reason=kw.pop("reason", None) or "",
        **kw,
    )


def _same_names(service: Callable[..., Any]) -> Handler:
    """The mapping of a kind whose payload fields are its service's keyword arguments, by the
    same names: the fields the service takes are passed (fields the ledger derives are not, and
    are compared with what it records afterwards); a field it needs and the line lacks is named."""
    parameters = inspect.signature(service).parameters
    accepted = {name for name, p in parameters.items() if p.kind is p.KEYWORD_ONLY}
    required = [name for name in accepted if parameters[name].default is inspect.Parameter.empty]
    needs_reason = "reason" in required  # the envelope's reason; its absence the service refuses

    def handler(s: Session, c: Context, p: dict[str, Any], kw: dict[str, Any]) -> Envelope:
        """Call the service with the fields it takes; a field it needs and the line lacks fails."""
        for name in required:
            if name not in p and name not in kw and name != "reason":
                raise KeyError(name)
        args = {name: value for name, value in p.items() if name in accepted}
        if needs_reason:
            kw = {"reason": "", **kw}
        result = service(s, c, **args, **kw)
        return result.envelope if isinstance(result, Written) else result

    return handler


HANDLERS: dict[str, Handler] = {
    **{
        kind: _same_names(service)
        for kind, service in (
            ("institution.added", reference.add_institution),
            ("person.added", reference.add_person),
            ("person.deactivated", reference.deactivate_person),
            ("person.reactivated", reference.reactivate_person),
            ("person.role_changed", reference.change_role),
            ("person.renamed", reference.rename_person),
            ("institution.renamed", reference.rename_institution),
            ("institution.place_changed", reference.change_institution_place),
            ("sample.registered", samples.register_sample),
            ("sample.split", samples.split_sample),
            ("sample.moved", samples.move_sample),
            ("agreement.created", agreements.create_agreement),
            ("agreement.signed", agreements.sign_agreement),
            ("agreement.ended", agreements.end_agreement),
            ("loan.requested", loans.request_loan),
            ("loan.approved", loans.approve_loan),
            ("loan.issued", loans.issue_loan),
            ("loan.consumed", loans.consume),
            ("loan.split", loans.borrower_split),
            ("loan.extended", loans.extend_loan),
            ("loan.inventory", loans.attest_inventory),
            ("loan.settled", loans.settle_loan),
            ("loan.closed", loans.close_loan),
            ("loan.withdrawn", loans.withdraw_loan),
            ("incident.reported", incidents.report_incident),
            ("incident.resolved", incidents.resolve_incident),
        )
    },
    # the kinds whose payload differs from their service's arguments
    "mission.added": lambda s, c, p, kw: reference.add_mission(
        s,
        c,
        code=p["code"],
        name=p["name"],
        returned_at=_when(p["returned_at"], "returned_at") if p.get("returned_at") else None,
        returned_mass_ug=p.get("returned_mass_ug"),
        **kw,
    ),
    "sample.transferred": lambda s, c, p, kw: transfers.transfer_samples(
        s,
        c,
        codes=[str(code) for code, _mass in _pairs(p["items"], "items")],
        recipient=p["recipient"],
        reference=p["reference"],
        **kw,
    ),
    "loan.shipped": _shipped,  # outbound or return: two services
    "loan.received": _received,  # a receipt or an accepted return: two services
    "loan.recalled": lambda s, c, p, kw: (
        loans.recall_loan(
            s,
            c,
            number=p["number"],
            due_at=_when(p["due_at"], "due_at"),
            reason=kw.pop("reason", None) or "",
            **kw,
        ).envelope
    ),
    "event.corrected": lambda s, c, p, kw: incidents.record_correction(
        s, c, corrects_seq=int(kw.pop("corrects_seq", None) or 0), text=p["text"], **kw
    ),
    "mass.corrected": _mass_corrected,
}
"""Event kind → the service call the single command makes, with the payload as arguments."""


def _history_record(session: Session, ctx: Context, record: Any) -> Envelope:
    """One history line through its service; the stored payload must match what was given.

    The line's actor acts (their role must allow the act, as the command checks); the importing
    curator (`ctx.actor`) is recorded beside them in `os_user`.
    """
    if isinstance(record, SampleLoansError):
        raise record
    kind, payload, actor = _check_envelope(record)
    options = _envelope_options(record, kind)
    record_ctx = _line_context(ctx, ctx.now.tzinfo, actor)
    try:
        envelope = HANDLERS[kind](session, record_ctx, payload, options)
    except PermissionDenied as exc:
        # the importing curator may import; it is the line's actor who could not have done it
        raise InvalidInput(f"actor: {exc}") from None
    except KeyError as exc:
        raise InvalidInput(f"payload: {kind} needs the field {exc.args[0]!r}") from None
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"payload: {exc}") from None
    except SampleLoansError as refused:
        raise _named_as_in_file(refused, {*payload, *record}) from None
    _same_as_stored(envelope, payload)
    given_reason = record.get("reason")
    if kind in TEXT_REASON_KINDS and given_reason is not None and given_reason != envelope.reason:
        raise InvalidInput(
            f"reason: {kind} records its text as its reason; give the same text, or no reason"
        )
    return envelope


@functools.lru_cache(maxsize=1024)
def _line_context(ctx: Context, _zone: Any, actor: str) -> Context:
    """The context a line acts in: its actor, the importing curator beside the OS account.
    Kept per importing context and actor: a history names the same few people on every line,
    and a context is a frozen value (`_zone`, the clock's time zone, is in the key because two
    clocks at one instant in different zones compare equal)."""
    return replace(ctx, actor=actor, os_user=imported_os_user(ctx.os_user, ctx.actor))


@functools.lru_cache(maxsize=4096)
def _actor_email(actor: str) -> str:
    """A line's actor as a clean e-mail address, checked once per spelling (a history names
    the same few people on every line; a refusal is raised again each time, not kept)."""
    return clean_email(actor, "actor")


def _check_envelope(record: Any) -> tuple[str, dict[str, Any], str]:
    """The kind, payload and actor of a history line, each of the type it must be."""
    if not isinstance(record, dict):
        raise InvalidInput("each line must be a JSON object with kind, actor and payload")
    unknown = sorted(set(record) - ENVELOPE_KEYS)
    if unknown:
        raise InvalidInput(
            f"unknown field {quote_input(unknown[0])}; fields are "
            f"{', '.join(sorted(ENVELOPE_KEYS))}"
        )
    kind = record.get("kind")
    if not isinstance(kind, str) or kind not in HANDLERS:
        known = ", ".join(sorted(HANDLERS))
        raise InvalidInput(f"kind: {shown(kind)} cannot be imported; use one of {known}")
    payload = record.get("payload")
    if not isinstance(payload, dict):
        raise InvalidInput("payload: must be a JSON object")
    check_payload(kind, payload)
    actor = record.get("actor")
    if not isinstance(actor, str) or not actor.strip():
        raise InvalidInput("actor: give the e-mail of the person who acted")
    return kind, payload, _actor_email(actor)


def _envelope_options(record: dict[str, Any], kind: str) -> dict[str, Any]:
    """The occurred_at, reason and corrects_seq of a history line as service arguments."""
    for name in ("occurred_at", "reason"):
        if record.get(name) is not None:
            check_value(record[name], "str", name)
    if record.get("corrects_seq") is not None:
        check_int(record["corrects_seq"], "corrects_seq")
    occurred = record.get("occurred_at")
    options: dict[str, Any] = {"occurred_at": _when(occurred, "occurred_at") if occurred else None}
    if record.get("reason") is not None and kind not in TEXT_REASON_KINDS:
        if kind not in REASON_KINDS:
            raise InvalidInput(f"reason: {kind} does not take a reason")
        options["reason"] = record["reason"]
    if record.get("corrects_seq") is not None:
        if kind not in CORRECTION_KINDS:
            raise InvalidInput(
                "corrects_seq: only an event.corrected or mass.corrected record references another"
            )
        options["corrects_seq"] = record["corrects_seq"]
    return options


def _same_as_stored(envelope: Envelope, given: dict[str, Any]) -> None:
    """Every field the record gave must be what the ledger recorded (derived ones included)."""
    stored = json.loads(envelope.payload or "{}")
    for name in sorted(given):
        value = given[name]  # read from JSON, so equal values compare equal without encoding
        if value != stored.get(name) and json.loads(json.dumps(value)) != stored.get(name):
            raise InvalidInput(
                f"payload: {name} is {_repr(value)} but the ledger records "
                f"{_repr(stored.get(name))}"
            )


# --- the import ---------------------------------------------------------------------------------


def require_importer(session: Session, ctx: Context) -> None:
    """Only curators import (checked before the file is even opened)."""
    require_role(session, ctx, "curator", action="import records")


def import_records(
    session: Session,
    ctx: Context,
    lines: Iterable[str],
    *,
    fmt: str,
    source: str = "input",
    progress: Callable[[int], None] | None = None,
    batch: int = 1000,
    occurred_at: datetime | None = None,
) -> BulkResult:
    """Import every record of a catalogue or history; raise BulkRejected if any is refused.

    The caller owns the transaction: on BulkRejected (or any error) it must roll back, which
    leaves the database exactly as it was. The lines are read once, `batch` records at a time.
    `occurred_at` dates a catalogue's registrations (`import --at`); a history's lines carry
    their own `occurred_at`, so it is refused with one.
    """
    if fmt not in FORMATS:
        raise InvalidInput(f"format: {fmt!r} is not one of {', '.join(FORMATS)}")
    require_importer(session, ctx)
    if occurred_at is not None and fmt != "csv":
        raise InvalidInput(
            "--at: a history's lines carry their own occurred_at; --at dates the samples of a "
            "catalogue (.csv) only: give the time in each line instead"
        )
    if occurred_at is not None:  # one refusal of the option, not one per line of the file
        refuse_future("--at", occurred_at, ctx.now, "events can only be recorded for the past")
    records, handle = _reader(lines, fmt, source, occurred_at)
    result = BulkResult(format=fmt)
    with db.import_cache(session.connection()), gc_paused(), batch_unit(session) as unit:
        while chunk := list(islice(records, batch)):
            errors, _clean = _import_run(session, unit, ctx, chunk, handle)
            gc.collect(1)  # the batch's own cycles: not the rows the unit keeps across
            result.records += len(chunk)
            result.events += len(chunk) - len(errors)
            result.errors.extend(errors)
            if progress is not None:
                progress(result.records)
    if result.errors:
        raise BulkRejected(result.errors, result.records)
    if not result.records:
        raise InvalidInput(_nothing_to_import(fmt, source))
    return result


def _nothing_to_import(fmt: str, source: str) -> str:
    """Why a file with no record is refused: importing nothing is a wrong file, never meant."""
    if fmt == "csv":
        return (
            f"{source}: holds no sample, only its header line; a catalogue has one sample per "
            "line below it (see data/README.md); nothing was imported"
        )
    return (
        f"{source}: holds no event (it is empty or only blank lines); a history has one JSON "
        "object per line (see data/README.md); nothing was imported"
    )


Records = list[tuple[int, Any]]
Handle = Callable[[Any, Context, Any], Envelope]


def _reader(
    lines: Iterable[str], fmt: str, source: str, occurred_at: datetime | None = None
) -> tuple[Iterator[tuple[int, Any]], Any]:
    """The records of a file and the function that imports one record (a catalogue's row
    registered at `occurred_at`)."""
    if fmt == "csv":
        register = functools.partial(_register_row, occurred_at=occurred_at)
        return _csv_records(lines, source), register
    return _jsonl_records(lines, source), _history_record


def _import_run(
    session: Session, unit: Unit, ctx: Context, records: Records, handle: Handle
) -> tuple[list[LineError], bool]:
    """Import a run of records as one batch; if it is undone, narrow it down to the refused ones.

    A record refused before it appended anything is simply listed and the batch goes on. A
    record refused after it appended (its changes are in the batch) undoes the batch, which is
    narrowed to: the records before it (as one batch again), that record, then the rest; a
    batch undone by its closing checks (record unknown) is narrowed to each half. Every record
    is thus judged on the state its accepted predecessors left, as one by one, a run of good
    records costs one batch, and recursion stays shallow (halves and prefixes).

    Returns the refused records and whether the run went through without any undo.
    """
    errors: list[LineError] = []
    clean = True
    pending = records
    while pending:
        refused, undone_at, error = _try_batch(session, unit, ctx, pending, handle)
        if error is None:
            errors += refused
            break
        clean = False
        if len(pending) == 1:
            errors.append(_line_error(pending[0][0], error))
            break
        if undone_at is None:
            half = len(pending) // 2
            errors += _import_run(session, unit, ctx, pending[:half], handle)[0]
            pending = pending[half:]
            continue
        prefix_clean = True
        if undone_at > 0:
            prefix, prefix_clean = _import_run(session, unit, ctx, pending[:undone_at], handle)
            errors += prefix
        line, record = pending[undone_at]
        if prefix_clean and isinstance(error, SampleLoansError):
            # its predecessors left exactly the state it was refused on: the same refusal
            errors.append(_line_error(line, error))
        else:
            errors += _import_run(session, unit, ctx, [(line, record)], handle)[0]
        pending = pending[undone_at + 1 :]
    return errors, clean


def _try_batch(
    session: Session, unit: Unit, ctx: Context, records: Records, handle: Handle
) -> tuple[list[LineError], int | None, BaseException | None]:
    """Import records through the batch unit and check them, or undo all of them.

    Returns (the records refused without a change, None, None) when the batch is written, else
    ([], the index of the record that undid it or None for the closing checks, the error).
    """
    savepoint = session.begin_nested()
    session.connection()  # emits the SAVEPOINT now: the unit writes on this connection
    # the chain head, read (and the ledger checked, `ledger/guard.py`) before any record: a
    # ledger changed by hand refuses the whole import, not each line
    head, totals = unit.link(), dict(unit.mission_root_ug)
    if getattr(handle, "func", None) is _register_row:  # one query for the batch's codes
        codes = (row.get("code") for _line, row in records if not isinstance(row, Exception))
        unit.prefetch(Sample, (code.strip() for code in codes if isinstance(code, str)))
    else:  # the loans and samples the lines name: one query per table, not a read per line
        numbers, samples = _named_keys(records)
        unit.prefetch_items(samples)  # first: it reads the items of samples it does not hold
        unit.prefetch(Loan, numbers)
        unit.prefetch(Sample, samples)
    refused: list[LineError] = []
    done = 0
    try:
        for line, record in records:
            before = unit.head
            try:
                handle(session, ctx, record)
            except SampleLoansError as error:
                if unit.head != before:
                    raise  # refused after it appended: its changes are in the batch
                refused.append(_line_error(line, error))  # services write only by appending
            done += 1
        unit.end_batch()
    except REFUSALS as error:
        savepoint.rollback()
        unit.reset(head, totals)  # rows it holds may carry the undone changes
        return [], (done if done < len(records) else None), error
    savepoint.commit()
    return refused, None, None


def _named_keys(records: Records) -> tuple[set[str], set[str]]:
    """The loan numbers and sample codes a batch of history lines names, as written (a key
    with no row is then known free: a line naming another spelling reads its own key)."""
    numbers: set[str] = set()
    samples: set[str] = set()
    for _line, record in records:
        payload = record.get("payload") if isinstance(record, dict) else None
        if isinstance(payload, dict):
            number, sample = payload.get("number"), payload.get("sample")
            if isinstance(number, str):
                numbers.add(number)
            if isinstance(sample, str):
                samples.add(sample)
    return numbers, samples


def _line_error(line: int, error: BaseException) -> LineError:
    """A refused record's line, its reason on one line, and the exit code it calls for."""
    if isinstance(error, SampleLoansError):
        return LineError(line, str(error).replace("\n", " "), error.exit_code)
    # a schema constraint the rules did not catch first: the record conflicts with a stored one
    reason = str(getattr(error, "orig", error)).replace("\n", " ")
    return LineError(line, f"conflicts with a record in the ledger ({reason})", 2)


def _import_per_record(
    session: Session,
    ctx: Context,
    lines: Iterable[str],
    fmt: str,
    source: str,
    progress: Callable[[int], None] | None,
    batch: int = 500,
) -> BulkResult:
    """The reference path, record by record through the ORM session, each in its own SAVEPOINT.

    Not used by the import: tests compare what the batched path writes and refuses with it.
    """
    records, handle = _reader(lines, fmt, source)
    result = BulkResult(format=fmt)
    for line, record in records:
        result.records += 1
        try:
            with session.begin_nested():
                handle(session, ctx, record)
            result.events += 1
        except REFUSALS as error:
            result.errors.append(_line_error(line, error))
        if result.records % batch == 0:
            session.expunge_all()  # bounded memory: rows are in the database, not in Python
        if progress is not None:
            progress(result.records)
    if result.errors:
        raise BulkRejected(result.errors, result.records)
    return result
