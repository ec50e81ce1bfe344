"""Page layout shared by every report: A4, fonts, styles, header, footer, QR code, metadata.

Font: **WenQuanYi Micro Hei** (`wqy-microhei.ttc`, Apache-2.0/GPLv3 with font exception), one
TrueType face with Latin, Latin-1/Extended (Münker, Université, µ) and CJK (大学) glyphs, so
every name renders in one font and reportlab embeds only the glyphs used (subset). The Noto CJK
fonts are CFF/OpenType, which reportlab cannot embed, and no PyPI package ships a TrueType CJK
face; so the project ships the font file itself (`reports/fonts/wqy-microhei.ttc`, Apache-2.0,
copyright notice beside it), taken from Debian's fonts-wqy-microhei. Shipping it also keeps the
PDFs byte-identical across machines. `SAMPLELOANS_REPORT_FONT` (a .ttf/.ttc path) overrides it.

`build_pdf` is deterministic (`invariant=1`, fixed metadata, no user, host or path anywhere):
the same story and arguments give byte-identical files. The PDF's CreationDate and ModDate are
the report's generation time (`created_at`), not reportlab's invariant 2000-01-01.

Long reports (a custody report of 100,000 events has some 5,500 pages) stay linear and lean:
data tables hold plain, pre-wrapped text in `TextTable`s of TABLE_CHUNK rows, which write a
page's cells as one text object; what every page repeats is one form XObject; pages are held
only until 'page N of M' can be written.
"""

import gc
import io
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from itertools import groupby, islice, repeat
from pathlib import Path
from typing import Any

from reportlab import rl_config
from reportlab.graphics.barcode import qrencoder
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.rl_accel import fp_str
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas as canvas_module
from reportlab.pdfgen.textobject import PDFTextObject
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from reportlab.platypus.flowables import CondPageBreak, KeepTogether
from reportlab.platypus.tables import CellStyle

from sampleloans.errors import StorageError

FONT = "SLSans"
PAGE = A4
MARGIN = 16 * mm
TABLE_CHUNK = 500  # rows per Table: one giant Table lays out in quadratic time
PACKAGED_FONT = Path(__file__).resolve().parent / "fonts" / "wqy-microhei.ttc"
PRODUCER = "sampleloans"
GREY = colors.HexColor("#555555")
RULE = colors.HexColor("#888888")
SHADE = colors.HexColor("#ECECEC")
MARK = colors.HexColor("#FBE3D6")
CELL_SIZE = 7  # points, the font size of table cells
CELL_LEADING = 8.5
CELL_PADDING = 2
CELL_V_PADDING = 1.2
DECORATION = "decoration"  # the form XObject of what every page repeats
QR_BORDER = 4  # modules of quiet zone around the QR code
ROW_RULE = 0.2  # points, the thin rule under each table row
MEMO_SIZE = 4096  # wrapped cell texts remembered per column
WRAP_OVER = 14  # strings longer than this wrap within their column; shorter ones never do
SECTION_ROOM = 32 * mm  # a heading followed by a table starts a new page with less room left
SIGNATURE_ROW_LINES = 4  # lines of room in a hand-over signature cell


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a report is laid out.

    A long report makes hundreds of thousands of small objects, few of them in cycles; the
    collector's passes over them cost a tenth of the time. Cycles left are collected after.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def font_path() -> Path:
    """The TrueType file with Latin and CJK glyphs, or a StorageError saying how to get one."""
    override = os.environ.get("SAMPLELOANS_REPORT_FONT")
    if override:
        if not Path(override).is_file():
            raise StorageError(f"SAMPLELOANS_REPORT_FONT: no font file at {override}")
        return Path(override)
    if PACKAGED_FONT.is_file():
        return PACKAGED_FONT
    raise StorageError(
        f"the report font {PACKAGED_FONT} is missing from the installation; reinstall "
        "sampleloans or set SAMPLELOANS_REPORT_FONT to a .ttf/.ttc with Latin and CJK glyphs"
    )


