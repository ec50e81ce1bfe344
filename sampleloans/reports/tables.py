"""The table engine of the reports: data tables of plain, pre-wrapped text, drawn fast.

reportlab's `Table` of `Paragraph` cells lays out in quadratic time and writes a text object per
line of every cell; a custody report of 100,000 events could not be printed that way. Here
cells are plain strings wrapped to their column once (`wrap_lines`, memoised per column), a
table holds at most TABLE_CHUNK rows, and `TextTable` writes a whole page's cells as one text
object and its row rules as one path.

Private reportlab API this module relies on (hence the bounds on reportlab in pyproject.toml;
tests/test_reports.py compares the bytes of every report, so a change shows there first):
- `Table` internals: `_drawBkgrnd`, `_drawLines`, `_makeRoundedCornersClip`, `_cellvalues`,
  `_cellStyles`, `_rowpositions`, `_colpositions`, `_rowHeights`, `_colWidths`,
  `_curweight`, `_curcolor`, `_curcellstyle` (TextTable.draw replaces Table.draw);
- `PDFTextObject` internals: `_code` (the operator list), `_curSubset` and `_formatText` (how
  a TrueType subset writes a string);
- the TrueType face's `charWidths` and `defaultWidth` (`measurer`), and `rl_accel.fp_str`.
"""

import math
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from itertools import chain, islice, repeat
from typing import Any, Literal, Protocol, cast

from reportlab.lib import colors
from reportlab.lib.rl_accel import fp_str
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.textobject import PDFTextObject
from reportlab.platypus import Table, TableStyle
from reportlab.platypus.tables import CellStyle

from sampleloans.reports.layout import (
    FONT,
    MARK,
    RULE,
    SHADE,
    drawing_other_scripts,
    font_runs,
    full_width,
    para,
    plain_in_font,
    register_font,
    styles,
    text_width,
)
from sampleloans.units import MAX_MASS_UG, format_mass

TABLE_CHUNK = 500  # rows per Table: one giant Table lays out in quadratic time
CELL_SIZE = 7  # points, the font size of table cells
CELL_LEADING = 8.5
CELL_PADDING = 2
CELL_V_PADDING = 1.2
ROW_RULE = 0.2  # points, the thin rule under each table row
MEMO_SIZE = 4096  # wrapped cell texts remembered per column
WRAP_OVER = 14  # before layout 5 (statement 3): only strings longer than this wrap
SPACE_SHRINK = 0.05  # before layout 5: a line may run over by this much of a space per word

# Whether the tables being built fit every cell to its column (the page layout of a report
# from 5 on, of a statement from 3 on) or, as the earlier layouts did, wrap only strings over
# WRAP_OVER characters and let a line run over by SPACE_SHRINK: an archived report re-renders
# byte-identical in its own layout. Set by `fitted_cells` around the building of a story.
_FIT_EVERY_CELL: ContextVar[bool] = ContextVar("fit_every_cell", default=True)


@contextmanager
def fitted_cells(fit: bool) -> Iterator[None]:
    """Build the tables inside with every cell fitted to its column (`fit`), or with the rule
    of the layouts before (short strings never wrapped)."""
    token = _FIT_EVERY_CELL.set(fit)
    try:
        yield
    finally:
        _FIT_EVERY_CELL.reset(token)


# Whether a right-aligned column's heading is right-aligned too, over its figures (report layout
# 7 and statement layout 7 on); the earlier layouts left-aligned every heading, so a heading
# such as "Held" stood at the far side of its column from the masses under it.
_RIGHT_HEADINGS: ContextVar[bool] = ContextVar("right_headings", default=True)


@contextmanager
def right_headings(aligned: bool) -> Iterator[None]:
    """Build the tables inside with each right-aligned column's heading right-aligned
    (`aligned`), or every heading left-aligned as the earlier layouts did."""
    token = _RIGHT_HEADINGS.set(aligned)
    try:
        yield
    finally:
        _RIGHT_HEADINGS.reset(token)


