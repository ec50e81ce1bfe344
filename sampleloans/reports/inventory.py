"""The inventory statement: what the ledger says the PI holds, for the PI to measure and attest."""

from datetime import datetime
from typing import Any

from sampleloans.readmodels.report import (
    EMPTY_HANDS_TOTAL_LAYOUT,
    HELD_TOTAL_LAYOUT,
    NO_DATE_WORDS_LAYOUT,
    NOTHING_LEFT,
    OWED_INVENTORY_LAYOUT,
    RECALLED_LAYOUT,
    SPLIT_APART_LAYOUT,
    InventoryBody,
    Report,
    due_after_issue,
    ended_words,
    mass_in,
    no_inventory_words_of,
    nothing_left_to_send_back,
    owed_inventory_due,
)
from sampleloans.reports import layout, tables
from sampleloans.reports.common import (
    held_note,
    item_state,
    late_inventories,
    mass,
    party_lines,
    readable,
    recalls_section,
    returning_ug,
    title_block,
    when,
)
from sampleloans.vocab import ItemState

BLANK = "__________"  # a cell the PI fills in
NONE_ATTESTED = "— (none attested yet)"  # a loan whose PI never attested an inventory
REMARK_LINES = 4  # ruled lines left for the PI's explanation of any difference


def _inventory_due(report: Report, body: InventoryBody) -> datetime | None:
    """The next inventory date the report shows: from layout 4 on, none for a loan no longer out
    (the read model keeps the column's value, so an older file keeps its digest and bytes)."""
    if report.layout >= OWED_INVENTORY_LAYOUT:
        return owed_inventory_due(body.status, body.next_inventory_due_at)
    return body.next_inventory_due_at


def _return_due(body: InventoryBody, page_layout: int) -> str:
    """The "Return due" line: from layout 14 on, as `status` says it, how a loan over ended
    instead of its old due date, and how long after issue one not yet issued falls due."""
    if page_layout < NO_DATE_WORDS_LAYOUT:
        return when(body.due_at)
    if body.ended is not None:
        return ended_words(body.ended)
    return (
        when(body.due_at)
        if body.due_at
        else (due_after_issue(body.status, body.loan_period) or when(None))
    )


def _last_inventory(body: InventoryBody, page_layout: int) -> str:
    """The "Last inventory" line: its date; from layout 14 on, where the PI never attested one,
    the dash says so (before: a bare dash)."""
    if body.last_inventory_at is not None or page_layout < NO_DATE_WORDS_LAYOUT:
        return when(body.last_inventory_at)
    return NONE_ATTESTED


def _next_inventory(report: Report, body: InventoryBody) -> str:
    """The "Next inventory due" line: its date; from layout 14 on, where none is owed, the
    dash and why, as `status` says it."""
    due = _inventory_due(report, body)
    if due is not None or report.layout < NO_DATE_WORDS_LAYOUT:
        return when(due)
    return no_inventory_words_of(body.status, body.ended)


def story(report: Report) -> list[Any]:
    """The flowables of an inventory statement."""
    body = report.body
    assert isinstance(body, InventoryBody)
    # from layout 10 on, an attestation past due is flagged as a return past due is
    out: list[Any] = title_block(report, body.overdue, late_inventories(report))
    out += layout.section("Parties", [layout.key_values(party_lines(body.parties, report.layout))])
    loan = [
        ("Loan", body.loan),
        ("Status", readable(body.status)),
        ("Return due", _return_due(body, report.layout)),
        ("Last inventory", _last_inventory(body, report.layout)),
        ("Next inventory due", _next_inventory(report, body)),
    ]
    out += layout.section("Loan", [layout.key_values(loan)])
    out += recalls_section(body.recalls, report.layout >= RECALLED_LAYOUT)
    out += _held_section(body, report.layout)
    out += _gone_section(body, report.layout)
    out += _attestation_section()
    out += layout.section("Remarks (explain any difference)", [layout.ruled_lines(REMARK_LINES)])
    out.append(layout.signature_blocks(("Principal investigator", "Curator")))
    return out