def register_font() -> None:
    """Register the report font once per process."""
    if FONT in pdfmetrics.getRegisteredFontNames():
        return
    path = font_path()
    try:
        pdfmetrics.registerFont(TTFont(FONT, str(path), subfontIndex=0))
    except Exception as exc:  # reportlab raises its own TTFError and others
        raise StorageError(f"report font {path.name} cannot be used: {exc}") from None
    pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=FONT, italic=FONT, boldItalic=FONT)


@cache
def styles() -> dict[str, ParagraphStyle]:
    """The paragraph styles of every report (made once per process; never mutate them)."""
    register_font()
    base = ParagraphStyle("base", fontName=FONT, fontSize=9, leading=11.5, alignment=TA_LEFT)
    return {
        "body": base,
        "small": ParagraphStyle("small", parent=base, fontSize=7, leading=8.5),
        "cell": ParagraphStyle("cell", parent=base, fontSize=7, leading=8.5),
        "h1": ParagraphStyle("h1", parent=base, fontSize=16, leading=20, spaceAfter=4),
        "h2": ParagraphStyle(
            "h2", parent=base, fontSize=11.5, leading=14, spaceBefore=8, spaceAfter=3
        ),
        "note": ParagraphStyle("note", parent=base, fontSize=8, leading=10, textColor=GREY),
    }


def esc(text: object) -> str:
    """Text escaped for a Paragraph (user text never becomes markup)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def short_head(head: str) -> str:
    """`212:5f0c1a…9be2` for a full `SEQ:HASH`."""
    seq, _, hash_hex = head.partition(":")
    return f"{seq}:{hash_hex[:6]}…{hash_hex[-4:]}" if len(hash_hex) > 12 else head


def para(text: str, style: ParagraphStyle) -> Paragraph:
    """A paragraph of escaped text."""
    return Paragraph(esc(text), style)


def heading(text: str) -> Paragraph:
    """A section heading."""
    return para(text, styles()["h2"])


def key_values(
    pairs: Sequence[tuple[str, str]], width: float | None = None, *, marked: Sequence[int] = ()
) -> Table:
    """A two-column table of labels and values; `marked` rows are highlighted (a warning)."""
    st = styles()
    usable = width or (PAGE[0] - 2 * MARGIN)
    rows = [[para(k, st["note"]), para(v, st["body"])] for k, v in pairs]
    table = Table(rows, colWidths=[usable * 0.28, usable * 0.72], hAlign="LEFT")
    commands: list[Any] = [
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 0), (-1, -1), 0.25, SHADE),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
    ]
    commands += [("BACKGROUND", (0, row), (-1, row), MARK) for row in marked]
    table.setStyle(TableStyle(commands))
    return table


def section(title: str, content: Sequence[Any]) -> list[Any]:
    """A heading kept on the same page as its content.

    Short content (key-value lines, a paragraph, a chart) moves to the next page with its
    heading when it does not fit (KeepTogether); a data table, which may run over many pages,
    starts on a new page only when less than SECTION_ROOM is left (CondPageBreak), so the
    heading always stands above its first rows.
    """
    if any(isinstance(item, TextTable) for item in content):
        return [CondPageBreak(SECTION_ROOM), heading(title), *content]
    return [KeepTogether([heading(title), *content])]


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
    `total` shades the last row. Strings longer than WRAP_OVER characters wrap within their
    column. Cells are plain text broken into lines here (never a Paragraph each) and drawn by
    `TextTable`, so a table of thousands of rows lays out and draws in linear time.
    """
    pending = iter(rows)
    chunk = list(islice(pending, TABLE_CHUNK))
    if not chunk:
        return [para("(none)", styles()["note"])]
    usable = PAGE[0] - 2 * MARGIN
    col_widths = [usable * w for w in widths]
    cells = _Cells([w - 2 * CELL_PADDING for w in col_widths])
    head_row = [cells.wrap(h, column) for column, h in enumerate(header)]
    head_height = _height(max(h.count("\n") for h in head_row) + 1)
    head_styles = [_cell_style("LEFT") for _ in widths]
    body_styles = [_cell_style("RIGHT" if c in align_right else "LEFT") for c in range(len(widths))]
    marked_set = set(marked)
    out: list[Any] = []
    start = 0
    while chunk:
        following = list(islice(pending, TABLE_CHUNK))
        data = [head_row]
        heights = [head_height]
        for row in chunk:
            texts, lines = cells.row(row)
            data.append(texts)
            heights.append(_height(lines))
        table = TextTable(
            data,
            colWidths=col_widths,
            rowHeights=heights,
            repeatRows=1,
            hAlign="LEFT",
            normalizedData=1,
            cellStyles=[head_styles, *[body_styles] * len(chunk)],
        )
        commands: list[Any] = [
            ("BACKGROUND", (0, 0), (-1, 0), SHADE),
            ("LINEBELOW", (0, 0), (-1, 0), 0.6, RULE),
        ]
        for index in range(start, start + len(chunk)):
            if index in marked_set:
                commands.append(
                    ("BACKGROUND", (0, index - start + 1), (-1, index - start + 1), MARK)
                )
        if total and not following:
            commands.append(("BACKGROUND", (0, -1), (-1, -1), SHADE))
            commands.append(("LINEABOVE", (0, -1), (-1, -1), 0.6, RULE))
        table.setStyle(TableStyle(commands))
        out.append(table)
        start += len(chunk)
        chunk = following
    return out


