"""The chain-of-custody report: parties, agreement, items, every event, findings, signatures."""

from collections.abc import Iterator
from typing import Any

from sampleloans.readmodels.report import (
    BORROWER,
    CORRECTION_FLAG,
    COUNTED_EVENTS_LAYOUT,
    FITTED_CELLS_LAYOUT,
    FRAMED_TABLES_LAYOUT,
    MARKED_EVENTS_LAYOUT,
    MASS_COLUMNS_LAYOUT,
    PLAIN_CORRECTION_LAYOUT,
    RECALLED_LAYOUT,
    SPLIT_APART_LAYOUT,
    CustodyBody,
    CustodyRow,
    Report,
    finding_cell,
    mass_in,
    words_in,
)
from sampleloans.reports import layout, tables
from sampleloans.reports.common import (
    events_in,
    item_state,
    late_inventories,
    mass,
    party_lines,
    recalls_section,
    terms_lines,
    title_block,
    when,
)

EVENT_HEADER = (
    "Seq",
    "Time",
    "Event",
    "Released by",
    "Received by",
    "Location",
    "Container / seal",
    "Seal intact",
    "Mass",
    "Condition",
)
EVENT_MASS = EVENT_HEADER.index("Mass")
# the time column fits '2025-04-24 08:00 UTC' on one line; the party columns an e-mail
EVENT_WIDTHS = (0.045, 0.145, 0.095, 0.165, 0.165, 0.065, 0.095, 0.045, 0.08, 0.1)
RECORDED_WIDTHS = (0.06, 0.2, 0.09, 0.65)  # an e-mail fits whole in 0.2
BORROWER_MARK = "(the borrower)"  # under the e-mail of a person of the borrower (layout 3)
BORROWER_LAYOUT = 3  # the first page layout that marks the borrower's events

# Hand-overs get a signature line per party. The persons printed are the hand-over row's party
# fields (readmodels.report.CustodyRow), named here and nowhere else.
HANDOVER_PARTIES = ("released_by", "received_by")
SIGNATURE_HEADER = (
    "Seq",
    "Hand-over",
    "Released by",
    "Signature and date",
    "Received by",
    "Signature and date",
)
SIGNATURE_WIDTHS = (0.06, 0.16, 0.19, 0.20, 0.19, 0.20)
# From layout 5 on every cell wraps to its column: the Seq columns are widened to a 7-digit event
# number (a ledger of a million events), which would otherwise be cut between its digits, and the
# chain's Mass column to "999.999 mg".
FITTED_EVENT_WIDTHS = (0.07, 0.145, 0.095, 0.1525, 0.1525, 0.065, 0.095, 0.045, 0.085, 0.095)
# From layout 6 on tables are as wide as the frame (12 pt narrower): the columns whose words
# fitted whole in layout 5 keep room for them ('2025-04-24 08:00 UTC', 'Person added',
# '/ SL-Osaka-01', 'Li Na (demo curator) (NAOC)' beside a signature), taken from the party and
# condition columns of the chain and the hand-over column, which wrap anyway.
FRAMED_EVENT_WIDTHS = (0.07, 0.15, 0.0975, 0.15, 0.15, 0.065, 0.096, 0.045, 0.085, 0.0915)
FRAMED_SIGNATURE_WIDTHS = (0.07, 0.15, 0.195, 0.195, 0.195, 0.195)
FITTED_RECORDED_WIDTHS = (0.07, 0.2, 0.09, 0.64)
BORROWER_RECORDED_WIDTHS = (0.07, 0.2, 0.73)  # a borrower's copy (layout 9): no OS account
FITTED_SIGNATURE_WIDTHS = (0.07, 0.16, 0.19, 0.195, 0.19, 0.195)
SIGNATURE_CELL = "\n\n" + "_" * 24 + "\nDate: " + "_" * 18  # room to sign, then the date


def story(report: Report) -> list[Any]:
    """The flowables of a custody report."""
    body = report.body
    assert isinstance(body, CustodyBody)
    out: list[Any] = title_block(report, body.overdue, late_inventories(report))
    out += layout.section("Parties", [layout.key_values(party_lines(body.parties, report.layout))])
    out += _agreement_sections(body, report.layout)
    out += _items_section(body, report.layout)
    out += recalls_section(body.recalls, report.layout >= RECALLED_LAYOUT)
    out += _findings_section(body, report.layout)
    # the rows highlighted in the chain are highlighted in the descriptions too
    marked = [index for index, e in enumerate(body.events) if e.flag]
    out += _chain_section(body, marked, report.layout)
    out += _descriptions_section(report, body, marked)
    out += handover_signatures(body, report.layout)
    out.append(layout.signature_blocks(("Curator", "Compliance officer")))
    return out