# Whether a cell keeps a figure whole on its line (report layout 21 and statement layout 16 on):
# a mass with its unit ("32.000 mg"), a time with its date ("2025-07-01 09:00 UTC"), as the
# terminal tables keep them; the earlier layouts broke a line at any space, so a description
# cell could end a line on "32.000" and start the next on "mg".
_WHOLE_FIGURES: ContextVar[bool] = ContextVar("whole_figures", default=True)


@contextmanager
def whole_figures(whole: bool) -> Iterator[None]:
    """Wrap the cells inside keeping a mass with its unit and a time with its date (`whole`),
    or breaking at any space, as the layouts before."""
    token = _WHOLE_FIGURES.set(whole)
    try:
        yield
    finally:
        _WHOLE_FIGURES.reset(token)


class _TableInternals(Protocol):
    """What `TextTable` uses of reportlab's `Table` below its public API (see above)."""

    _curweight: Any
    _curcolor: Any
    _curcellstyle: Any
    _rowpositions: list[float]
    _colpositions: list[float]
    _rowHeights: list[float]
    _colWidths: list[float]
    _cellvalues: list[list[Any]]
    _cellStyles: list[list[CellStyle]]

    def _makeRoundedCornersClip(self) -> None: ...
    def _drawBkgrnd(self) -> None: ...
    def _drawLines(self) -> None: ...


class _TextInternals(Protocol):
    """What `_CellText` and `_Memo` use of reportlab's `PDFTextObject` below its public API."""

    _code: list[str]
    _curSubset: int

    def _formatText(self, text: str) -> str: ...


def widest_mass() -> str:
    """The widest text `format_mass` writes for a mass the ledger accepts (up to MAX_MASS_UG),
    in the cell font: "9,999.999999 g" (the font's digits share one width)."""
    measure = measurer()
    return max((format_mass(MAX_MASS_UG - 1), format_mass(999_999), format_mass(999)), key=measure)


def masses_fitted(
    widths: Sequence[float], masses: Iterable[int], donors: Sequence[int]
) -> tuple[float, ...]:
    """`widths` (fractions of the usable width) with each column in `masses` at least as wide
    as `widest_mass` on one line, the room taken from the `donors` (columns that wrap anyway)
    in proportion to their widths; the table stays as wide."""
    # rounded up to 1/10,000: a fraction rounded down would leave the widest mass a hair short
    need = math.ceil((measurer()(widest_mass()) + 2 * CELL_PADDING) / full_width() * 1e4) / 1e4
    wider = {c: need for c in masses if widths[c] < need}
    extra = sum(need - widths[c] for c in wider)
    pool = sum(widths[c] for c in donors)
    assert extra < pool, f"columns {list(donors)} cannot give {extra:.4f} of the width"
    keep = 1 - extra / pool
    return tuple(wider.get(c, w * keep if c in donors else w) for c, w in enumerate(widths))


def words_fit(texts: Iterable[str], width: float) -> bool:
    """Whether every word of `texts` fits whole on a line of a column `width` (a fraction of
    the usable width) wide, in the cell font."""
    room = width * full_width() - 2 * CELL_PADDING
    measure = measurer()
    return all(measure(word) <= room for text in texts for word in text.split())


def data_tables(
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    widths: Sequence[float],
    *,
    marked: Sequence[int] = (),
    total: bool = False,
    align_right: Sequence[int] = (),
) -> list[Any]:
    """Tables of at most TABLE_CHUNK rows each, header repeated on every page.

    `rows` may be any iterable (a generator keeps a long report from holding every row twice);
    `widths` are fractions of the usable width; `marked` are row indexes to highlight;
    `total` shades the last row. Every cell wraps within its column (see `fitted_cells` for
    the rule of the earlier layouts). Cells are plain text broken into lines here (never a
    Paragraph each) and drawn by `TextTable`, so a table of thousands of rows lays out and
    draws in linear time.
    """
    chunks = _chunks(rows)
    first = next(chunks, None)
    if first is None:
        return [para("(none)", styles()["note"])]
    columns = _columns(header, widths, align_right)
    marked_set = set(marked)
    out: list[Any] = []
    start = 0  # the index, among all rows, of the chunk's first row
    for chunk, last in chain((first,), chunks):
        table = columns.table(chunk)
        table.setStyle(_chunk_style(len(chunk), start, marked_set, shade_total=total and last))
        out.append(table)
        start += len(chunk)
    return out