def _cell_style(alignment: str) -> CellStyle:
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
    up to MEMO_SIZE values a column.
    """

    def __init__(self, widths: list[float]) -> None:
        self.widths = widths
        self.measure = measurer()
        self.seen: list[dict[str, tuple[str, int]]] = [{} for _ in widths]

    def wrap(self, text: str, column: int) -> str:
        """Text wrapped to a column, lines joined by newlines."""
        return "\n".join(self._lines(text, column))

    def _lines(self, text: str, column: int) -> list[str]:
        """A cell's lines: each of its own lines (a newline in the text) wrapped to the column;
        an empty own line stays, as room to write in."""
        if "\n" not in text:
            return wrap_lines(text, self.widths[column], self.measure)
        lines: list[str] = []
        for own in text.split("\n"):
            lines.extend(wrap_lines(own, self.widths[column], self.measure) or [""])
        return lines

    def row(self, row: Sequence[Any]) -> tuple[list[str], int]:
        """A row's cell strings and the line count of its tallest cell."""
        texts: list[str] = []
        tallest = 1
        for column, value in enumerate(row):
            if type(value) is not str:
                texts.append("" if value is None else str(value))
            elif len(value) <= WRAP_OVER and "\n" not in value:
                texts.append(value)
            else:
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


class TextTable(Table):
    """A Table of plain-text cells, drawn with a few PDF objects per page instead of hundreds.

    reportlab's Table draws each line of each cell with `drawString` (a text object apiece)
    and each row rule with `line`; this draws the backgrounds and line commands as Table does,
    a thin rule under every row after the first as one path, and every cell's text as one text
    object (`_CellText`), at the places Table would draw TOP-aligned cells. Cells must be
    strings; SPAN, shadows, rounded corners and render callbacks are not supported.
    """

    def draw(self) -> None:
        """Backgrounds, rules and line commands, then the text of every cell at once."""
        canv = self.canv
        canv.saveState()
        self._curweight = self._curcolor = self._curcellstyle = None
        self._makeRoundedCornersClip()
        self._drawBkgrnd()
        self._draw_rules()
        self._drawLines()
        canv.restoreState()
        self._draw_text()

    def _draw_rules(self) -> None:
        """A thin rule under each row but the header, as one path."""
        below = self._rowpositions[2:]
        if not below:
            return
        canv = self.canv
        num = _memo(canv).number
        left, right = num(self._colpositions[0]), num(self._colpositions[-1])
        canv.saveState()
        canv.setStrokeColor(SHADE)
        canv.setLineWidth(ROW_RULE)
        canv.setLineCap(1)
        canv.setLineJoin(1)
        canv.addLiteral(" ".join(f"{left} {num(y)} m {right} {num(y)} l" for y in below) + " S")
        canv.restoreState()

    def _draw_text(self) -> None:
        """Every cell's lines, top-aligned, left or right as the column's style says."""
        text = _CellText(self.canv)
        rows = zip(
            self._cellvalues,
            self._cellStyles,
            self._rowpositions[1:],
            self._rowHeights,
            strict=True,
        )
        for row, row_styles, bottom, height in rows:
            top = bottom + height
            # _colpositions has one more entry than there are columns: its last, the right edge
            for value, style, left, width in zip(
                row, row_styles, self._colpositions, self._colWidths, strict=False
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
        self.probe = PDFTextObject(canv)
        self.probe.setFont(FONT, CELL_SIZE, CELL_LEADING)
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
        memo = self.memo
        code = self._code
        code.append(f"1 0 0 1 {memo.number(x)} {memo.number(y)} Tm")
        for line in lines:
            if self._curSubset == 0 and memo.writable(line):
                code.append(f"({line.translate(memo.codes)}) Tj T*")
            else:
                code.append(self._formatText(line) + " T*")


_PDF_ESCAPES = str.maketrans({"\\": "\\\\", "(": "\\(", ")": "\\)"})
_PRINTABLE_ASCII = "".join(map(chr, range(32, 127)))
_DROP_PRINTABLE_ASCII = str.maketrans("", "", _PRINTABLE_ASCII)


def wrap_lines(text: str, width: float, measure: Callable[[str], float] | None = None) -> list[str]:
    """Break text at spaces into lines that fit `width` points, as a Paragraph would.

    Whitespace collapses to single spaces; a word wider than a whole line breaks where a reader
    expects it (`word_pieces`: before an `@`, after a `.`, `-`, `/` …), its first piece filling
    the rest of the current line, and only a piece still wider than a line is cut between
    characters; a line may run over by 5 % of a space per word (Paragraph's spaceShrinkage).
    `measure` gives a string's width in points (default: the cell font, see `measurer`).
    """
    measure = measure or measurer()
    words = text.split()
    single = " ".join(words)
    if measure(single) <= width:  # the usual case: it all fits on one line
        return [single] if single else []
    space = measure(" ")
    shrink = 0.05 * space
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
        elif used + space + w <= width + shrink * len(line):
            line.append(word)
            used += space + w
        else:
            lines.append(" ".join(line))
            line, used = [word], w
    if line:
        lines.append(" ".join(line))
    return lines


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
    face = pdfmetrics.getFont(FONT).face
    width_of, default, scale = face.charWidths.get, face.defaultWidth, 0.001 * size

    def measure(text: str) -> float:
        return scale * sum(map(width_of, map(ord, text), repeat(default)))

    return measure


def ruled_lines(count: int) -> Table:
    """`count` empty ruled lines, the full width, to write on by hand."""
    usable = PAGE[0] - 2 * MARGIN
    table = Table([[""]] * count, colWidths=[usable], rowHeights=[7 * mm] * count, hAlign="LEFT")
    table.setStyle(TableStyle([("LINEBELOW", (0, 0), (-1, -1), 0.4, RULE)]))
    return table


def signature_blocks(roles: Sequence[str]) -> KeepTogether:
    """Signature lines for each role: name, signature, date."""
    st = styles()
    usable = PAGE[0] - 2 * MARGIN
    cells = []
    for role in roles:
        cells.append(
            [
                para(role, st["body"]),
                Spacer(1, 12 * mm),
                para("Name: ______________________________", st["note"]),
                para("Signature: __________________________", st["note"]),
                para("Date: _______________________________", st["note"]),
            ]
        )
    table = Table([cells], colWidths=[usable / len(roles)] * len(roles), hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("BOX", (0, 0), (-1, -1), 0.4, RULE),
                ("INNERGRID", (0, 0), (-1, -1), 0.4, RULE),
            ]
        )
    )
    return KeepTogether([heading("Signatures"), table])


