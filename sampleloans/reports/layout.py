"""Page layout shared by every report: A4, fonts, styles, header, footer, QR code, metadata.

Font: **WenQuanYi Micro Hei** (`wqy-microhei.ttc`, Apache-2.0/GPLv3 with font exception), one
TrueType face with Latin, Latin-1/Extended (Münker, Université, µ) and CJK (大学) glyphs, so
every name renders in one font and reportlab embeds only the glyphs used (subset). The Noto CJK
fonts are CFF/OpenType, which reportlab cannot embed, and no PyPI package ships a TrueType CJK
face; so the project ships the font file itself (`reports/fonts/wqy-microhei.ttc`, Apache-2.0,
copyright notice beside it), taken from Debian's fonts-wqy-microhei. Shipping it also keeps the
PDFs byte-identical across machines. `SAMPLELOANS_REPORT_FONT` (a .ttf/.ttc path) overrides it.

A character that face has no glyph for is drawn, from page layout 21 and statement layout 16 on
(`other_scripts`), in a font shipped beside it: Arabic and Urdu letters (SUPARCO is in
Pakistan) in **Noto Naskh Arabic** (`reports/fonts/NotoNaskhArabic-Regular.ttf`, from Debian's
fonts-noto-core, SIL Open Font Licence, notice beside it), so a word's letters come from one
design; any other in **DejaVu Sans** (`reports/fonts/DejaVuSans.ttf`, Bitstream Vera licence);
right-to-left words are shaped and put in reading order first (`scripts.py`). Before, such a
character was written as the missing glyph: nothing visible, a name left blank.

`build_pdf` is deterministic (`invariant=1`, fixed metadata, no user, host or path anywhere):
the same story and arguments give byte-identical files. The PDF's CreationDate and ModDate are
the report's generation time (`created_at`), not reportlab's invariant 2000-01-01.

Long reports (a custody report of 100,000 events has some 5,500 pages) stay linear and lean:
data tables are `tables.py`'s (plain, pre-wrapped text, a page's cells written as one text
object); what every page repeats is one form XObject; pages are held only until 'page N of M'
can be written.

Private reportlab API used here (see the bounds on reportlab in pyproject.toml):
`NumberedCanvas` snapshots and restores the canvas's `__dict__` per page and calls
`Canvas._startPage` (reportlab's own "page N of M" recipe).
"""

import io
import os
import stat
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from functools import cache
from itertools import groupby
from pathlib import Path
from typing import Any, Protocol, cast

from reportlab import rl_config
from reportlab.graphics.barcode import qrencoder
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas as canvas_module
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from reportlab.platypus.flowables import CondPageBreak, KeepTogether

from sampleloans import fileio
from sampleloans.errors import StorageError
from sampleloans.reports.scripts import is_right_to_left, visual

FONT = "SLSans"
PAGE = A4
MARGIN = 16 * mm
PACKAGED_FONT = Path(__file__).resolve().parent / "fonts" / "wqy-microhei.ttc"
FALLBACK_FONT = "SLSansOther"  # DejaVu Sans: the glyphs the report font lacks (Hebrew, …)
PACKAGED_FALLBACK = Path(__file__).resolve().parent / "fonts" / "DejaVuSans.ttf"
ARABIC_FONT = "SLNaskh"  # Noto Naskh Arabic: Arabic script whole, Urdu's letters (ہ ے) too
PACKAGED_ARABIC = Path(__file__).resolve().parent / "fonts" / "NotoNaskhArabic-Regular.ttf"
OTHER_FONTS = {FALLBACK_FONT: PACKAGED_FALLBACK, ARABIC_FONT: PACKAGED_ARABIC}
"""The fonts shipped for what the report font lacks, each registered when first needed."""
PRODUCER = "sampleloans"
GREY = colors.HexColor("#555555")
RULE = colors.HexColor("#888888")
SHADE = colors.HexColor("#ECECEC")
MARK = colors.HexColor("#FBE3D6")
DECORATION = "decoration"  # the form XObject of what every page repeats
RUNNING_HEAD_RIGHT = "sampleloans custody ledger"  # at the top right of every page
QR_BORDER = 4  # modules of quiet zone around the QR code
FRAME_PADDING = 6  # points: reportlab's Frame padding, where the story starts in from the margin

# Whether full-width tables fit inside the document frame (page layout 6 on, statement layout 4
# on) or, as the earlier layouts did, are as wide as the page between its margins: they start at
# the frame's padding, so they ended FRAME_PADDING past the right margin. Set by `framed_tables`
# around the building of a story, so an archived file re-renders byte-identical in its layout.
_TABLES_IN_FRAME: ContextVar[bool] = ContextVar("tables_in_frame", default=True)


