"""What the four report builders share: formatting, the header facts, metadata and rendering."""

import json
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from sampleloans.dates import format_datetime, to_iso
from sampleloans.gcpause import gc_paused
from sampleloans.readmodels.items import state_words
from sampleloans.readmodels.report import (
    COUNTED_EVENTS_LAYOUT,
    EVERY_REPORT_FLAGS_INVENTORY_LAYOUT,
    FITTED_CELLS_LAYOUT,
    FITTED_HEAD_LAYOUT,
    FRAMED_TABLES_LAYOUT,
    GROUPED_MASS_LAYOUT,
    INVENTORY_FLAG_LAYOUT,
    OTHER_SCRIPTS_LAYOUT,
    SPLIT_APART_LAYOUT,
    WHOLE_FIGURES_LAYOUT,
    WORDED_LAYOUT,
    InventoryBody,
    ItemRow,
    Overdue,
    OverdueBody,
    Party,
    Recall,
    Report,
    Words,
    checkpoint_document,
    flag_in,
    words_in,
)
from sampleloans.reports import layout, tables
from sampleloans.text import counted
from sampleloans.units import format_mass, masses_grouped
from sampleloans.vocab import ItemState

CHECKPOINT_FILE = "report-checkpoint.json"
CHECKPOINT_MIME = "application#2Fjson"  # a PDF name: '/' is written #2F


def mass(ug: int | None) -> str:
    """A mass as printed ('20.000 mg'), or a dash."""
    return "—" if ug is None else format_mass(ug)


def returning_ug(items: Iterable[Any]) -> int:
    """The part of a loan's held mass on its way back (its items in a return in transit): the
    rule of `status` (`services.standing`), for the renderers."""
    return sum(i.held_ug for i in items if i.state == ItemState.RETURN_IN_TRANSIT)


def held_note(returning: int) -> str:
    """What a "Total held" row says of the part on its way back, in `status`'s words."""
    return f"{format_mass(returning)} of it on its way back" if returning else ""


def when(moment: datetime | None) -> str:
    """A time as printed ('2025-04-24 10:00 UTC'), or a dash."""
    return "—" if moment is None else format_datetime(moment)


def day(moment: datetime | None) -> str:
    """A date alone as printed ('2025-04-24'), or a dash."""
    return "—" if moment is None else format_datetime(moment)[:10]


def readable(state: str) -> str:
    """A state or status in words ('return_in_transit' → 'return in transit')."""
    return state.replace("_", " ")


def item_state(item: ItemRow, page_layout: int) -> str:
    """A loan item's state in words: from layout 8 on, "held (frozen)" while an open incident
    freezes its sample (from layout 17 on, only while it is on this loan), as every view says
    it (before: the state alone)."""
    frozen = flag_in(item.frozen, page_layout) and page_layout >= SPLIT_APART_LAYOUT
    return state_words(item.state, frozen)


def overdue_text(late: Overdue) -> str:
    """The header line of a return past due: 'OVERDUE since 2026-04-25, 3 days'."""
    days = counted(late.days_late, "day")
    return f"OVERDUE since {when(late.due_at)}, {days}: loan {late.loan} was due back"


def inventory_overdue_text(late: Overdue) -> str:
    """The header line of an inventory attestation past due, worded as a return's is."""
    days = f"{late.days_late} day" + ("" if late.days_late == 1 else "s")
    return (
        f"OVERDUE since {when(late.due_at)}, {days}: the inventory of loan {late.loan} was due "
        "to be attested"
    )


def report_number(report: Report) -> str:
    """A stable report number: kind, head seq and the first digest digits."""
    prefix = {"custody": "CR", "return": "RR", "overdue": "ON", "inventory": "IS"}
    return f"{prefix[report.request.kind]}-{report.head_seq}-{report.digest[:8].upper()}"


def metadata(report: Report) -> dict[str, Any]:
    """What the QR code and the PDF Keywords carry, and verify-document reads back."""
    request = report.request
    data: dict[str, Any] = {
        "app": "sampleloans",
        "v": report.layout,
        "kind": request.kind,
        "scope": request.scope,
        "head": report.head,
        "digest": report.digest,
        "generated_at": to_iso(report.generated_at),
    }
    if request.as_of:
        data["as_of"] = request.as_of
    if request.audience:  # layout 9 on: printed for the borrower (re-rendered for them)
        data["for"] = request.audience
    if report.checkpoint is not None:
        data["checkpoint"] = report.checkpoint.id
    return data


def events_in(count: int, agreeing: bool) -> str:
    """'1 event', '28 events'; not `agreeing`: as layouts before counts agreed printed it, '1
    events' (a file they printed re-renders byte for byte)."""
    return counted(count, "event") if agreeing else f"{count} events"


