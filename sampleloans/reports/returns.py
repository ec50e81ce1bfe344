"""The return report, digital counterpart of NASA Form F-75: per sample, term by term."""

from typing import Any

from reportlab.graphics.charts.barcharts import HorizontalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.platypus import Spacer

from sampleloans.readmodels.report import (
    CHART_IN_TABLE_ORDER_LAYOUT,
    CHART_UNIT_LAYOUT,
    CORRECTED_ANALYSES_LAYOUT,
    MARKED_EVENTS_LAYOUT,
    MASS_COLUMNS_LAYOUT,
    RECALLED_LAYOUT,
    REPORT_LAYOUT,
    SPLIT_APART_LAYOUT,
    WORDED_LAYOUT,
    Analysis,
    Report,
    ReturnBody,
    ReturnLine,
    finding_cell,
    mass_in,
)
from sampleloans.reports import layout, tables
from sampleloans.reports.common import (
    late_inventories,
    mass,
    party_lines,
    readable,
    recalls_section,
    terms_lines,
    title_block,
    when,
)

TERMS = (
    ("consumed", "Consumed", colors.HexColor("#C0504D")),
    ("returned", "Returned", colors.HexColor("#4F81BD")),
    ("transferred", "Transferred", colors.HexColor("#9BBB59")),
    ("split", "Split by borrower", colors.HexColor("#8064A2")),
    ("lost", "Lost", colors.HexColor("#000000")),
    ("remaining", "Remaining", colors.HexColor("#F79646")),
)


def story(report: Report) -> list[Any]:
    """The flowables of a return report."""
    body = report.body
    assert isinstance(body, ReturnBody)
    out: list[Any] = title_block(report, body.overdue, late_inventories(report))
    out += _parties_section(body, report.layout)
    out += _agreement_section(body, report.layout)
    out += recalls_section(body.recalls, report.layout >= RECALLED_LAYOUT)
    out += layout.section("Mass accounting per sample", _accounting(body, report.layout))
    out += _analyses_section(body, report.layout)
    out += _splits_section(body)
    out += _conditions_section(body)
    out += _findings_section(body, report.layout)
    out += _mass_balance_section(body, report.layout)
    out.append(layout.signature_blocks(("Principal investigator", "Curator")))
    return out


def _parties_section(body: ReturnBody, page_layout: int) -> list[Any]:
    """The lender, the borrower and the PI, with the loan's status."""
    parties = [*party_lines(body.parties, page_layout), ("Loan status", readable(body.status))]
    return layout.section("Parties", [layout.key_values(parties)])


def _agreement_section(body: ReturnBody, page_layout: int) -> list[Any]:
    """The agreement the loan rests on: status, signing date and its loan terms."""
    agreement = body.agreement
    terms = [("Status", agreement.status), ("Signed on", when(agreement.signed_at))]
    terms += terms_lines(agreement.terms[2:5], page_layout)
    return layout.section(f"Agreement {agreement.number}", [layout.key_values(terms)])


def _accounting(body: ReturnBody, page_layout: int) -> list[Any]:
    """The F-75 table, one row per item and a Total, then what remains accountable; from
    layout 8 on, a "From split" column where the borrower split a sample (as `balance`)."""
    st = layout.styles()
    split = page_layout >= SPLIT_APART_LAYOUT and bool(body.total.from_split_ug)
    header = (
        "Sample",
        "Issued",
        *(("From split",) if split else ()),
        "Authorised transfers",
        "Consumed",
        "Returned now",
        "Returned before",
        "Split by borrower",
        "Lost",
        "Remaining accountable",
    )
    rows = [_accounting_cells(line, page_layout, split) for line in (*body.lines, body.total)]
    accounting = _accounting_tables(header, rows, split, page_layout)
    if body.splits:
        accounting.append(layout.para(_continuation_note(split), st["note"]))
    verdict = _verdict(body.total, page_layout)
    if page_layout >= MARKED_EVENTS_LAYOUT:
        verdict = _with_part_on_its_way_back(verdict, body)
    accounting.append(layout.para(verdict, st["body"]))
    return accounting