def pdf_date(moment: datetime) -> Callable[..., str]:
    """A reportlab date formatter that writes `moment` (UTC) as a PDF date, whatever it is
    given: CreationDate and ModDate say when the report was generated, the same on every run."""
    u = moment.astimezone(UTC)
    text = f"D:{u.year:04d}{u.month:02d}{u.day:02d}{u.hour:02d}{u.minute:02d}{u.second:02d}+00'00'"

    def formatter(*_ymdhms: int) -> str:
        return text

    return formatter


def _numbered_canvas(
    title: str,
    scope: str,
    head: str,
    digest: str,
    generated_at: str,
    qr_payload: str,
    created_at: datetime,
    attachments: Sequence[tuple[str, str, bytes]] = (),
) -> type:
    """A canvas that holds every page until the end so the footer can say 'page N of M'.

    What every page repeats (running head, rules, footer line) is one form XObject drawn on
    each page; only 'page N of M' is written page by page.
    """

    class NumberedCanvas(canvas_module.Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._saved: list[dict[str, Any]] = []
            self.setDateFormatter(pdf_date(created_at))

        def showPage(self) -> None:
            self._saved.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            saved, self._saved = self._saved, []
            total = len(saved)
            self.beginForm(DECORATION)
            _decorate(self, title, scope, head, digest, generated_at)
            self.endForm()
            for number in range(1, total + 1):
                # let go of each page's operators once reportlab has them (half the peak memory)
                state, saved[number - 1] = saved[number - 1], {}
                self.__dict__.update(state)
                del state
                self.doForm(DECORATION)
                _page_number(self, number, total)
                if number == 1:
                    _draw_qr(self, qr_payload)
                super().showPage()
            if attachments:
                embed_files(self, attachments)
            super().save()

    return NumberedCanvas


def embed_files(c: Any, files: Sequence[tuple[str, str, bytes]]) -> None:
    """Embed files in the document (the catalog's EmbeddedFiles name tree, PDF 1.7 7.11.4),
    which PDF readers list as attachments; reportlab has no API for it, only the objects."""
    from reportlab.pdfbase import pdfdoc

    doc = c._doc
    names: list[Any] = []
    for name, mime, data in sorted(files):
        stream = pdfdoc.PDFStream(
            pdfdoc.PDFDictionary(
                {"Type": pdfdoc.PDFName("EmbeddedFile"), "Subtype": pdfdoc.PDFName(mime)}
            ),
            data,
        )
        spec = pdfdoc.PDFDictionary(
            {
                "Type": pdfdoc.PDFName("Filespec"),
                "F": pdfdoc.PDFString(name),
                "UF": pdfdoc.PDFString(name),
                "EF": pdfdoc.PDFDictionary({"F": doc.Reference(stream)}),
            }
        )
        names += [pdfdoc.PDFString(name), doc.Reference(spec)]
    doc.Catalog.Names = pdfdoc.PDFDictionary(
        {"EmbeddedFiles": pdfdoc.PDFDictionary({"Names": pdfdoc.PDFArray(names)})}
    )


def _decorate(c: Any, title: str, scope: str, head: str, digest: str, generated_at: str) -> None:
    """Running head, rules and footer line: the same on every page."""
    width, height = PAGE
    c.saveState()
    c.setFont(FONT, 8)
    c.setFillColor(GREY)
    c.drawString(MARGIN, height - 10 * mm, f"{title} — {scope}"[:120])
    c.drawRightString(width - MARGIN, height - 10 * mm, "sampleloans custody ledger")
    c.setStrokeColor(RULE)
    c.setLineWidth(0.4)
    c.line(MARGIN, height - 11.5 * mm, width - MARGIN, height - 11.5 * mm)
    c.line(MARGIN, 12.5 * mm, width - MARGIN, 12.5 * mm)
    c.drawString(
        MARGIN,
        9 * mm,
        f"ledger head {short_head(head)}   content digest {digest[:16]}   generated {generated_at}",
    )
    c.setFont(FONT, 6.5)
    c.drawString(
        MARGIN,
        5.5 * mm,
        "Check this document against the ledger: sampleloans verify-document FILE.pdf",
    )
    c.restoreState()


def _page_number(c: Any, number: int, total: int) -> None:
    """'page N of M' at the right of the footer line."""
    c.saveState()
    c.setFont(FONT, 8)
    c.setFillColor(GREY)
    c.drawRightString(PAGE[0] - MARGIN, 9 * mm, f"page {number} of {total}")
    c.restoreState()


def _draw_qr(c: Any, payload: str) -> None:
    """The QR code of the metadata at the top right of page 1, as one filled path.

    The modules of reportlab's QR encoder, laid out as its QrCodeWidget would (a 4-module
    quiet zone, runs of dark modules as rectangles), without a shape object per run.
    """
    size = 30 * mm
    qr = qrencoder.QRCode(None, qrencoder.QRErrorCorrectLevel.M)
    qr.addData(payload)
    qr.make()
    box = size / (qr.getModuleCount() + 2 * QR_BORDER)
    left, top = PAGE[0] - MARGIN - size, PAGE[1] - 14 * mm
    path = c.beginPath()
    for r, row in enumerate(qr.modules):
        column = 0
        for dark, run in groupby(map(bool, row)):
            count = len(list(run))
            if dark:
                x = left + (column + QR_BORDER) * box
                path.rect(x, top - (r + QR_BORDER + 1) * box, count * box, box)
            column += count
    c.saveState()
    c.setFillColor(colors.black)
    c.drawPath(path, stroke=0, fill=1)
    c.restoreState()


def build_pdf(
    story: list[Any],
    *,
    title: str,
    scope: str,
    head: str,
    digest: str,
    generated_at: str,
    created_at: datetime,
    doc_title: str,
    subject: str,
    keywords: str,
    qr_payload: str,
    attachments: Sequence[tuple[str, str, bytes]] = (),
) -> bytes:
    """Lay out a story on A4 pages with header, footer and QR code; return the PDF bytes.

    `created_at` is written as the PDF's CreationDate and ModDate; `attachments` (name,
    MIME type, bytes) are embedded files (a statement's proofs).
    """
    register_font()
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=PAGE,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=16 * mm,
        bottomMargin=17 * mm,
        title=doc_title,
        author="sampleloans",
        subject=subject,
        creator="sampleloans",
        producer=PRODUCER,
        keywords=keywords,
        invariant=1,
        pageCompression=1,
    )
    canvasmaker = _numbered_canvas(
        title, scope, head, digest, generated_at, qr_payload, created_at, attachments
    )
    # Page streams are Flate-compressed binary, without reportlab's default ASCII85 layer on
    # top: that pure-Python encoder cost a fifth of a long report's time and 25 % of its size.
    a85 = rl_config.useA85
    rl_config.useA85 = 0
    try:
        doc.build(story, canvasmaker=canvasmaker)
    finally:
        rl_config.useA85 = a85
    return buffer.getvalue()


def title_block(
    title: str, lines: Sequence[tuple[str, str]], marked: Sequence[int] = ()
) -> list[Any]:
    """The first page's title and header facts (leaves room for the QR code at the right);
    `marked` lines are highlighted (an overdue return)."""
    st = styles()
    usable = PAGE[0] - 2 * MARGIN - 34 * mm
    return [para(title, st["h1"]), key_values(lines, usable, marked=marked), Spacer(1, 4 * mm)]