def _chunks(rows: Iterable[Sequence[Any]]) -> Iterator[tuple[list[Sequence[Any]], bool]]:
    """The rows TABLE_CHUNK at a time, each chunk with whether it is the last."""
    pending = iter(rows)
    chunk = list(islice(pending, TABLE_CHUNK))
    while chunk:
        following = list(islice(pending, TABLE_CHUNK))
        yield chunk, not following
        chunk = following


@dataclass(frozen=True)
class _Columns:
    """What every chunk of one data table shares: column widths, the wrapped header, styles."""

    widths_pt: list[float]
    cells: "_Cells"
    head_row: list[str]
    head_height: float
    head_styles: list[CellStyle]
    body_styles: list[CellStyle]

    def table(self, chunk: list[Sequence[Any]]) -> "TextTable":
        """A table of the header and the chunk's rows, each cell wrapped to its column."""
        data = [self.head_row]
        heights = [self.head_height]
        for row in chunk:
            texts, lines = self.cells.row(row)
            data.append(texts)
            heights.append(_height(lines))
        return TextTable(
            data,
            colWidths=self.widths_pt,
            rowHeights=heights,
            repeatRows=1,
            hAlign="LEFT",
            normalizedData=1,
            cellStyles=[self.head_styles, *[self.body_styles] * len(chunk)],
        )


def _columns(
    header: Sequence[str], widths: Sequence[float], align_right: Sequence[int]
) -> _Columns:
    """The columns of a data table: `widths` as fractions of the usable width."""
    usable = full_width()
    col_widths = [usable * w for w in widths]
    cells = _Cells([w - 2 * CELL_PADDING for w in col_widths], fit=_FIT_EVERY_CELL.get())
    head_row = [cells.wrap(h, column) for column, h in enumerate(header)]
    head_height = _height(max(h.count("\n") for h in head_row) + 1)
    body_styles = [_cell_style("RIGHT" if c in align_right else "LEFT") for c in range(len(widths))]
    head_styles = body_styles if _RIGHT_HEADINGS.get() else [_cell_style("LEFT") for _ in widths]
    return _Columns(col_widths, cells, head_row, head_height, head_styles, body_styles)


def _chunk_style(count: int, start: int, marked: set[int], *, shade_total: bool) -> TableStyle:
    """A shaded, ruled header; the marked rows among the chunk's `count` from `start`
    highlighted; the total row (the last of the last chunk) shaded and ruled above."""
    commands: list[Any] = [
        ("BACKGROUND", (0, 0), (-1, 0), SHADE),
        ("LINEBELOW", (0, 0), (-1, 0), 0.6, RULE),
    ]
    for index in range(start, start + count):
        if index in marked:
            commands.append(("BACKGROUND", (0, index - start + 1), (-1, index - start + 1), MARK))
    if shade_total:
        commands.append(("BACKGROUND", (0, -1), (-1, -1), SHADE))
        commands.append(("LINEABOVE", (0, -1), (-1, -1), 0.6, RULE))
    return TableStyle(commands)


def _cell_style(alignment: Literal["LEFT", "RIGHT"]) -> CellStyle:
    """The style of every cell of a column (shared by its rows: never set cell commands)."""
    style = CellStyle(alignment)
    style.fontname = FONT
    style.fontsize = CELL_SIZE
    style.leading = CELL_LEADING
    style.valign = "TOP"
    style.alignment = alignment
    style.topPadding = style.bottomPadding = CELL_V_PADDING
    style.leftPadding = style.rightPadding = CELL_PADDING
    return style


