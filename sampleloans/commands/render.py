"""Turning results into rich renderables: tables, lines, colours. No business rules here."""

import csv
import io
from typing import Any

from rich.table import Table
from rich.text import Text

from sampleloans.dates import format_datetime
from sampleloans.units import format_mass


def step_line(step: Any) -> Text:
    """One demo step: time, who, what; a refusal shows the error a curator would see."""
    line = Text()
    line.append(format_datetime(step.at), style="dim")
    line.append("  ")
    if step.refusal:
        line.append(f"{step.text}\n", style="bold")
        line.append(f"    refused → Error: {step.refusal}", style="red")
    else:
        line.append(step.text)
    return line


def verify_lines(result: Any) -> list[Text]:
    """The verdict of verify, then every problem on its own line."""
    if result.ok:
        return [
            Text(
                f"verify: OK — {result.events} events, chain intact, replay matches the "
                f"projections, all invariants hold, SQLite integrity ok; head {result.head}",
                style="green",
            )
        ]
    lines = [
        Text(
            f"verify: {len(result.problems)} problem(s) found; head {result.head}", style="bold red"
        )
    ]
    lines += [Text(f"  [{p.area}] {p.message}", style="red") for p in result.problems]
    return lines


def demo_summary_table(rows: list[Any], head: str) -> Table:
    """Per institution: loans and the mass issued, consumed, returned and still held."""
    table = Table(title="Chang'e-5 international round — summary", caption=f"ledger head {head}")
    table.add_column("institution", no_wrap=True)
    table.add_column("loans", justify="right")
    table.add_column("standing")
    for heading in ("issued", "consumed", "returned", "held"):
        table.add_column(heading, justify="right", no_wrap=True)
    for row in rows:
        table.add_row(
            f"{row.institution} ({row.country})",
            str(row.loans),
            Text(row.status, style="red" if "overdue" in row.status else ""),
            format_mass(row.issued_ug),
            format_mass(row.consumed_ug),
            format_mass(row.returned_ug),
            format_mass(row.held_ug),
        )
    total = [
        sum(getattr(r, name) for r in rows)
        for name in ("issued_ug", "consumed_ug", "returned_ug", "held_ug")
    ]
    table.add_row(
        "total", str(sum(r.loans for r in rows)), "", *(format_mass(t) for t in total), style="bold"
    )
    return table


def cell_text(cell: Any) -> str:
    """The plain text of one table cell (a str or a rich Text)."""
    return cell.plain if isinstance(cell, Text) else str(cell)


def table_csv(*tables: Table) -> str:
    """Tables as CSV (RFC 4180: CRLF, quoted where needed): each table's headers, then its rows
    exactly as the table shows them; several tables are separated by one empty line."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for index, table in enumerate(tables):
        if index:
            out.write("\r\n")
        writer.writerow(cell_text(column.header) for column in table.columns)
        cells = [list(column.cells) for column in table.columns]
        for row in zip(*cells, strict=True):
            writer.writerow(cell_text(cell) for cell in row)
    return out.getvalue()