ACCOUNTING_WIDTHS = (0.2, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1)
SPLIT_ACCOUNTING_WIDTHS = (0.18, 0.09, 0.09, 0.1, 0.09, 0.09, 0.09, 0.09, 0.09, 0.09)
# From layout 21 every mass column holds "9,999.999999 g" on one line: the sample column gives
# the eight masses their room when every sample code still fits it whole; nine masses (a loan
# with splits) or a longer code ("CE5C0100YJFM00201-01") do not fit a page's width at the cell
# size beside them, so the accounting is then printed in two tables, each row under its sample:
# what reached the borrower and was used or sent back now, then the rest.
SECOND_PART_FROM = "Returned before"
PART_GAP = 4  # points between the two parts


def _accounting_tables(
    header: tuple[str, ...], rows: list[tuple[str, ...]], split: bool, page_layout: int
) -> list[Any]:
    """The accounting table, as `page_layout` lays it out (see SECOND_PART_FROM)."""
    masses = range(1, len(header))
    if page_layout < MASS_COLUMNS_LAYOUT:
        before = SPLIT_ACCOUNTING_WIDTHS if split else ACCOUNTING_WIDTHS
        return tables.data_tables(header, rows, before, total=True, align_right=masses)
    if not split:
        fitted = tables.masses_fitted(ACCOUNTING_WIDTHS, masses, donors=(0,))
        if tables.words_fit([row[0] for row in rows], fitted[0]):
            return tables.data_tables(header, rows, fitted, total=True, align_right=masses)
    out: list[Any] = []
    cut = header.index(SECOND_PART_FROM)
    for part in (range(1, cut), range(cut, len(header))):
        if out:  # the second part set apart, not read as rows of the first
            out.append(Spacer(1, PART_GAP))
        columns = (0, *part)
        shares = (ACCOUNTING_WIDTHS[0], *[(1 - ACCOUNTING_WIDTHS[0]) / len(part)] * len(part))
        out += tables.data_tables(
            [header[c] for c in columns],
            [[row[c] for c in columns] for row in rows],
            tables.masses_fitted(shares, range(1, len(columns)), donors=(0,)),
            total=True,
            align_right=range(1, len(columns)),
        )
    return out


def _continuation_note(split: bool) -> str:
    """What a continuation line is: from layout 8 on, its mass is "From split", not issued."""
    if split:
        return (
            "Continuation lines are the borrower's splits: their mass is 'From split', not "
            "issued; it also appears in the parent's 'Split by borrower' column, so the Total's "
            "Issued is what was issued and its From split equals its Split by borrower, as "
            "'sampleloans balance --loan' has them."
        )
    return (
        "Continuation lines are the borrower's splits. Their mass also appears in the "
        "parent's 'Split by borrower' column, so the Total counts it once, as "
        "'sampleloans balance --loan' does."
    )


def _verdict(total: ReturnLine, page_layout: int) -> str:
    """The sentence under the accounting table: close-out, the mass still accountable, or (from
    layout 7) that nothing was issued yet; from layout 7 in plain English (before: '… remains
    accountable by the borrower', and a loan not yet issued called closed out)."""
    worded = page_layout >= WORDED_LAYOUT
    if worded and mass_in(total.issued_ug, page_layout) == 0 and total.remaining_ug == 0:
        return "Nothing has been issued on this loan yet: there is nothing to account for."
    if total.remaining_ug == 0:
        return "Every microgram issued is accounted for: nothing remains accountable (close-out)."
    if worded:
        return f"The borrower remains accountable for {mass(total.remaining_ug)}."
    return f"{mass(total.remaining_ug)} remains accountable by the borrower."


def _with_part_on_its_way_back(verdict: str, body: ReturnBody) -> str:
    """The verdict naming the part of the mass accountable that is on its way back, in
    `status`'s words: '… for 59.250 mg (20.000 mg of it on its way back).'"""
    returning_ug = sum(line.remaining_ug for line in body.lines if line.on_its_way_back)
    if not returning_ug or not verdict.endswith("."):
        return verdict
    return f"{verdict[:-1]} ({mass(returning_ug)} of it on its way back)."


def _analysis_time(a: Analysis, page_layout: int) -> str:
    """When an analysis happened; from layout 15 on, a back-dated one also says when it was
    recorded, as `custody history` and the custody report do."""
    if a.recorded_at is None or page_layout < MARKED_EVENTS_LAYOUT:
        return when(a.occurred_at)
    return f"{when(a.occurred_at)} (recorded {when(a.recorded_at)})"


def _analysis_technique(a: Analysis, page_layout: int) -> str:
    """The technique; from layout 16 on, a corrected analysis marked as `custody history` and
    the custody report mark it, "ICP-MS [corrected by 110]"."""
    if not a.corrected_by or page_layout < CORRECTED_ANALYSES_LAYOUT:
        return a.technique
    return f"{a.technique} [corrected by {', '.join(map(str, a.corrected_by))}]"