def _height(lines: int) -> float:
    """The height of a row whose tallest cell has `lines` lines."""
    return lines * CELL_LEADING + 2 * CELL_V_PADDING


class _Cells:
    """Turns table rows into plain cell strings, long ones wrapped to their column's width.

    Wrapped text is memoised per column (the same time, actor or condition recurs on many rows),
    up to MEMO_SIZE values a column. `fit`: every cell is fitted (layout 5 on); otherwise, as
    before, strings of up to WRAP_OVER characters are written as they are, however wide.
    """

    def __init__(self, widths: list[float], *, fit: bool = True) -> None:
        self.widths = widths
        self.fit = fit
        self.shrink = 0.0 if fit else SPACE_SHRINK
        self.measure = measurer()
        self.seen: list[dict[str, tuple[str, int]]] = [{} for _ in widths]

    def wrap(self, text: str, column: int) -> str:
        """Text wrapped to a column, lines joined by newlines."""
        return "\n".join(self._lines(text, column))

    def _lines(self, text: str, column: int) -> list[str]:
        """A cell's lines: each of its own lines (a newline in the text) wrapped to the column;
        an empty own line stays, as room to write in."""
        width, shrink = self.widths[column], self.shrink
        if "\n" not in text:
            return wrap_lines(text, width, self.measure, shrink=shrink)
        lines: list[str] = []
        for own in text.split("\n"):
            lines.extend(wrap_lines(own, width, self.measure, shrink=shrink) or [""])
        return lines

    def _fits(self, cell: Any, column: int) -> bool:
        """Whether a number fits its column as it is: measured, not memoised (a sequence number
        is new on every row); a string is wrapped through the memo (the same values recur)."""
        return type(cell) is int and self.measure(str(cell)) <= self.widths[column]

    def row(self, row: Sequence[Any]) -> tuple[list[str], int]:
        """A row's cell strings and the line count of its tallest cell."""
        texts: list[str] = []
        tallest = 1
        for column, cell in enumerate(row):
            value = cell if type(cell) is str else "" if cell is None else str(cell)
            if not value or (not self.fit and _never_wrapped(cell)) or self._fits(cell, column):
                texts.append(value)
                continue
            seen = self.seen[column]
            done = seen.get(value)
            if done is None:
                if len(seen) >= MEMO_SIZE:  # unique values (descriptions) would fill it
                    seen.clear()
                lines = self._lines(value, column)
                done = seen[value] = ("\n".join(lines), len(lines))
            texts.append(done[0])
            if done[1] > tallest:
                tallest = done[1]
        return texts, tallest


def _never_wrapped(cell: Any) -> bool:
    """Whether the layouts before 5 wrote a cell as it was: anything but a string, and a
    string of up to WRAP_OVER characters on one line (however wide: the defect layout 5 fixes)."""
    return type(cell) is not str or (len(cell) <= WRAP_OVER and "\n" not in cell)