@contextmanager
def framed_tables(inside: bool) -> Iterator[None]:
    """Build the tables inside as wide as the frame (`inside`), or as the layouts before."""
    token = _TABLES_IN_FRAME.set(inside)
    try:
        yield
    finally:
        _TABLES_IN_FRAME.reset(token)


def full_width() -> float:
    """The width in points of a full-width table or chart in the layout being built: the
    frame's inner width, so it ends at the right margin (before: the page between its margins)."""
    between_margins = PAGE[0] - 2 * MARGIN
    return between_margins - 2 * FRAME_PADDING if _TABLES_IN_FRAME.get() else between_margins


SECTION_ROOM = 32 * mm  # a heading followed by a table starts a new page with less room left
SIGNATURE_ROW_LINES = 4  # lines of room in a hand-over signature cell


def font_path() -> Path:
    """The TrueType file with Latin and CJK glyphs, or a StorageError saying how to get one."""
    override = os.environ.get("SAMPLELOANS_REPORT_FONT")
    if override:
        # looked up, not `is_file()`: that raises for a name longer than the system allows
        mode = fileio.inspected_mode(Path(override), "SAMPLELOANS_REPORT_FONT")
        if mode is None:
            raise StorageError(f"SAMPLELOANS_REPORT_FONT: no font file at {override}")
        if not stat.S_ISREG(mode):  # a folder, or a FIFO whose read would wait for a writer
            raise StorageError(
                f"SAMPLELOANS_REPORT_FONT: {override} is {fileio.kind_of_file(mode)}, not a "
                "font file; set it to a .ttf/.ttc with Latin and CJK glyphs"
            )
        return Path(override)
    if PACKAGED_FONT.is_file():
        return PACKAGED_FONT
    raise StorageError(
        f"the report font {PACKAGED_FONT} is missing from the installation; reinstall "
        "sampleloans or set SAMPLELOANS_REPORT_FONT to a .ttf/.ttc with Latin and CJK glyphs"
    )


# Whether a character the report font lacks is drawn in FALLBACK_FONT, right-to-left words
# shaped and in reading order (page layout 21, statement layout 16 on), or written in the report
# font as the earlier layouts did: its missing glyph, nothing visible. Set by `other_scripts`.
_OTHER_SCRIPTS: ContextVar[bool] = ContextVar("other_scripts", default=True)


@contextmanager
def other_scripts(drawn: bool) -> Iterator[None]:
    """Draw the text inside with FALLBACK_FONT for what the report font lacks (`drawn`), or in
    the report font alone, as the layouts before."""
    token = _OTHER_SCRIPTS.set(drawn)
    try:
        yield
    finally:
        _OTHER_SCRIPTS.reset(token)


def drawing_other_scripts() -> bool:
    """Whether the text being laid out draws other scripts (`other_scripts`)."""
    return _OTHER_SCRIPTS.get()


@cache
def glyphs_of(font: str) -> dict[int, int]:
    """A registered TrueType font's characters (code point → glyph)."""
    register_font()
    if font in OTHER_FONTS:
        _register_other(font)
    return cast(TTFont, pdfmetrics.getFont(font)).face.charToGlyph


def _register_other(font: str) -> None:
    """Register one of OTHER_FONTS once per process (a font shipped in the package)."""
    if font in pdfmetrics.getRegisteredFontNames():
        return
    path = OTHER_FONTS[font]
    if not path.is_file():
        raise StorageError(
            f"the report font {path} is missing from the installation; reinstall sampleloans"
        )
    pdfmetrics.registerFont(TTFont(font, str(path)))


def _is_arabic_script(char: str) -> bool:
    """Whether a character is of the Arabic script (letters, marks, digits, presentation forms)."""
    return unicodedata.name(char, "").startswith("ARABIC")


@cache
def font_of(char: str) -> str:
    """The font a character is drawn in: an Arabic-script one in ARABIC_FONT, so that a word's
    letters come from one design (the report font has none of them); else the report font,
    or FALLBACK_FONT for what only it has; a character none has stays in the report font (its
    missing glyph)."""
    code = ord(char)
    if _is_arabic_script(char) and code in glyphs_of(ARABIC_FONT):
        return ARABIC_FONT
    if code not in glyphs_of(FONT) and code in glyphs_of(FALLBACK_FONT):
        return FALLBACK_FONT
    return FONT


def _needs_fallback(char: str) -> bool:
    """Whether a character is drawn in a font other than the report font (`font_of`)."""
    return font_of(char) != FONT


@cache
def _not_plain(char: str) -> bool:
    """Whether a character is not drawn as it is in the report font: written right to left
    (shaped, put in order) or drawn in FALLBACK_FONT."""
    return is_right_to_left(char) or _needs_fallback(char)


def plain_in_font(text: str) -> bool:
    """Whether text draws as it is in the report font alone: no right-to-left word to put in
    order, no character for FALLBACK_FONT (always, in the layouts before `other_scripts`)."""
    if not _OTHER_SCRIPTS.get() or text.isascii():
        return True
    return not any(map(_not_plain, text))