def _agreement_sections(body: CustodyBody, page_layout: int) -> list[Any]:
    """A section per agreement in scope: status, who signed it and when, its terms."""
    out: list[Any] = []
    for agreement in body.agreements:
        lines = [
            ("Status", agreement.status),
            ("Signed on", when(agreement.signed_at)),
            ("Signed by", agreement.signed_by or "—"),
            *terms_lines(agreement.terms, page_layout),
        ]
        out += layout.section(f"Agreement {agreement.number}", [layout.key_values(lines)])
    return out


def _items_section(body: CustodyBody, page_layout: int) -> list[Any]:
    """The items in scope: issued (and, from layout 8 on, from a borrower's split) and held
    mass, custodian and state."""
    split = page_layout >= SPLIT_APART_LAYOUT and any(i.from_split_ug for i in body.items)
    headings: tuple[str, ...] = ("Code", "Description", "Loan", "Issued mass")
    headings += ("From split",) if split else ()
    rows = [
        (
            i.code,
            i.description,
            i.loan,
            mass(mass_in(i.issued_ug, page_layout)),
            *((mass(i.from_split_ug),) if split else ()),
            mass(i.held_ug),
            i.custodian,
            item_state(i, page_layout),
        )
        for i in body.items
    ]
    widths: tuple[float, ...] = SPLIT_ITEM_WIDTHS if split else ITEM_WIDTHS
    right = (3, 4, 5) if split else (3, 4)
    if page_layout >= MASS_COLUMNS_LAYOUT:  # the description wraps anyway
        widths = tables.masses_fitted(widths, right, donors=(1,))
    items = tables.data_tables(
        (*headings, "Held now", "Custodian", "State"), rows, widths, align_right=right
    )
    return layout.section(f"Items ({len(body.items)})", items)


ITEM_WIDTHS = (0.22, 0.26, 0.13, 0.10, 0.10, 0.09, 0.10)
# with "From split" (layout 8): the description gives up room; "100.000 mg" fits each mass
SPLIT_ITEM_WIDTHS = (0.21, 0.17, 0.12, 0.10, 0.10, 0.10, 0.09, 0.11)


def _findings_section(body: CustodyBody, page_layout: int) -> list[Any]:
    """Gaps, discrepancies and incidents, highlighted; or a line saying there are none."""
    if body.findings:
        findings = tables.data_tables(
            ("Seq", "Kind", "What"),
            [(f.seq, f.kind, finding_cell(f.text, page_layout)) for f in body.findings],
            (0.08, 0.12, 0.80),
            marked=range(len(body.findings)),
        )
    else:
        findings = [
            layout.para(
                "No gap, weighing discrepancy, broken seal or incident recorded.",
                layout.styles()["note"],
            )
        ]
    return layout.section(
        f"Findings: gaps, discrepancies, incidents ({len(body.findings)})", findings
    )


def _widths(
    page_layout: int, before: tuple[float, ...], fitted: tuple[float, ...]
) -> tuple[float, ...]:
    """A table's column widths in a page layout: `fitted` from layout 5 on (wider Seq)."""
    return fitted if page_layout >= FITTED_CELLS_LAYOUT else before


def _event_widths(page_layout: int) -> tuple[float, ...]:
    """The chain table's column widths in a page layout (see FRAMED_EVENT_WIDTHS)."""
    if page_layout >= MASS_COLUMNS_LAYOUT:  # the party columns give it: an e-mail wraps anyway
        return tables.masses_fitted(FRAMED_EVENT_WIDTHS, (EVENT_MASS,), donors=(3, 4))
    if page_layout >= FRAMED_TABLES_LAYOUT:
        return FRAMED_EVENT_WIDTHS
    return _widths(page_layout, EVENT_WIDTHS, FITTED_EVENT_WIDTHS)


def _chain_section(body: CustodyBody, marked: list[int], page_layout: int) -> list[Any]:
    """Every event of the scope in ledger order, one row each, the flagged ones highlighted."""
    note = layout.para(
        "Every event of the scope in ledger order; times in UTC. Released by / received by: the "
        "persons recorded at each hand-over (courier and witness in its description); an event "
        "entered more than an hour after it happened also shows when it was recorded. "
        "Highlighted rows: gap, discrepancy, incident or correction.",
        layout.styles()["note"],
    )
    chain = tables.data_tables(
        EVENT_HEADER,
        (_event_cells(e, page_layout) for e in body.events),
        _event_widths(page_layout),
        marked=marked,
        align_right=(EVENT_MASS,),
    )
    return layout.section(f"Chain of custody ({_events_count(body, page_layout)})", [note, *chain])


def _events_count(body: CustodyBody, page_layout: int) -> str:
    """'1 event', '6 events': from layout 10 on in agreement (before: '1 events')."""
    return events_in(len(body.events), page_layout >= COUNTED_EVENTS_LAYOUT)