class TextTable(Table):
    """A Table of plain-text cells, drawn with a few PDF objects per page instead of hundreds.

    reportlab's Table draws each line of each cell with `drawString` (a text object apiece)
    and each row rule with `line`; this draws the backgrounds and line commands as Table does,
    a thin rule under every row after the first as one path, and every cell's text as one text
    object (`_CellText`), at the places Table would draw TOP-aligned cells. Cells must be
    strings; SPAN, shadows, rounded corners and render callbacks are not supported.
    """

    @property
    def _inner(self) -> _TableInternals:
        """This table as the reportlab internals it draws with."""
        return cast(_TableInternals, self)

    def draw(self) -> None:
        """Backgrounds, rules and line commands, then the text of every cell at once."""
        canv, inner = self.canv, self._inner
        canv.saveState()
        inner._curweight = inner._curcolor = inner._curcellstyle = None
        inner._makeRoundedCornersClip()
        inner._drawBkgrnd()
        self._draw_rules()
        inner._drawLines()
        canv.restoreState()
        self._draw_text()

    def _draw_rules(self) -> None:
        """A thin rule under each row but the header, as one path."""
        inner = self._inner
        below = inner._rowpositions[2:]
        if not below:
            return
        canv = self.canv
        num = _memo(canv).number
        left, right = num(inner._colpositions[0]), num(inner._colpositions[-1])
        canv.saveState()
        canv.setStrokeColor(SHADE)
        canv.setLineWidth(ROW_RULE)
        canv.setLineCap(1)
        canv.setLineJoin(1)
        canv.addLiteral(" ".join(f"{left} {num(y)} m {right} {num(y)} l" for y in below) + " S")
        canv.restoreState()

    def _draw_text(self) -> None:
        """Every cell's lines, top-aligned, left or right as the column's style says."""
        text, inner = _CellText(self.canv), self._inner
        rows = zip(
            inner._cellvalues,
            inner._cellStyles,
            inner._rowpositions[1:],
            inner._rowHeights,
            strict=True,
        )
        for row, row_styles, bottom, height in rows:
            top = bottom + height
            # _colpositions has one more entry than there are columns: its last, the right edge
            for value, style, left, width in zip(
                row, row_styles, inner._colpositions, inner._colWidths, strict=False
            ):
                if not value:
                    continue
                y = top - style.topPadding - style.fontsize
                if style.alignment == "RIGHT":
                    right = left + width - style.rightPadding
                    for line in value.split("\n"):
                        text.lines_at(right - text.measure(line), y, (line,))
                        y -= style.leading
                else:
                    text.lines_at(left + style.leftPadding, y, value.split("\n"))
        self.canv.drawText(text)


class _Memo:
    """Per document (canvas): formatted numbers, and how the cell font writes each character.

    reportlab's TrueType subsets keep printable ASCII at its own codes in subset 0
    (`rl_config.ttfAsciiReadable`, checked here once); any other character gets its code when
    first written. `codes` maps each character known to be in subset 0 to its escaped code,
    so a line of such characters is written with one `str.translate`.
    """

    def __init__(self, canv: Any) -> None:
        self.numbers: dict[float, str] = {}
        self.codes: dict[int, str] = dict(_PDF_ESCAPES)
        self.elsewhere: set[str] = set()  # characters in another subset
        probe = PDFTextObject(canv)
        probe.setFont(FONT, CELL_SIZE, CELL_LEADING)
        self.probe = cast(_TextInternals, probe)
        self.fast = self._written(_PRINTABLE_ASCII) == _PRINTABLE_ASCII.translate(self.codes)

    def number(self, value: float) -> str:
        """`fp_str(value)`, memoised."""
        text = self.numbers.get(value)
        if text is None:
            text = self.numbers[value] = fp_str(value)
        return text

    def writable(self, line: str) -> bool:
        """Whether every character of a line is in subset 0 (so `codes` can write it)."""
        if not self.fast:
            return False
        for char in line.translate(_DROP_PRINTABLE_ASCII):
            if ord(char) in self.codes:
                continue
            if char in self.elsewhere:
                return False
            written = self._written(char)
            if written is None:
                self.elsewhere.add(char)
                return False
            self.codes[ord(char)] = written
        return True

    def _written(self, text: str) -> str | None:
        """The escaped codes reportlab writes for text while subset 0 is current, or None."""
        probe = self.probe
        probe._curSubset = 0
        out = probe._formatText(text)
        if probe._curSubset != 0 or not out.startswith("(") or not out.endswith(") Tj"):
            return None
        return out[1:-4]


