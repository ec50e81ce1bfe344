"""A new ledger: its identity, the real reference data shipped in `data/`, and a first curator."""

import csv
import io
import uuid
from dataclasses import dataclass
from datetime import datetime
from importlib import resources

from sqlmodel import Session

from sampleloans import __version__
from sampleloans.dates import parse_datetime
from sampleloans.errors import Conflict, InvalidInput
from sampleloans.ledger import events as ev
from sampleloans.ledger.envelope import Context, Envelope
from sampleloans.models import LedgerEvent, LedgerMeta, Mission
from sampleloans.services.common import append, require_email, require_name
from sampleloans.services.reference import add_person
from sampleloans.services.samples import register_sample
from sampleloans.units import parse_depth_mm, parse_mass_ug
from sampleloans.vocab import InstitutionKind


@dataclass(frozen=True)
class Row:
    """One CSV record with its line number, for error messages that point at the file."""

    source: str
    line: int
    values: dict[str, str]

    def get(self, key: str) -> str:
        """A stripped value ('' when empty)."""
        return (self.values.get(key) or "").strip()


def read_rows(name: str) -> list[Row]:
    """Rows of a CSV shipped in the package's data folder ('samples.csv', 'demo/samples.csv')."""
    folder = resources.files("sampleloans.data")
    text = folder.joinpath(*name.split("/")).read_text(encoding="utf-8")
    reader = csv.DictReader(io.StringIO(text))
    return [Row(name, index + 2, dict(values)) for index, values in enumerate(reader)]


def cm_to_mm(text: str, row: Row, column: str = "depth") -> int | None:
    """A depth in whole or decimal centimetres (one decimal at most) as integer millimetres."""
    if not text:
        return None
    return parse_depth_mm(text, f"{row.source} line {row.line}: {column}")


def register_sample_rows(
    session: Session, ctx: Context, rows: list[Row], *, at_mission_return: bool = False
) -> int:
    """Register every sample of a data file; returns how many.

    With `at_mission_return` each sample is registered as of its mission's return (the
    reference samples: the earliest moment they were in the curator's custody), so events
    about them can be entered `--at` any later date.
    """
    for row in rows:
        register_sample(
            session,
            ctx,
            code=row.get("code"),
            mission=row.get("mission"),
            mass_ug=parse_mass_ug(row.get("mass"), f"{row.source} line {row.line}: mass"),
            origin=row.get("origin"),
            material_type=row.get("material_type"),
            physical_form=row.get("physical_form"),
            purpose_class=row.get("purpose_class"),
            storage_location=row.get("storage_location"),
            condition=row.get("condition") or "pristine",
            depth_top_mm=cm_to_mm(row.get("depth_top_cm"), row, "depth_top_cm"),
            depth_bottom_mm=cm_to_mm(row.get("depth_bottom_cm"), row, "depth_bottom_cm"),
            record=row.get("record") or "illustrative",
            occurred_at=_mission_return(session, ctx, row) if at_mission_return else None,
        )
    return len(rows)


def _mission_return(session: Session, ctx: Context, row: Row) -> datetime | None:
    """When the mission of a sample row returned; None (now) when unknown or still to come."""
    mission = session.get(Mission, row.get("mission"))
    return None if mission is None else _real_date(mission.returned_at, ctx)


def _real_date(moment: datetime | None, ctx: Context) -> datetime | None:
    """A record's real date, or None (the clock) when there is none or the clock is earlier."""
    return moment if moment is not None and moment <= ctx.now else None


def add_people_rows(session: Session, ctx: Context, rows: list[Row]) -> int:
    """Register every person of a data file; returns how many."""
    for row in rows:
        if row.get("email") == ctx.actor:
            continue  # the acting curator is already registered
        add_person(
            session,
            ctx,
            email=row.get("email"),
            name=row.get("name"),
            institution=row.get("institution"),
            role=row.get("role"),
        )
    return len(rows)


def init_ledger(
    session: Session,
    ctx: Context,
    *,
    curator_name: str,
    curator_institution: str = "NAOC",
    ledger_id: str | None = None,
    occurred_at: datetime | None = None,
) -> Envelope:
    """Start a new ledger with the reference data and `ctx.actor` as its first curator.

    The reference records carry their real dates, not the clock's: each mission its return,
    each reference sample its mission's return; the ledger itself, the institutions and the
    first curator date from `occurred_at` (`init --at`; default now). So the 2025 round can be
    entered in 2026 with its own dates.

    Only a new, empty database may be initialised: the reference records are appended without
    a role check because nobody is registered yet to authorise them.
    """
    if session.get(LedgerMeta, "ledger_id") is not None or session.get(LedgerEvent, 1) is not None:
        raise Conflict("this database already holds a ledger; it is never initialised twice")
    identity = ledger_id or str(uuid.uuid4())
    session.add(LedgerMeta(key="ledger_id", value=identity))
    session.flush()
    append(
        session,
        ctx,
        ev.LedgerCreated(ledger_id=identity, software=f"sampleloans {__version__}"),
        occurred_at=occurred_at,
    )
    for row in read_rows("missions.csv"):
        _add_mission_row(session, ctx, row)
    curating = sorted(
        row.get("short_name")
        for row in read_rows("institutions.csv")
        if row.get("kind") == InstitutionKind.CURATOR
    )
    if curator_institution not in curating:  # checked before anything is appended
        raise InvalidInput(
            f"--institution: {curator_institution} is not a curating institution; the first "
            f"curator works at one of {', '.join(curating)}"
        )
    for row in read_rows("institutions.csv"):
        append(
            session,
            ctx,
            ev.InstitutionAdded(
                short_name=row.get("short_name"),
                name=row.get("name"),
                country=row.get("country"),
                city=row.get("city"),
                institution_kind=row.get("kind"),
            ),
            occurred_at=occurred_at,
        )
    last = append(
        session,
        ctx,
        ev.PersonAdded(
            email=require_email(ctx.actor, "curator e-mail"),
            name=require_name(curator_name, "curator name"),
            institution=curator_institution,
            role="curator",
        ),
        occurred_at=occurred_at,
    )
    register_sample_rows(session, ctx, read_rows("samples.csv"), at_mission_return=True)
    return last


def _add_mission_row(session: Session, ctx: Context, row: Row) -> None:
    """A mission of the data file, recorded as of its return (when its samples came to be)."""
    returned = parse_datetime(row.get("returned_at")) if row.get("returned_at") else None
    append(
        session,
        ctx,
        ev.MissionAdded(
            code=row.get("code"),
            name=row.get("name"),
            returned_at=row.get("returned_at") if returned else None,
            returned_mass_ug=parse_mass_ug(row.get("returned_mass"))
            if row.get("returned_mass")
            else None,
        ),
        occurred_at=_real_date(returned, ctx),
    )


def ledger_created_at(session: Session) -> datetime | None:
    """When the ledger was created (the first event's time)."""
    first = session.get(LedgerEvent, 1)
    return (
        None if first is None else datetime.fromisoformat(first.occurred_at.replace("Z", "+00:00"))
    )
