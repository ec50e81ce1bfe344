"""The bulk path: a sample catalogue (CSV) or a history (JSON Lines), all or nothing.

Every record goes through the same service function as the single command, so every rule
applies. Each record runs inside a SAVEPOINT: a refused record is rolled back alone, its line
number and message are collected, and the import goes on so that *every* bad row is reported.
When anything was refused, `import_records` raises `BulkRejected` and the caller's transaction
rolls back: nothing is written. Input is streamed one line at a time and the session's identity
map is cleared every `batch` records, so memory does not grow with the file.

History format: one JSON object per line,
`{"kind": "loan.consumed", "occurred_at": "2025-05-01T10:00:00Z", "actor": "curator@…",
  "payload": {...}, "reason": null, "corrects_seq": null}` with the event kinds and payload fields
of `ledger/events.py`. Fields the ledger derives (a loan's issued items, a receipt's shipment,
a sample's custodian, …) may be left out; when given they must equal what the ledger records.
Sequence numbers (`incident_seq`, `shipment_seq`, `corrects_seq`) are those of the receiving
ledger.
"""

import csv
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from sampleloans import db
from sampleloans.dates import parse_datetime
from sampleloans.errors import InvalidInput, RuleViolation, SampleLoansError
from sampleloans.ledger.batch import BatchSession
from sampleloans.ledger.events import EVENT_TYPES
from sampleloans.ledger.store import Context, Envelope
from sampleloans.services import agreements, incidents, loans, reference, samples
from sampleloans.services.common import get_loan, require_role
from sampleloans.services.setup import Row, cm_to_mm
from sampleloans.units import parse_mass_ug

FORMATS = ("csv", "jsonl")
CATALOGUE_COLUMNS = ("code", "mission", "origin", "material_type", "physical_form", "mass")
ENVELOPE_KEYS = {"kind", "occurred_at", "actor", "payload", "reason", "corrects_seq"}
REASON_KINDS = (
    "agreement.ended",
    "loan.extended",
    "loan.recalled",
    "person.deactivated",
    "person.reactivated",
    "person.role_changed",
)
"""The kinds whose command takes a reason (stored in the envelope, not the payload)."""


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
            f"{len(self.errors)} of {total} records refused; nothing was imported "
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
        f"file: {name!r} is neither a sample catalogue (.csv) nor a history (.jsonl)"
    )


# --- reading records ----------------------------------------------------------------------------