def _memo(canv: Any) -> _Memo:
    """The canvas's memo (the font subset codes it remembers are that document's)."""
    memo = canv.__dict__.get("_sl_memo")
    if memo is None:
        memo = canv.__dict__["_sl_memo"] = _Memo(canv)
    return memo


class _CellText(PDFTextObject):
    """A text object in the cell font: lines of subset-0 characters written by `_Memo.codes`,
    any other line (or the first, which selects the subset) by reportlab."""

    def __init__(self, canv: Any) -> None:
        super().__init__(canv)
        self.setFont(FONT, CELL_SIZE, CELL_LEADING)
        self.setFillColor(colors.black)
        self.memo = _memo(canv)
        self.measure = measurer()

    def lines_at(self, x: float, y: float, lines: Sequence[str]) -> None:
        """Write lines from (x, y) down, one leading apart."""
        memo, inner = self.memo, cast(_TextInternals, self)
        code = inner._code
        code.append(f"1 0 0 1 {memo.number(x)} {memo.number(y)} Tm")
        for line in lines:
            if not plain_in_font(line):  # first: the report font "writes" a glyph it lacks
                self._runs(line)
            elif inner._curSubset == 0 and memo.writable(line):
                code.append(f"({line.translate(memo.codes)}) Tj T*")
            else:
                code.append(inner._formatText(line) + " T*")

    def _runs(self, line: str) -> None:
        """A line in runs of one font each (`layout.font_runs`), the cell font set again after."""
        inner = cast(_TextInternals, self)
        for font, run in font_runs(line):
            self.setFont(font, CELL_SIZE, CELL_LEADING)
            inner._code.append(inner._formatText(run))
        self.setFont(FONT, CELL_SIZE, CELL_LEADING)
        inner._code.append("T*")


_PDF_ESCAPES = str.maketrans({"\\": "\\\\", "(": "\\(", ")": "\\)"})
_PRINTABLE_ASCII = "".join(map(chr, range(32, 127)))
_DROP_PRINTABLE_ASCII = str.maketrans("", "", _PRINTABLE_ASCII)


def wrap_lines(
    text: str,
    width: float,
    measure: Callable[[str], float] | None = None,
    *,
    shrink: float = SPACE_SHRINK,
) -> list[str]:
    """Break text at spaces into lines that fit `width` points, as a Paragraph would.

    Whitespace collapses to single spaces; a word wider than a whole line breaks where a reader
    expects it (`word_pieces`: before an `@`, after a `.`, `-`, `/` …), its first piece filling
    the rest of the current line, and only a piece still wider than a line is cut between
    characters; a line may run over by `shrink` of a space per word (Paragraph's
    spaceShrinkage, 5 %; 0 in the fitted layouts, where no line passes `width`).
    `measure` gives a string's width in points (default: the cell font, see `measurer`).
    """
    measure = measure or measurer()
    words = text.split()
    single = " ".join(words)
    if measure(single) <= width:  # the usual case: it all fits on one line
        return [single] if single else []
    if _WHOLE_FIGURES.get():
        words = _figures_joined(words, lambda joined: measure(joined) <= width)
    space = measure(" ")
    allowance = shrink * space
    lines: list[str] = []
    line: list[str] = []
    used = 0.0  # width of the words on `line`, with the spaces between them
    for word in words:
        w = measure(word)
        if w > width:  # a long word: break it, its first piece filling the current line
            at = used + space if line else 0.0
            piece = ""
            for unit in _break_units(word, width, measure):
                cw = measure(unit)
                if at + cw > width and (piece or cw <= width):
                    if piece:
                        line.append(piece)
                    lines.append(" ".join(line))
                    line, piece, at = [], "", 0.0
                piece += unit
                at += cw
            line.append(piece)
            used = at
        elif not line:
            line, used = [word], w
        elif used + space + w <= width + allowance * len(line):
            line.append(word)
            used += space + w
        else:
            lines.append(" ".join(line))
            line, used = [word], w
    if line:
        lines.append(" ".join(line))
    return lines


