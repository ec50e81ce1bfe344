"""The overdue notice to an institution: loans and inventories past due, days late, what to do."""

from typing import Any

from sampleloans.reports import layout
from sampleloans.reports.common import header_lines, mass, party_lines, when
from sampleloans.services.reporting import OverdueBody, Report


def story(report: Report) -> list[Any]:
    """The flowables of an overdue notice."""
    body = report.body
    assert isinstance(body, OverdueBody)
    st = layout.styles()
    out: list[Any] = layout.title_block(report.title, header_lines(report))
    out.append(layout.heading("To"))
    out.append(layout.key_values(party_lines((body.institution,))))
    out.append(layout.heading(f"Obligations past due on {when(report.generated_at)}"))
    out.extend(
        layout.data_tables(
            ("Loan", "Principal investigator", "Obligation", "Due", "Days late", "Mass held"),
            [
                (
                    line.loan,
                    line.pi,
                    "return of samples" if line.what == "return" else "annual inventory",
                    when(line.due_at),
                    str(line.days_late),
                    mass(line.held_ug),
                )
                for line in body.lines
            ],
            (0.17, 0.25, 0.16, 0.18, 0.1, 0.14),
            marked=range(len(body.lines)),
            align_right=(4, 5),
        )
    )
    out.append(layout.heading("What to do"))
    for number, action in enumerate(body.actions, start=1):
        out.append(layout.para(f"{number}. {action}", st["body"]))
    out.append(layout.signature_blocks(("Compliance officer", "Curator")))
    return out
