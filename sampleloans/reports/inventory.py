"""The inventory statement: what the ledger says the PI holds, for the PI to attest."""

from typing import Any

from sampleloans.reports import layout
from sampleloans.reports.common import header_lines, mass, party_lines, when
from sampleloans.services.reporting import InventoryBody, Report


def story(report: Report) -> list[Any]:
    """The flowables of an inventory statement."""
    body = report.body
    assert isinstance(body, InventoryBody)
    st = layout.styles()
    out: list[Any] = layout.title_block(report.title, header_lines(report))
    out.append(layout.heading("Parties"))
    out.append(layout.key_values(party_lines(body.parties)))
    out.append(layout.heading("Loan"))
    out.append(
        layout.key_values(
            [
                ("Loan", body.loan),
                ("Status", body.status),
                ("Return due", when(body.due_at)),
                ("Last inventory", when(body.last_inventory_at)),
                ("Next inventory due", when(body.next_inventory_due_at)),
            ]
        )
    )
    out.append(layout.heading("Samples the ledger says the PI holds"))
    rows = [
        (i.code, i.description, mass(i.issued_ug), mass(i.held_ug), i.state, "__ yes  __ no")
        for i in body.items
    ]
    rows.append(("Total held", "", "", mass(body.held_ug), "", ""))
    out.extend(
        layout.data_tables(
            ("Code", "Description", "Issued", "Held (ledger)", "State", "Confirmed"),
            rows,
            (0.24, 0.28, 0.11, 0.12, 0.11, 0.14),
            total=True,
            align_right=(2, 3),
        )
    )
    out.append(
        layout.para(
            "I attest that I hold the samples above in the masses stated, in the containers and "
            "storage agreed, and that no material was transferred, consumed or lost other than "
            "as recorded in the ledger. Mark any difference and explain it below.",
            st["body"],
        )
    )
    out.append(layout.signature_blocks(("Principal investigator", "Curator")))
    return out