# The words of a figure a line never breaks: a number and the mass unit after it ("32.000 mg,"),
# a date and the time after it ("(2025-07-01", "09:00"), that time and its zone ("09:00", "UTC)").
_CLOCK = r"[0-9]{2}:[0-9]{2}(?::[0-9]{2})?"
_FIGURE_PAIRS = (
    (re.compile(r"[(\[]?[0-9][0-9,]*(?:\.[0-9]+)?"), re.compile(r"(?:µg|mg|g)[,;:.)\]]*")),
    (re.compile(r"[(\[]?[0-9]{4}-[0-9]{2}-[0-9]{2}"), re.compile(_CLOCK)),
    (re.compile(rf"(?:.* )?{_CLOCK}"), re.compile(r"UTC[,;:.)\]]*")),
)


def _figures_joined(words: list[str], fits: Callable[[str], bool]) -> list[str]:
    """`words` with each figure's words joined into one ("32.000", "mg" → "32.000 mg";
    "2025-07-01", "09:00", "UTC" → "2025-07-01 09:00 UTC"), where the joined figure `fits` a
    line; one that does not stays in its words, to break as before."""
    joined: list[str] = []
    for word in words:
        if joined and _is_figure_pair(joined[-1], word) and fits(f"{joined[-1]} {word}"):
            joined[-1] = f"{joined[-1]} {word}"
        else:
            joined.append(word)
    return joined


def _is_figure_pair(before: str, word: str) -> bool:
    """Whether `word` ends the figure `before` begins (a unit after its number, a time after
    its date, a zone after its time)."""
    return any(
        first.fullmatch(before) and second.fullmatch(word) for first, second in _FIGURE_PAIRS
    )


_COARSE_BREAKS = re.compile(r"(?<=.)(?=[@(])")  # before an e-mail's @, an opening bracket
_FINE_BREAKS = re.compile(r"(?<=[./\-_,;:)])(?=.)")  # after a dot, slash, hyphen …


def word_pieces(word: str, fits: Callable[[str], bool] = lambda _piece: False) -> list[str]:
    """A word cut where a line may break inside it: first only before `@` or `(`; a piece
    that still does not fit (`fits`) also after `.`, `/`, `-`, `_`, `,`, `;`, `:` or `)`
    (`li.na@naoc.example` → `li.na`, `@naoc.example`, or `li.`, `na`, `@naoc.`, `example`)."""
    pieces: list[str] = []
    for piece in _COARSE_BREAKS.split(word):
        pieces.extend([piece] if fits(piece) else _FINE_BREAKS.split(piece))
    return pieces


def _break_units(word: str, width: float, measure: Callable[[str], float]) -> Iterator[str]:
    """The units a long word is packed from: its pieces, and the characters of a piece that is
    itself wider than a line."""
    for piece in word_pieces(word, lambda piece: measure(piece) <= width):
        if measure(piece) <= width:
            yield piece
        else:
            yield from piece


def measurer(size: float = CELL_SIZE) -> Callable[[str], float]:
    """A function giving a string's width in points in the report font at `size`.

    The same sum as reportlab's `stringWidth` for a TrueType font, done by `map` and `sum`.
    """
    register_font()
    face = cast(TTFont, pdfmetrics.getFont(FONT)).face  # register_font registers a TTFont
    width_of, default, scale = face.charWidths.get, face.defaultWidth, 0.001 * size

    def measure(text: str) -> float:
        """The width of `text` in points, in the report font at `size`."""
        return scale * sum(map(width_of, map(ord, text), repeat(default)))

    if not drawing_other_scripts():
        return measure

    def measure_drawn(text: str) -> float:
        """The width of `text` in points at `size`, as it is drawn: a right-to-left word
        shaped, a character the report font lacks in FALLBACK_FONT (layout 21 on)."""
        return measure(text) if plain_in_font(text) else text_width(text, size)

    return measure_drawn