def _descriptions_section(report: Report, body: CustodyBody, marked: list[int]) -> list[Any]:
    """Each event's description, who recorded it and (for the lender's staff) under which
    operating-system account: from layout 9 on, a borrower's copy leaves the account out."""
    if report.layout >= RECALLED_LAYOUT and report.request.audience == BORROWER:
        described = tables.data_tables(
            ("Seq", "Recorded by", "What the ledger records"),
            (
                (e.seq, _recorded_by_cell(e, report.layout), words_in(e.description, report.layout))
                for e in body.events
            ),
            BORROWER_RECORDED_WIDTHS,
            marked=marked,
        )
    else:
        described = tables.data_tables(
            ("Seq", "Recorded by", "OS account", "What the ledger records"),
            (
                (
                    e.seq,
                    _recorded_by_cell(e, report.layout),
                    e.os_user,
                    words_in(e.description, report.layout),
                )
                for e in body.events
            ),
            _widths(report.layout, RECORDED_WIDTHS, FITTED_RECORDED_WIDTHS),
            marked=marked,
        )
    if report.layout >= BORROWER_LAYOUT:
        described.insert(0, layout.para(BORROWER_NOTE, layout.styles()["note"]))
    return layout.section("Event descriptions, and who recorded each", described)


def handover_signatures(body: CustodyBody, page_layout: int) -> list[Any]:
    """Per hand-over, the releasing and the receiving party, each with a line to sign and date."""
    note = layout.para(
        "Each person who released or received the samples signs and dates the line beside "
        "their name.",
        layout.styles()["note"],
    )
    count = sum(1 for e in body.events if e.handover is not None)
    widths = (
        FRAMED_SIGNATURE_WIDTHS
        if page_layout >= FRAMED_TABLES_LAYOUT
        else _widths(page_layout, SIGNATURE_WIDTHS, FITTED_SIGNATURE_WIDTHS)
    )
    table = tables.data_tables(SIGNATURE_HEADER, _signature_rows(body, page_layout), widths)
    return layout.section(f"Hand-overs to sign ({count})", [note, *table])


def _signature_rows(body: CustodyBody, page_layout: int) -> Iterator[tuple[Any, ...]]:
    """One row per hand-over: seq, what and when, then each party and room for a signature."""
    for e in body.events:
        if e.handover is None:  # not a hand-over
            continue
        released, received = (getattr(e, name) or "—" for name in HANDOVER_PARTIES)
        yield (
            e.seq,
            f"{words_in(e.label, page_layout)}\n{when(e.occurred_at)}",
            released,
            SIGNATURE_CELL,
            received,
            SIGNATURE_CELL,
        )


BORROWER_NOTE = (
    f"Recorded by: the person who entered the event; {BORROWER_MARK} marks an event a person "
    "of the borrowing institution recorded in their lab (receipt, analysis, split, incident, "
    "inventory); every other event was recorded by the lender's staff."
)


def _recorded_by_cell(e: CustodyRow, page_layout: int) -> str:
    """Who recorded an event; from layout 3 on, a person of the borrower is marked so."""
    if e.by_borrower and page_layout >= BORROWER_LAYOUT:
        return f"{e.recorded_by}\n{BORROWER_MARK}"
    return e.recorded_by


def _time_cell(e: CustodyRow) -> str:
    """When the event happened; a back-dated entry also says when it was recorded."""
    occurred = when(e.occurred_at)
    if not e.backdated:
        return occurred
    return f"{occurred} (recorded {when(e.recorded_at)})"


def _label_cell(e: CustodyRow, page_layout: int) -> str:
    """An event's label with its flag; from layout 15 on, a corrected event marked as
    `custody history` marks it, "[corrected by 110]"; from layout 16 on, a correction without
    the flag its label already says ("Mass corrected", not "Mass corrected [correction]")."""
    label = words_in(e.label, page_layout)
    said = e.flag == CORRECTION_FLAG and page_layout >= PLAIN_CORRECTION_LAYOUT
    cell = label + (f" [{e.flag}]" if e.flag and not said else "")
    if e.corrected_by and page_layout >= MARKED_EVENTS_LAYOUT:
        cell += f" [corrected by {', '.join(map(str, e.corrected_by))}]"
    return cell


def _event_cells(e: CustodyRow, page_layout: int) -> tuple[Any, ...]:
    """One row of the chain-of-custody table."""
    return (
        e.seq,
        _time_cell(e),
        _label_cell(e, page_layout),
        e.released_by,
        e.received_by,
        e.location,
        " / ".join(x for x in (e.container, e.seal) if x),
        e.seal_intact,
        mass(e.mass_ug) if e.mass_ug is not None else "",
        words_in(e.condition, page_layout),
    )