def _analyses_section(body: ReturnBody, page_layout: int) -> list[Any]:
    """Every consumption of every item, analysis by analysis."""
    analyses = [
        (
            a.seq,
            line.code,
            _analysis_time(a, page_layout),
            _analysis_technique(a, page_layout),
            "yes" if a.destructive else "no",
            mass(a.mass_ug),
        )
        for line in body.lines
        for a in line.analyses
    ]
    return layout.section(
        "Analyses (consumption, analysis by analysis)",
        tables.data_tables(
            ("Seq", "Sample", "Date", "Technique", "Destructive", "Mass"),
            analyses,
            (0.07, 0.25, 0.18, 0.25, 0.1, 0.15),
            align_right=(5,),
        ),
    )


def _splits_section(body: ReturnBody) -> list[Any]:
    """The splits the borrower made, with what became of each."""
    return layout.section(
        "Continuation: splits made by the borrower",
        tables.data_tables(
            ("Split", "From", "Mass", "Fate"),
            [(s.code, s.parent, mass(s.mass_ug), s.fate) for s in body.splits],
            (0.28, 0.27, 0.12, 0.33),
            align_right=(2,),
        ),
    )


def _conditions_section(body: ReturnBody) -> list[Any]:
    """The condition recorded at each hand-over."""
    return layout.section(
        "Condition and contamination history",
        tables.data_tables(
            ("Seq", "Leg", "Hand-over"),
            [(c.seq, c.kind, c.text) for c in body.conditions],
            (0.07, 0.1, 0.83),
        ),
    )


def _findings_section(body: ReturnBody, page_layout: int) -> list[Any]:
    """Weighing discrepancies and incidents, every row highlighted."""
    return layout.section(
        "Discrepancies and incidents",
        tables.data_tables(
            ("Seq", "Kind", "What"),
            [(f.seq, f.kind, finding_cell(f.text, page_layout)) for f in body.findings],
            (0.07, 0.13, 0.80),
            marked=range(len(body.findings)),
        ),
    )


def _accounting_cells(line: ReturnLine, page_layout: int, split: bool) -> tuple[str, ...]:
    """One row of the mass accounting table (a continuation line says so), its masses as
    `page_layout` counts them."""
    code = f"{line.code} (continuation)" if line.split_from else line.code
    if line.on_its_way_back and page_layout >= MARKED_EVENTS_LAYOUT:
        code += "\n(on its way back)"
    return (
        code,
        mass(mass_in(line.issued_ug, page_layout)),
        *((mass(line.from_split_ug),) if split else ()),
        mass(line.transferred_ug),
        mass(line.consumed_ug),
        mass(line.returned_now_ug),
        mass(line.returned_before_ug),
        mass(mass_in(line.split_ug, page_layout)),
        mass(line.lost_ug),
        mass(line.remaining_ug),
    )


# The most bars one chart draws: 25 bars and the legend and axis (670 pt) fit a page's frame
# (736 pt) below the section heading; a loan of more samples gets one chart per 25.
BARS_PER_CHART = 25


def _mass_balance_section(body: ReturnBody, page_layout: int) -> list[Any]:
    """The "Mass balance" heading and chart; a loan of more samples than one page's chart
    holds, one chart per BARS_PER_CHART of them, the heading kept with the first."""
    drawings = charts(body, page_layout)
    return [*layout.section("Mass balance", drawings[:1]), *drawings[1:]]


def charts(body: ReturnBody, page_layout: int = REPORT_LAYOUT) -> list[Drawing]:
    """`chart` of the loan, or, when it would be taller than a page, one chart for each
    BARS_PER_CHART samples in table order, all on one scale (one chart ran off the page and
    the report could not be printed: reportlab's LayoutError)."""
    if len(body.lines) <= BARS_PER_CHART:
        return [chart(body, page_layout)]
    unit = _unit_of(body.lines, page_layout)
    scale = max(sum(_values_of(line)) for line in body.lines) / unit[1]
    return [
        _chart_of(body.lines[start : start + BARS_PER_CHART], page_layout, unit, scale)
        for start in range(0, len(body.lines), BARS_PER_CHART)
    ]


