"""The chain-of-custody report: parties, agreement, items, every event, findings, signatures."""

from typing import Any

from sampleloans.reports import layout
from sampleloans.reports.common import header_lines, mass, party_lines, when
from sampleloans.services.reporting import CustodyBody, CustodyRow, Report

EVENT_HEADER = (
    "Seq",
    "Time (UTC)",
    "Event",
    "Released by",
    "Received by",
    "Location",
    "Container / seal",
    "Seal intact",
    "Mass",
    "Condition",
    "Recorded by",
    "OS account",
)
EVENT_WIDTHS = (0.045, 0.09, 0.09, 0.10, 0.10, 0.08, 0.09, 0.05, 0.075, 0.08, 0.12, 0.08)


def story(report: Report) -> list[Any]:
    """The flowables of a custody report."""
    body = report.body
    assert isinstance(body, CustodyBody)
    st = layout.styles()
    out: list[Any] = layout.title_block(report.title, header_lines(report))
    out.append(layout.heading("Parties"))
    out.append(layout.key_values(party_lines(body.parties)))
    for agreement in body.agreements:
        out.append(layout.heading(f"Agreement {agreement.number}"))
        lines = [
            ("Status", agreement.status),
            ("Signed on", when(agreement.signed_at)),
            ("Signed by", agreement.signed_by or "—"),
            *agreement.terms,
        ]
        out.append(layout.key_values(lines))
    out.append(layout.heading(f"Items ({len(body.items)})"))
    out.extend(
        layout.data_tables(
            ("Code", "Description", "Loan", "Issued mass", "Held now", "Custodian", "State"),
            [
                (
                    i.code,
                    i.description,
                    i.loan,
                    mass(i.issued_ug),
                    mass(i.held_ug),
                    i.custodian,
                    i.state,
                )
                for i in body.items
            ],
            (0.22, 0.26, 0.13, 0.10, 0.10, 0.09, 0.10),
            align_right=(3, 4),
        )
    )
    out.append(layout.heading(f"Findings: gaps, discrepancies, incidents ({len(body.findings)})"))
    if body.findings:
        out.extend(
            layout.data_tables(
                ("Seq", "Kind", "What"),
                [(f.seq, f.kind, f.text) for f in body.findings],
                (0.08, 0.12, 0.80),
                marked=range(len(body.findings)),
            )
        )
    else:
        out.append(
            layout.para(
                "No gap, weighing discrepancy, broken seal or incident recorded.", st["note"]
            )
        )
    out.append(layout.heading(f"Chain of custody ({len(body.events)} events)"))
    out.append(
        layout.para(
            "Every event of the scope in ledger order. Released by / received by: the persons "
            "recorded at each hand-over (courier and witness in its description); an event "
            "entered more than an hour after it happened shows when it was recorded. "
            "Highlighted rows: gap, discrepancy, incident or correction.",
            st["note"],
        )
    )
    marked = [index for index, e in enumerate(body.events) if e.flag]
    out.extend(
        layout.data_tables(
            EVENT_HEADER,
            (_event_cells(e) for e in body.events),
            EVENT_WIDTHS,
            marked=marked,
            align_right=(8,),
        )
    )
    out.append(layout.heading("Event descriptions"))
    out.extend(
        layout.data_tables(
            ("Seq", "What the ledger records"),
            ((e.seq, e.description) for e in body.events),
            (0.07, 0.93),
            marked=marked,
        )
    )
    out.append(layout.signature_blocks(("Curator", "Compliance officer")))
    return out


def _time_cell(e: CustodyRow) -> str:
    """When the event happened; a back-dated entry also says when it was recorded."""
    occurred = when(e.occurred_at).removesuffix(" UTC")
    if not e.backdated:
        return occurred
    return f"{occurred} (recorded {when(e.recorded_at).removesuffix(' UTC')})"


def _event_cells(e: CustodyRow) -> tuple[Any, ...]:
    """One row of the chain-of-custody table."""
    return (
        e.seq,
        _time_cell(e),
        e.kind + (f" [{e.flag}]" if e.flag else ""),
        e.released_by,
        e.received_by,
        e.location,
        " / ".join(x for x in (e.container, e.seal) if x),
        e.seal_intact,
        mass(e.mass_ug) if e.mass_ug is not None else "",
        e.condition,
        e.recorded_by,
        e.os_user,
    )