def font_runs(text: str, *, run_joiner: str = " ") -> list[tuple[str, str]]:
    """A line as drawn: its glyphs in drawing order (`scripts.visual`), in runs of one font,
    (font, text) each; `run_joiner` is put between the words of a right-to-left run."""
    if plain_in_font(text):
        return [(FONT, text)]
    runs: list[tuple[str, str]] = []
    for font, chars in groupby(visual(text, run_joiner), key=font_of):
        runs.append((font, "".join(chars)))
    return runs


def text_width(text: str, size: float) -> float:
    """A line's width in points at `size`, drawn as `font_runs` draws it."""
    return sum(pdfmetrics.stringWidth(run, font, size) for font, run in font_runs(text))


def register_font() -> None:
    """Register the report font once per process."""
    if FONT in pdfmetrics.getRegisteredFontNames():
        return
    path = font_path()
    try:
        pdfmetrics.registerFont(TTFont(FONT, str(path), subfontIndex=0))
    except Exception as exc:  # reportlab raises its own TTFError and others
        # name where the file came from: the variable the user set, or the installation
        where = "SAMPLELOANS_REPORT_FONT" if path != PACKAGED_FONT else "the bundled report font"
        raise StorageError(
            f"{where}: {path} is not a TrueType font reportlab can use ({exc}); set "
            "SAMPLELOANS_REPORT_FONT to a .ttf/.ttc with Latin and CJK glyphs"
        ) from None
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
    """A paragraph of escaped text; from layout 21 (`other_scripts`), what the report font lacks
    in FALLBACK_FONT and a right-to-left run in reading order (`ReadingOrderParagraph`)."""
    if plain_in_font(text):
        return Paragraph(esc(text), style)
    return ReadingOrderParagraph(text, style)


def drawn_markup(lines: Sequence[str]) -> str:
    """Paragraph markup of lines, each in drawing order and in runs of one font, a right-to-left
    run's words joined by no-break spaces (kept on its line); the lines joined by line breaks."""
    return "<br/>".join(
        "".join(
            esc(run) if font == FONT else f'<font name="{font}">{esc(run)}</font>'
            for font, run in font_runs(line, run_joiner="\u00a0")
        )
        for line in lines
    )


class ReadingOrderParagraph(Paragraph):
    """A paragraph holding right-to-left text, broken into lines in reading order for the width
    it is given, each line then put in drawing order.

    Reportlab breaks the lines of the text it draws, which is in drawing order: a right-to-left
    run wider than a line (a long Urdu name in a party block) was cut between characters from
    its left, its *last* word on the first line and a word split across two. A text that fits
    on one line is the one-line paragraph it always was (the same bytes)."""

    def __init__(self, text: str | None, style: Any = None, **kw: Any) -> None:
        # reportlab's split makes the halves by this constructor with text None and their frags:
        # lines already broken, drawn as they are
        self.reading_text, self.reading_lines = text, [text] if text is not None else []
        markup = None if text is None else drawn_markup([text])
        super().__init__(markup, style, **kw)  # type: ignore[arg-type]  # None with frags, as split does

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:
        """Break the text in reading order for `availWidth`, then lay it out as reportlab does."""
        if self.reading_text is not None:
            room = availWidth - self.style.leftIndent - self.style.rightIndent
            lines = reading_lines(self.reading_text, room, self.style.fontSize)
            if lines != self.reading_lines:
                self.reading_lines = lines
                Paragraph.__init__(self, drawn_markup(lines), self.style)
        return super().wrap(availWidth, availHeight)


def reading_lines(text: str, room: float, size: float) -> list[str]:
    """`text` broken at spaces, in reading order, into lines no wider than `room` points at
    `size` (as drawn: `text_width`); a word wider than a line is cut between characters."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        joined = f"{line} {word}" if line else word
        if text_width(joined, size) <= room:
            line = joined
            continue
        if line:
            lines.append(line)
        line = ""
        for char in word:  # a word wider than a line (rare): its characters, packed
            if line and text_width(line + char, size) > room:
                lines.append(line)
                line = ""
            line += char
    return [*lines, line] if line else lines


def heading(text: str) -> Paragraph:
    """A section heading."""
    return para(text, styles()["h2"])


def key_values(
    pairs: Sequence[tuple[str, str]], width: float | None = None, *, marked: Sequence[int] = ()
) -> Table:
    """A two-column table of labels and values; `marked` rows are highlighted (a warning)."""
    st = styles()
    usable = width or full_width()
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
    from sampleloans.reports.tables import TextTable  # tables.py builds on this module

    if any(isinstance(item, TextTable) for item in content):
        return [CondPageBreak(SECTION_ROOM), heading(title), *content]
    return [KeepTogether([heading(title), *content])]


def ruled_lines(count: int) -> Table:
    """`count` empty ruled lines, the full width, to write on by hand."""
    usable = full_width()
    table = Table([[""]] * count, colWidths=[usable], rowHeights=[7 * mm] * count, hAlign="LEFT")
    table.setStyle(TableStyle([("LINEBELOW", (0, 0), (-1, -1), 0.4, RULE)]))
    return table


def signature_blocks(roles: Sequence[str]) -> KeepTogether:
    """Signature lines for each role: name, signature, date."""
    st = styles()
    usable = full_width()
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
        """The fixed PDF date, whatever time reportlab passes."""
        return text

    return formatter


class _CanvasInternals(Protocol):
    """What `NumberedCanvas` uses of reportlab's `Canvas` below its public API."""

    def _startPage(self) -> None: ...