def chart(body: ReturnBody, page_layout: int = REPORT_LAYOUT) -> Drawing:
    """A stacked horizontal bar per sample: where the issued mass went (in mg; from layout 21
    in the unit of its largest bar); from layout 10 on, the first sample at the top, in the
    order of the accounting table above it (before: reportlab's, the first at the bottom)."""
    return _chart_of(body.lines, page_layout, _unit_of(body.lines, page_layout), None)


# A chart's unit: its name and how many micrograms one is.
ChartUnit = tuple[str, int]


def _unit_of(lines: tuple[ReturnLine, ...], page_layout: int) -> ChartUnit:
    """The unit a chart counts in: from layout 21 the one `format_mass` gives its largest bar
    (a loan of grams read "mass in mg" under ticks of 500000, 1000000 …); before, mg."""
    if page_layout < CHART_UNIT_LAYOUT:
        return ("mg", 1_000)
    largest_ug = max((sum(_values_of(line)) for line in lines), default=0)
    if largest_ug >= 1_000_000:
        return ("g", 1_000_000)
    return ("mg", 1_000) if largest_ug >= 1_000 else ("µg", 1)


def _chart_of(
    lines: tuple[ReturnLine, ...], page_layout: int, unit: ChartUnit, scale: float | None
) -> Drawing:
    """The chart of `lines` in `unit`; `scale`, the value axis's end shared by a loan's charts
    (None: reportlab's own for these bars)."""
    width = layout.full_width()
    count = max(1, len(lines))
    bar_height = 16
    height = 40 + count * (bar_height + 8) + 30
    drawing = Drawing(width, height)
    bars = _bars(lines, width, height, bar_height, unit[1])
    if scale is not None:
        bars.valueAxis.valueMax = scale
    if page_layout >= CHART_UNIT_LAYOUT:  # thousands grouped, as every mass: "1,500"
        bars.valueAxis.labelTextFormat = _tick_text
    bars.categoryAxis.reverseDirection = page_layout >= CHART_IN_TABLE_ORDER_LAYOUT
    drawing.add(bars)
    label = f"mass in {unit[0]}"
    drawing.add(String(bars.x + bars.width / 2, 22, label, fontName=layout.FONT, fontSize=7))
    drawing.add(_legend(height))
    return drawing


def _tick_text(value: float) -> str:
    """A value axis tick: thousands grouped, no trailing zeros ("1,500", "0.25")."""
    return f"{value:,.3f}".rstrip("0").rstrip(".")


def _values_of(line: ReturnLine) -> tuple[int, ...]:
    """One line's masses in the order of TERMS, in micrograms."""
    return (
        line.consumed_ug,
        line.returned_now_ug + line.returned_before_ug,
        line.transferred_ug,
        mass_in(line.split_ug, SPLIT_APART_LAYOUT),
        line.lost_ug,
        line.remaining_ug,
    )


def _bars(
    lines: tuple[ReturnLine, ...], width: float, height: int, bar_height: int, unit_ug: int
) -> HorizontalBarChart:
    """The bars, one per line, each term of TERMS in its colour."""
    values = [_values_of(line) for line in lines]
    chart_ = HorizontalBarChart()
    chart_.x, chart_.y = 130, 40
    chart_.width, chart_.height = width - 150, height - 75  # type: ignore[assignment]  # reportlab takes float sizes; its stub says int
    chart_.data = [[v[index] / unit_ug for v in values] or [0] for index in range(len(TERMS))]
    chart_.categoryAxis.style = "stacked"
    chart_.categoryAxis.categoryNames = [line.code for line in lines] or ["—"]
    chart_.categoryAxis.labels.fontName = layout.FONT
    chart_.categoryAxis.labels.fontSize = 7
    chart_.valueAxis.labels.fontName = layout.FONT
    chart_.valueAxis.labels.fontSize = 7
    chart_.valueAxis.valueMin = 0
    chart_.barWidth = bar_height
    for index, (_key, _label, colour) in enumerate(TERMS):
        chart_.bars[index].fillColor = colour
        chart_.bars[index].strokeColor = None
    return chart_


def _legend(height: int) -> Legend:
    """The terms' colours and names in one row along the top."""
    legend = Legend()
    legend.x, legend.y = 10, height - 8
    legend.fontName = layout.FONT
    legend.fontSize = 7
    legend.alignment = "right"
    legend.columnMaximum = 1
    legend.dx = legend.dy = 7
    legend.deltax = 80
    legend.colorNamePairs = [(colour, label) for _key, label, colour in TERMS]
    return legend
