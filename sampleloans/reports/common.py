"""What the four report builders share: formatting, the header facts, metadata and rendering."""

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sampleloans.dates import format_datetime, to_iso
from sampleloans.readmodels.report import Overdue, Party, Report
from sampleloans.reports import layout
from sampleloans.units import format_mass

METADATA_VERSION = 1


def mass(ug: int | None) -> str:
    """A mass as printed ('20.000 mg'), or a dash."""
    return "—" if ug is None else format_mass(ug)


def when(moment: datetime | None) -> str:
    """A time as printed ('2025-04-24 10:00 UTC'), or a dash."""
    return "—" if moment is None else format_datetime(moment)


def day(moment: datetime | None) -> str:
    """A date alone as printed ('2025-04-24'), or a dash."""
    return "—" if moment is None else format_datetime(moment)[:10]


def readable(state: str) -> str:
    """A state or status in words ('return_in_transit' → 'return in transit')."""
    return state.replace("_", " ")


def overdue_text(late: Overdue) -> str:
    """The header line of a return past due: 'OVERDUE since 2026-04-25, 3 days'."""
    days = f"{late.days_late} day" + ("" if late.days_late == 1 else "s")
    return f"OVERDUE since {when(late.due_at)}, {days}: loan {late.loan} was due back"


def report_number(report: Report) -> str:
    """A stable report number: kind, head seq and the first digest digits."""
    prefix = {"custody": "CR", "return": "RR", "overdue": "ON", "inventory": "IS"}
    return f"{prefix[report.request.kind]}-{report.head_seq}-{report.digest[:8].upper()}"


def metadata(report: Report) -> dict[str, Any]:
    """What the QR code and the PDF Keywords carry, and verify-document reads back."""
    request = report.request
    data: dict[str, Any] = {
        "app": "sampleloans",
        "v": METADATA_VERSION,
        "kind": request.kind,
        "scope": request.scope,
        "head": report.head,
        "digest": report.digest,
        "generated_at": to_iso(report.generated_at),
    }
    if request.as_of:
        data["as_of"] = request.as_of
    return data


def compact(data: dict[str, Any]) -> str:
    """Sorted-key compact JSON."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def header_lines(report: Report) -> list[tuple[str, str]]:
    """Report number, scope, generation time and the ledger head, as on the first page."""
    lines = [
        ("Report number", report_number(report)),
        ("Scope", report.scope_label),
        ("Generated at", when(report.generated_at)),
        ("Ledger head", report.head),
        ("Content digest", report.digest),
    ]
    return lines


def title_block(report: Report, overdue: tuple[Overdue, ...] = ()) -> list[Any]:
    """The first page's title and header facts, each return past due flagged below them."""
    lines = header_lines(report)
    flags = [("Return overdue", overdue_text(late)) for late in overdue]
    marked = range(len(lines), len(lines) + len(flags))
    return layout.title_block(report.title, [*lines, *flags], marked)


def party_lines(parties: tuple[Party, ...]) -> list[tuple[str, str]]:
    """Parties as labelled lines."""
    return [(p.role, f"{p.name}" + (f" — {p.detail}" if p.detail else "")) for p in parties]


def render(report: Report, story_of: Callable[[Report], list[Any]]) -> bytes:
    """Lay out a report's story into PDF bytes with its header, footer, QR and metadata."""
    meta = metadata(report)
    with layout.gc_paused():
        return _render(report, story_of, meta)


def _render(report: Report, story_of: Callable[[Report], list[Any]], meta: dict[str, Any]) -> bytes:
    """`render` once the metadata is known."""
    return layout.build_pdf(
        story_of(report),
        title=report.title,
        doc_title=f"{report.title}: {report.scope_label}",
        scope=report.scope_label,
        head=report.head,
        digest=report.digest,
        generated_at=when(report.generated_at),
        created_at=report.generated_at,
        subject=f"{report.title}, {report.scope_label}, ledger head {report.head}",
        keywords=compact(meta),
        qr_payload=compact(meta),
    )
