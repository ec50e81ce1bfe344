"""The overdue notice to an institution: loans and inventories past due, days late, what to do."""

from typing import Any

from sampleloans.readmodels.report import (
    RECALLED_LAYOUT,
    RESPOND_WITHIN_DAYS,
    OverdueBody,
    Report,
    words_in,
)
from sampleloans.reports import layout, tables
from sampleloans.reports.common import (
    day,
    mass,
    party_lines,
    recalls_section,
    title_block,
    when,
)


def story(report: Report) -> list[Any]:
    """The flowables of an overdue notice."""
    body = report.body
    assert isinstance(body, OverdueBody)
    out: list[Any] = title_block(report)
    out += _addressees_section(body, report.layout)
    out += layout.section(
        f"Obligations past due on {when(report.generated_at)}", _obligations_table(body)
    )
    out += recalls_section(body.recalls, report.layout >= RECALLED_LAYOUT)
    if body.clauses:
        out += layout.section(
            "The agreement terms this notice rests on",
            [layout.key_values(party_lines(body.clauses, report.layout))],
        )
    actions = [
        layout.para(f"{number}. {words_in(action, report.layout)}", layout.styles()["body"])
        for number, action in enumerate(body.actions, start=1)
    ]
    out += layout.section("What to do", actions)
    out.append(layout.signature_blocks(("Compliance officer", "Curator")))
    return out


def _addressees_section(body: OverdueBody, page_layout: int) -> list[Any]:
    """Each PI and the institution; with anything past due, the date to respond by, marked."""
    to = [
        *party_lines(body.addressees, page_layout),
        *party_lines((body.institution,), page_layout),
    ]
    marked: list[int] = []
    if body.lines:
        marked.append(len(to))
        # the notice's own words, each layout's (before 19 every notice offered an extension)
        ask = words_in(body.respond, page_layout)
        to.append(
            (
                "Respond by",
                f"{day(body.respond_by)} ({RESPOND_WITHIN_DAYS} days after this notice): {ask}",
            )
        )
    return layout.section("To", [layout.key_values(to, marked=marked)])


def _obligations_table(body: OverdueBody) -> list[Any]:
    """Each return or inventory past due, with its days late and the mass held, highlighted."""
    return tables.data_tables(
        ("Loan", "Principal investigator", "Agreement", "Obligation", "Due", "Days late", "Held"),
        [
            (
                line.loan,
                line.pi,
                line.agreement,
                "return of samples" if line.what == "return" else "annual inventory",
                when(line.due_at),
                str(line.days_late),
                mass(line.held_ug),
            )
            for line in body.lines
        ],
        (0.13, 0.19, 0.14, 0.14, 0.17, 0.08, 0.15),
        marked=range(len(body.lines)),
        align_right=(5, 6),
    )