def _held_section(body: InventoryBody, page_layout: int) -> list[Any]:
    """What the PI holds, with room for the mass they measure and a yes/no, and its total."""
    # the PI confirms only what is in their hands: not what is gone, nor what is on its way back
    held = [i for i in body.items if _in_hand(i)]
    rows: list[tuple[str, ...]] = [
        (i.code, i.description, mass(i.held_ug), BLANK, item_state(i, page_layout), "__ yes  __ no")
        for i in held
    ]
    if held:
        rows += _total_rows(body, held, page_layout)
    elif page_layout >= EMPTY_HANDS_TOTAL_LAYOUT:
        rows.append(_empty_hands_total(body))
    table = tables.data_tables(
        ("Code", "Description", "Held (ledger)", "Measured by PI", "State", "Confirmed"),
        rows,
        (0.23, 0.25, 0.12, 0.14, 0.12, 0.14),
        total=bool(rows),
        align_right=(2,),
    )
    return layout.section("Samples the ledger says the PI holds: measure and confirm", table)


def _total_rows(body: InventoryBody, held: list[Any], page_layout: int) -> list[tuple[str, ...]]:
    """The total the PI measures (what is in their hands) and, from layout 5 on, when some of
    the loan is on its way back, the total held as `status` gives it, naming that part."""
    in_hand_ug = sum(i.held_ug for i in held)
    returning = returning_ug(body.items)
    if page_layout < HELD_TOTAL_LAYOUT or not returning:
        return [("Total held", "", mass(in_hand_ug), BLANK, "", "")]
    total_ug = in_hand_ug + returning
    return [
        ("In the PI's hands", "", mass(in_hand_ug), BLANK, "", ""),
        ("Total held", held_note(returning), mass(total_ug), "", "", ""),
    ]


def _empty_hands_total(body: InventoryBody) -> tuple[str, ...]:
    """The Total held of a loan with nothing in the PI's hands (from layout 6 on), in `status`'s
    words: the part on its way back, or that nothing is left to send back; nothing to measure."""
    returning = returning_ug(body.items)
    held_ug = sum(i.held_ug for i in body.items)
    if returning:
        note = held_note(returning)
    elif nothing_left_to_send_back(body.status, held_ug):
        note = NOTHING_LEFT
    else:
        note = ""
    return ("Total held", note, mass(held_ug), "", "", "")


def _gone_section(body: InventoryBody, page_layout: int) -> list[Any]:
    """The items no longer (or not yet) in the PI's hands, listed apart; none, no section.
    From layout 8 on, a sample the borrower split off shows its mass "From split"."""
    gone = [i for i in body.items if not _in_hand(i)]
    if not gone:
        return []
    title = (
        "Not in the PI's hands (returned, on its way back, used up, or not issued yet): "
        "nothing to confirm"
    )
    if page_layout >= SPLIT_APART_LAYOUT and any(i.from_split_ug for i in gone):
        rows = [
            (
                i.code,
                i.description,
                mass(mass_in(i.issued_ug, page_layout)),
                mass(i.from_split_ug),
                item_state(i, page_layout),
            )
            for i in gone
        ]
        headings = ("Code", "Description", "Issued", "From split", "State")
        widths = (0.26, 0.3, 0.12, 0.12, 0.2)
        return layout.section(title, tables.data_tables(headings, rows, widths, align_right=(2, 3)))
    return layout.section(
        title,
        tables.data_tables(
            ("Code", "Description", "Issued", "State"),
            [
                (
                    i.code,
                    i.description,
                    mass(mass_in(i.issued_ug, page_layout)),
                    item_state(i, page_layout),
                )
                for i in gone
            ],
            (0.28, 0.37, 0.15, 0.20),
            align_right=(2,),
        ),
    )


def _attestation_section() -> list[Any]:
    """The statement the PI signs."""
    attest = layout.para(
        "I attest that I hold the samples above in the masses I measured and wrote in "
        "'Measured by PI', in the containers and storage agreed, and that no material was "
        "transferred, consumed or lost other than as recorded in the ledger. Where a measured "
        "mass differs from the ledger's, or a line is marked 'no', I explain it under Remarks.",
        layout.styles()["body"],
    )
    return layout.section("Attestation", [attest])


def _in_hand(item: Any) -> bool:
    """Whether the PI holds an item now (some mass held, and not on its way back)."""
    return bool(item.held_ug > 0 and item.state != ItemState.RETURN_IN_TRANSIT)