def _csv_records(lines: Iterable[str], source: str) -> Iterator[tuple[int, Any]]:
    """(line number, Row) per CSV record; the header is checked first."""
    reader = csv.DictReader(lines)
    missing = [c for c in CATALOGUE_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise InvalidInput(
            f"{source}: the header lacks {', '.join(missing)}; see data/README.md for the columns"
        )
    start = reader.line_num + 1
    for values in reader:
        yield start, Row(source, start, dict(values))
        start = reader.line_num + 1


def _jsonl_records(lines: Iterable[str], source: str) -> Iterator[tuple[int, Any]]:
    """(line number, parsed object or the parse error) per non-blank line."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, InvalidInput(f"not valid JSON ({exc.msg} at column {exc.colno})")


# --- the catalogue ------------------------------------------------------------------------------


def _register_row(session: Session, ctx: Context, row: Row) -> Envelope:
    """One catalogue row through `register_sample`, exactly as `init` reads data/samples.csv."""
    return samples.register_sample(
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
        depth_top_mm=cm_to_mm(row.get("depth_top_cm"), row),
        depth_bottom_mm=cm_to_mm(row.get("depth_bottom_cm"), row),
        record=row.get("record") or "illustrative",
    )


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
    args = {"seal_intact": bool(p["seal_intact"]), "condition": p["condition"], **kw}
    # only the outbound shipment makes a loan `in_transit`; a return may travel while the
    # borrower still holds other samples (the loan stays `received`)
    if get_loan(s, p["number"]).status == "in_transit":
        return loans.receive_loan(s, c, number=p["number"], weighed_ug=weighed or None, **args)
    return loans.accept_return(s, c, number=p["number"], weighed_ug=weighed, **args)


def _shipped(s: Session, c: Context, p: dict[str, Any], kw: dict[str, Any]) -> Envelope:
    """A shipment: outbound (`loans ship`) or the return trip (`loans return`)."""
    args = {
        "number": p["number"],
        "container": p["container"],
        "seal_number": p["seal_number"],
        "method": p.get("method", "courier"),
        **kw,
    }
    if p.get("direction", "outbound") == "return":
        return loans.release_return(s, c, samples=p.get("samples"), **args)
    if p.get("direction", "outbound") != "outbound":
        raise InvalidInput(f"direction: {p.get('direction')!r} is not outbound or return")
    return loans.ship_loan(s, c, **args)


def _pick(p: dict[str, Any], *names: str) -> dict[str, Any]:
    """The named payload fields that are present."""
    return {name: p[name] for name in names if name in p}


HANDLERS: dict[str, Handler] = {
    "mission.added": lambda s, c, p, kw: reference.add_mission(
        s,
        c,
        code=p["code"],
        name=p["name"],
        returned_at=_when(p["returned_at"], "returned_at") if p.get("returned_at") else None,
        returned_mass_ug=p.get("returned_mass_ug"),
        **kw,
    ),
    "institution.added": lambda s, c, p, kw: reference.add_institution(
        s,
        c,
        short_name=p["short_name"],
        name=p["name"],
        country=p["country"],
        city=p["city"],
        kind=p["institution_kind"],
        **kw,
    ),
    "person.added": lambda s, c, p, kw: reference.add_person(
        s, c, email=p["email"], name=p["name"], institution=p["institution"], role=p["role"], **kw
    ),
    "person.deactivated": lambda s, c, p, kw: reference.deactivate_person(
        s, c, email=p["email"], reason=kw.pop("reason", None) or "", **kw
    ),
    "person.reactivated": lambda s, c, p, kw: reference.reactivate_person(
        s, c, email=p["email"], reason=kw.pop("reason", None) or "", **kw
    ),
    "person.role_changed": lambda s, c, p, kw: reference.change_role(
        s, c, email=p["email"], role=p["role"], reason=kw.pop("reason", None) or "", **kw
    ),
    "sample.registered": lambda s, c, p, kw: samples.register_sample(
        s,
        c,
        **_pick(
            p,
            "code",
            "mission",
            "origin",
            "depth_top_mm",
            "depth_bottom_mm",
            "material_type",
            "physical_form",
            "purpose_class",
            "storage_location",
            "condition",
            "record",
        ),
        mass_ug=int(p["mass_ug"]),
        **kw,
    ),
    "sample.split": lambda s, c, p, kw: samples.split_sample(
        s,
        c,
        parent=p["parent"],
        children=_pairs(p["children"], "children"),
        loss_ug=int(p.get("loss_ug", 0)),
        **kw,
    ),
    "sample.moved": lambda s, c, p, kw: samples.move_sample(
        s, c, code=p["code"], storage_location=p["storage_location"], **kw
    ),
    "agreement.created": lambda s, c, p, kw: agreements.create_agreement(
        s,
        c,
        **_pick(
            p,
            "number",
            "institution",
            "term",
            "allowed_purposes",
            "max_loan_period",
            "destructive_use_allowed",
            "onward_transfer_allowed",
            "max_extensions",
            "max_extension_period",
            "inventory_interval",
        ),
        max_total_mass_ug=int(p["max_total_mass_ug"]),
        **kw,
    ),
    "agreement.signed": lambda s, c, p, kw: agreements.sign_agreement(
        s, c, number=p["number"], signed_by=p["signed_by"], **kw
    ),
    "agreement.ended": lambda s, c, p, kw: agreements.end_agreement(
        s, c, number=p["number"], status=p["status"], reason=kw.pop("reason", None) or "", **kw
    ),
    "loan.requested": lambda s, c, p, kw: loans.request_loan(
        s,
        c,
        **_pick(p, "number", "agreement", "pi", "samples", "purpose_class", "transfer_type"),
        loan_period=p.get("loan_period"),
        **kw,
    ),
    "loan.approved": lambda s, c, p, kw: loans.approve_loan(s, c, number=p["number"], **kw),
    "loan.issued": lambda s, c, p, kw: loans.issue_loan(s, c, number=p["number"], **kw),
    "loan.shipped": _shipped,
    "loan.received": _received,
    "loan.consumed": lambda s, c, p, kw: loans.consume(
        s,
        c,
        number=p["number"],
        sample=p["sample"],
        technique=p["technique"],
        mass_ug=int(p["mass_ug"]),
        destructive=bool(p["destructive"]),
        **kw,
    ),
    "loan.split": lambda s, c, p, kw: loans.borrower_split(
        s,
        c,
        number=p["number"],
        sample=p["parent"],
        child=p["child"],
        mass_ug=int(p["mass_ug"]),
        **kw,
    ),
    "loan.extended": lambda s, c, p, kw: loans.extend_loan(
        s,
        c,
        number=p["number"],
        period=p["period"],
        approver=p["approver"],
        reason=kw.pop("reason", None) or "",
        **kw,
    ),
    "loan.recalled": lambda s, c, p, kw: loans.recall_loan(
        s,
        c,
        number=p["number"],
        due_at=_when(p["due_at"], "due_at"),
        reason=kw.pop("reason", None) or "",
        **kw,
    ),
    "loan.inventory": lambda s, c, p, kw: loans.attest_inventory(
        s, c, number=p["number"], note=p.get("note"), **kw
    ),
    "loan.settled": lambda s, c, p, kw: loans.settle_loan(
        s, c, number=p["number"], obligations=p["obligations"], **kw
    ),
    "loan.closed": lambda s, c, p, kw: loans.close_loan(s, c, number=p["number"], **kw),
    "incident.reported": lambda s, c, p, kw: incidents.report_incident(
        s,
        c,
        sample=p["sample"],
        kind=p["incident_kind"],
        description=p["description"],
        mass_lost_ug=int(p.get("mass_lost_ug", 0)),
        **kw,
    ),
    "incident.resolved": lambda s, c, p, kw: incidents.resolve_incident(
        s, c, incident_seq=int(p["incident_seq"]), resolution=p["resolution"], **kw
    ),
    "event.corrected": lambda s, c, p, kw: incidents.record_correction(
        s, c, corrects_seq=int(kw.pop("corrects_seq", None) or 0), text=p["text"], **kw
    ),
}
"""Event kind → the service call the single command makes, with the payload as arguments."""


def _history_record(session: Session, ctx: Context, record: Any) -> Envelope:
    """One history line through its service; the stored payload must match what was given."""
    if isinstance(record, SampleLoansError):
        raise record
    if not isinstance(record, dict):
        raise InvalidInput("each line must be a JSON object with kind, actor and payload")
    unknown = sorted(set(record) - ENVELOPE_KEYS)
    if unknown:
        raise InvalidInput(
            f"unknown field {unknown[0]!r}; fields are {', '.join(sorted(ENVELOPE_KEYS))}"
        )
    kind = record.get("kind")
    if kind not in HANDLERS:
        known = ", ".join(sorted(HANDLERS))
        raise InvalidInput(f"kind: {kind!r} cannot be imported; use one of {known}")
    payload = record.get("payload")
    if not isinstance(payload, dict):
        raise InvalidInput("payload: must be a JSON object")
    fields = set(EVENT_TYPES[kind].__dataclass_fields__)
    extra = sorted(set(payload) - fields)
    if extra:
        raise InvalidInput(f"payload: {kind} has no field {extra[0]!r}")
    actor = record.get("actor")
    if not isinstance(actor, str) or not actor.strip():
        raise InvalidInput("actor: give the e-mail of the person who acted")
    occurred = record.get("occurred_at")
    options: dict[str, Any] = {"occurred_at": _when(occurred, "occurred_at") if occurred else None}
    if record.get("reason") is not None:
        options["reason"] = str(record["reason"])
    if record.get("corrects_seq") is not None:
        if kind != "event.corrected":
            raise InvalidInput("corrects_seq: only an event.corrected record references another")
        options["corrects_seq"] = record["corrects_seq"]
    if "reason" in options and kind not in REASON_KINDS:
        raise InvalidInput(f"reason: {kind} does not take a reason")
    record_ctx = Context(actor=actor.strip().lower(), os_user=ctx.os_user, now=ctx.now)
    try:
        envelope = HANDLERS[kind](session, record_ctx, payload, options)
    except KeyError as exc:
        raise InvalidInput(f"payload: {kind} needs the field {exc.args[0]!r}") from None
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"payload: {exc}") from None
    _same_as_stored(envelope, payload)
    return envelope


def _same_as_stored(envelope: Envelope, given: dict[str, Any]) -> None:
    """Every field the record gave must be what the ledger recorded (derived ones included)."""
    stored = json.loads(envelope.payload or "{}")
    for name in sorted(given):
        value = given[name]  # read from JSON, so equal values compare equal without encoding
        if value != stored.get(name) and json.loads(json.dumps(value)) != stored.get(name):
            raise InvalidInput(
                f"payload: {name} is {given[name]!r} but the ledger records {stored.get(name)!r}"
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
) -> BulkResult:
    """Import every record of a catalogue or history; raise BulkRejected if any is refused.

    The caller owns the transaction: on BulkRejected (or any error) it must roll back, which
    leaves the database exactly as it was. `lines` must be re-readable (a list or a seekable
    file): a refused record sends the import down the per-record path to name every bad line.
    """
    if fmt not in FORMATS:
        raise InvalidInput(f"format: {fmt!r} is not one of {', '.join(FORMATS)}")
    require_importer(session, ctx)
    if not (hasattr(lines, "seek") or isinstance(lines, list | tuple)):
        # a one-shot iterator would give the second pass no lines, and an empty import commits
        raise TypeError("import_records needs re-readable lines: a list or a seekable file")
    attempt = session.begin_nested()
    try:
        result = _import_batched(session, ctx, lines, fmt, source, progress, batch)
    except (SampleLoansError, IntegrityError):
        # the batched pass cannot say which line broke a rule: undo it and find every bad line
        attempt.rollback()
        session.expunge_all()
        return _import_per_record(session, ctx, _rewound(lines), fmt, source, progress)
    attempt.commit()
    return result


def _reader(lines: Iterable[str], fmt: str, source: str) -> tuple[Iterator[tuple[int, Any]], Any]:
    """The records of a file and the function that imports one record."""
    if fmt == "csv":
        return _csv_records(lines, source), _register_row
    return _jsonl_records(lines, source), _history_record


def _import_batched(
    session: Session,
    ctx: Context,
    lines: Iterable[str],
    fmt: str,
    source: str,
    progress: Callable[[int], None] | None,
    batch: int,
) -> BulkResult:
    """The fast pass: records through their services into a write-back batch session.

    The same services and the same checks run, but rows are written once per batch and the
    invariant checks run on everything the batch touched; the first refusal aborts the pass.
    """
    records, handle = _reader(lines, fmt, source)
    result = BulkResult(format=fmt)
    connection = session.connection()
    db.use_bulk_cache(connection)
    unit = BatchSession(connection, defer_checks=True)
    for _line, record in records:
        result.records += 1
        handle(unit, ctx, record)
        result.events += 1
        if result.records % batch == 0:
            _end_batch(unit)
        if progress is not None:
            progress(result.records)
    _end_batch(unit)
    return result


def _end_batch(unit: BatchSession) -> None:
    """Check every record the batch touched, then write the batch and forget it."""
    violations = unit.check_deferred()
    if violations:
        raise RuleViolation("; ".join(v.message for v in violations))
    unit.release()


def _rewound(lines: Iterable[str]) -> Iterable[str]:
    """The same lines from the start again: a seekable file is rewound, a list read again."""
    seek = getattr(lines, "seek", None)
    if seek is not None:
        seek(0)
    return lines


def _import_per_record(
    session: Session,
    ctx: Context,
    lines: Iterable[str],
    fmt: str,
    source: str,
    progress: Callable[[int], None] | None,
    batch: int = 500,
) -> BulkResult:
    """The diagnostic pass: each record in its own SAVEPOINT, every refusal collected."""
    records, handle = _reader(lines, fmt, source)
    result = BulkResult(format=fmt)
    for line, record in records:
        result.records += 1
        try:
            with session.begin_nested():
                handle(session, ctx, record)
            result.events += 1
        except SampleLoansError as error:
            message = str(error).replace("\n", " ")
            result.errors.append(LineError(line, message, error.exit_code))
        if result.records % batch == 0:
            session.expunge_all()  # bounded memory: rows are in the database, not in Python
        if progress is not None:
            progress(result.records)
    if result.errors:
        raise BulkRejected(result.errors, result.records)
    return result