def _numbered_canvas(
    title: str,
    scope: str,
    head: str,
    digest: str,
    generated_at: str,
    qr_payload: str,
    created_at: datetime,
    attachments: Sequence[tuple[str, str, bytes]],
    head_fits: bool,
) -> type[canvas_module.Canvas]:
    """A canvas that holds every page until the end so the footer can say 'page N of M'.

    What every page repeats (running head, rules, footer line) is one form XObject drawn on
    each page; only 'page N of M' is written page by page.
    """

    class NumberedCanvas(canvas_module.Canvas):
        """reportlab's canvas, keeping each page until `save` knows how many there are."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._saved: list[dict[str, Any]] = []
            self.setDateFormatter(pdf_date(created_at))

        def showPage(self) -> None:
            """Keep the page to draw at the end, when the page count is known."""
            self._saved.append(dict(self.__dict__))
            cast(_CanvasInternals, self)._startPage()

        def save(self) -> None:
            """Draw every kept page with its decoration and 'page N of M', then write the file."""
            saved, self._saved = self._saved, []
            total = len(saved)
            self.beginForm(DECORATION)
            _decorate(self, title, scope, head, digest, generated_at, head_fits)
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


def shortened(text: str, room: float, size: float) -> str:
    """`text`, cut at the end and marked '…' if it is wider than `room` points at `size`."""
    if text_width(text, size) <= room:
        return text
    fits, too_long = 0, len(text)  # the longest prefix that fits with its '…', by bisection
    while too_long - fits > 1:
        middle = (fits + too_long) // 2
        wide = text_width(text[:middle].rstrip() + "…", size)
        fits, too_long = (middle, too_long) if wide <= room else (fits, middle)
    return text[:fits].rstrip() + "…"


def _decorate(
    c: Any,
    title: str,
    scope: str,
    head: str,
    digest: str,
    generated_at: str,
    head_fits: bool,
) -> None:
    """Running head, rules and footer line: the same on every page. With `head_fits` (page
    layouts from 4 on) the running head is shortened to end before the right-hand text; before,
    it was cut at 120 characters, and a long name ran over the right-hand text."""
    width, height = PAGE
    c.saveState()
    c.setFont(FONT, 8)
    c.setFillColor(GREY)
    left = f"{title} — {scope}"
    if head_fits:
        room = width - 2 * MARGIN - pdfmetrics.stringWidth(RUNNING_HEAD_RIGHT, FONT, 8) - 6 * mm
        left = shortened(left, room, 8)
    else:
        left = left[:120]
    _draw_runs(c, MARGIN, height - 10 * mm, left, 8)
    c.drawRightString(width - MARGIN, height - 10 * mm, RUNNING_HEAD_RIGHT)
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


def _draw_runs(c: Any, x: float, y: float, text: str, size: float) -> None:
    """A line drawn from (x, y) in the report font at `size`, already set, as `font_runs` draws
    it: one `drawString` when it is plain (as every layout before 21), else a run a font, the
    report font set again after."""
    if plain_in_font(text):
        c.drawString(x, y, text)
        return
    for font, run in font_runs(text):
        c.setFont(font, size)
        c.drawString(x, y, run)
        x += pdfmetrics.stringWidth(run, font, size)
    c.setFont(FONT, size)


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
    head_fits: bool = True,
) -> bytes:
    """Lay out a story on A4 pages with header, footer and QR code; return the PDF bytes.

    `created_at` is written as the PDF's CreationDate and ModDate; `attachments` (name,
    MIME type, bytes) are embedded files (a statement's proofs); `head_fits`: the running head
    is shortened to its line (page layouts from 4 on, statements from version 2 on).
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
        keywords=[keywords],  # one string: reportlab joins a list with ', '
        invariant=1,
        pageCompression=1,
    )
    canvasmaker = _numbered_canvas(
        title, scope, head, digest, generated_at, qr_payload, created_at, attachments, head_fits
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