def checkpoint_lines(report: Report) -> list[tuple[str, str]]:
    """The signed checkpoint the report is built on, or a plain word that none covers it yet."""
    checkpoint = report.checkpoint
    if report.layout < 2:
        return []  # printed before signed checkpoints existed
    if checkpoint is None:
        return [
            (
                "Signed checkpoint",
                f"none yet: the ledger has no signed checkpoint covering event {report.head_seq}; "
                "the lender makes one with 'sampleloans checkpoint' and prints the report again",
            )
        ]
    return [
        (
            "Signed checkpoint",
            f"{events_in(checkpoint.tree_size, report.layout >= COUNTED_EVENTS_LAYOUT)}, signed by "
            f"{checkpoint.signed_by or '—'}; the head "
            f"event's inclusion proof is embedded ({CHECKPOINT_FILE})",
        ),
        ("Checkpoint root", checkpoint.root_hash),
    ]


def checkpoint_json(report: Report) -> bytes | None:
    """The embedded checkpoint file: sorted-key JSON, UTF-8, one trailing newline (or None)."""
    document = checkpoint_document(report)
    if document is None:
        return None
    text = json.dumps(document, sort_keys=True, indent=1, ensure_ascii=False)
    return (text + "\n").encode("utf-8")


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
        *checkpoint_lines(report),
    ]
    return lines


def late_inventories(report: Report) -> tuple[Overdue, ...]:
    """The inventory attestations past due a report's header flags in its layout: the inventory
    report's from layout 10 on, the custody and return reports' from 11 (before: none; the
    overdue notice lists them in its table)."""
    body = report.body
    if isinstance(body, OverdueBody):
        return ()
    first = (
        INVENTORY_FLAG_LAYOUT
        if isinstance(body, InventoryBody)
        else EVERY_REPORT_FLAGS_INVENTORY_LAYOUT
    )
    return body.inventory_overdue if report.layout >= first else ()


def title_block(
    report: Report,
    overdue: tuple[Overdue, ...] = (),
    inventory_overdue: tuple[Overdue, ...] = (),
) -> list[Any]:
    """The first page's title and header facts, each return (and inventory attestation) past
    due flagged below them."""
    lines = header_lines(report)
    flags = [("Return overdue", overdue_text(late)) for late in overdue]
    flags += [("Inventory overdue", inventory_overdue_text(late)) for late in inventory_overdue]
    marked = range(len(lines), len(lines) + len(flags))
    return layout.title_block(report.title, [*lines, *flags], marked)


def party_lines(parties: tuple[Party, ...], layout: int) -> list[tuple[str, str]]:
    """Parties as labelled lines, in the words of `layout`."""
    return [(words_in(p.role, layout), _party_text(p, layout)) for p in parties]


def _party_text(party: Party, layout: int) -> str:
    """A party's name, then its detail after a dash when it has one."""
    name, detail = words_in(party.name, layout), words_in(party.detail, layout)
    return f"{name} — {detail}" if detail else name


def terms_lines(terms: Iterable[tuple[str, Words]], layout: int) -> list[tuple[str, str]]:
    """Labelled lines (an agreement's terms) in the words of `layout`."""
    return [(label, words_in(text, layout)) for label, text in terms]


def render(report: Report, story_of: Callable[[Report], list[Any]]) -> bytes:
    """Lay out a report's story into PDF bytes with its header, footer, QR and metadata."""
    meta = metadata(report)
    with gc_paused():
        return _render(report, story_of, meta)


def _render(report: Report, story_of: Callable[[Report], list[Any]], meta: dict[str, Any]) -> bytes:
    """`render` once the metadata is known."""
    proof = checkpoint_json(report)
    with (
        masses_grouped(report.layout >= GROUPED_MASS_LAYOUT),  # "1,731.000 g" from layout 11
        tables.fitted_cells(report.layout >= FITTED_CELLS_LAYOUT),
        layout.framed_tables(report.layout >= FRAMED_TABLES_LAYOUT),
        tables.right_headings(report.layout >= WORDED_LAYOUT),
        tables.whole_figures(report.layout >= WHOLE_FIGURES_LAYOUT),
        layout.other_scripts(report.layout >= OTHER_SCRIPTS_LAYOUT),
    ):
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
            head_fits=report.layout >= FITTED_HEAD_LAYOUT,
            attachments=((CHECKPOINT_FILE, CHECKPOINT_MIME, proof),) if proof is not None else (),
        )


RECALL_WIDTHS = (0.07, 0.15, 0.2, 0.2, 0.38)


def recalls_section(recalls: tuple[Recall, ...], shown: bool) -> list[Any]:
    """Each recall of the loans in scope, when the layout `shown`s them (report layout 9,
    statement layout 9 on): when the lender recalled the loan, the due date it set and why; no
    recall, no section."""
    if not shown or not recalls:
        return []
    note = layout.para(
        "Each recall by the lender brought a loan's due date forward to the date shown: its "
        "samples are due back by then.",
        layout.styles()["note"],
    )
    rows = [(r.seq, r.loan, when(r.recalled_at), when(r.due_at), r.reason or "—") for r in recalls]
    table = tables.data_tables(
        ("Seq", "Loan", "Recalled on", "Due back by", "Reason"), rows, RECALL_WIDTHS
    )
    return layout.section(f"Recalls ({len(recalls)})", [note, *table])
