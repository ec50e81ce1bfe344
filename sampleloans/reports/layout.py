"""Page layout shared by every report: A4, fonts, styles, header, footer, QR code, metadata.

Font: **WenQuanYi Micro Hei** (`wqy-microhei.ttc`, Apache-2.0/GPLv3 with font exception), one
TrueType face with Latin, Latin-1/Extended (Münker, Université, µ) and CJK (大学) glyphs, so
every name renders in one font and reportlab embeds only the glyphs used (subset). The Noto CJK
fonts are CFF/OpenType, which reportlab cannot embed, and no PyPI package ships a TrueType CJK
face; so the project ships the font file itself (`reports/fonts/wqy-microhei.ttc`, Apache-2.0,
copyright notice beside it), taken from Debian's fonts-wqy-microhei. Shipping it also keeps the
PDFs byte-identical across machines. `SAMPLELOANS_REPORT_FONT` (a .ttf/.ttc path) overrides it.

`build_pdf` is deterministic (`invariant=1`, fixed metadata, no user, host or path anywhere):
the same story and arguments give byte-identical files.
"""

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas as canvas_module
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from reportlab.platypus.flowables import KeepTogether

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


def styles() -> dict[str, ParagraphStyle]:
    """The paragraph styles of every report."""
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


def key_values(pairs: Sequence[tuple[str, str]], width: float | None = None) -> Table:
    """A two-column table of labels and values."""
    st = styles()
    usable = width or (PAGE[0] - 2 * MARGIN)
    rows = [[para(k, st["note"]), para(v, st["body"])] for k, v in pairs]
    table = Table(rows, colWidths=[usable * 0.28, usable * 0.72], hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, SHADE),
                ("TOPPADDING", (0, 0), (-1, -1), 1.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
            ]
        )
    )
    return table


def data_tables(
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    widths: Sequence[float],
    *,
    marked: Sequence[int] = (),
    total: bool = False,
    align_right: Sequence[int] = (),
) -> list[Any]:
    """Tables of at most TABLE_CHUNK rows each, header repeated on every page.

    `widths` are fractions of the usable width; `marked` are row indexes to highlight;
    `total` shades the last row. Cells that are strings become small paragraphs (they wrap).
    """
    st = styles()
    usable = PAGE[0] - 2 * MARGIN
    col_widths = [usable * w for w in widths]
    head_row = [para(h, st["cell"]) for h in header]
    marked_set = set(marked)
    out: list[Any] = []
    if not rows:
        return [para("(none)", st["note"])]
    for start in range(0, len(rows), TABLE_CHUNK):
        chunk = rows[start : start + TABLE_CHUNK]
        body = [[_cell(c, st) for c in row] for row in chunk]
        table = Table([head_row, *body], colWidths=col_widths, repeatRows=1, hAlign="LEFT")
        commands: list[Any] = [
            ("FONTNAME", (0, 0), (-1, -1), FONT),
            ("FONTSIZE", (0, 0), (-1, -1), 7),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("BACKGROUND", (0, 0), (-1, 0), SHADE),
            ("LINEBELOW", (0, 0), (-1, 0), 0.6, RULE),
            ("LINEBELOW", (0, 1), (-1, -1), 0.2, SHADE),
            ("TOPPADDING", (0, 0), (-1, -1), 1.2),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 1.2),
            ("LEFTPADDING", (0, 0), (-1, -1), 2),
            ("RIGHTPADDING", (0, 0), (-1, -1), 2),
        ]
        for column in align_right:
            commands.append(("ALIGN", (column, 1), (column, -1), "RIGHT"))
        for index in range(start, start + len(chunk)):
            if index in marked_set:
                commands.append(
                    ("BACKGROUND", (0, index - start + 1), (-1, index - start + 1), MARK)
                )
        if total and start + len(chunk) == len(rows):
            commands.append(("BACKGROUND", (0, -1), (-1, -1), SHADE))
            commands.append(("LINEABOVE", (0, -1), (-1, -1), 0.6, RULE))
        table.setStyle(TableStyle(commands))
        out.append(table)
    return out


def _cell(value: Any, st: dict[str, ParagraphStyle]) -> Any:
    if isinstance(value, str) and len(value) > 14:
        return para(value, st["cell"])
    return "" if value is None else str(value)


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


def _numbered_canvas(
    title: str, scope: str, head: str, digest: str, generated_at: str, qr_payload: str
) -> type:
    """A canvas that holds every page until the end so the footer can say 'page N of M'."""

    class NumberedCanvas(canvas_module.Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._saved: list[dict[str, Any]] = []

        def showPage(self) -> None:
            self._saved.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._saved)
            for number, state in enumerate(self._saved, start=1):
                self.__dict__.update(state)
                _decorate(self, number, total, title, scope, head, digest, generated_at)
                if number == 1:
                    _draw_qr(self, qr_payload)
                super().showPage()
            super().save()

    return NumberedCanvas


def _decorate(
    c: Any,
    number: int,
    total: int,
    title: str,
    scope: str,
    head: str,
    digest: str,
    generated_at: str,
) -> None:
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
    c.drawRightString(width - MARGIN, 9 * mm, f"page {number} of {total}")
    c.setFont(FONT, 6.5)
    c.drawString(
        MARGIN,
        5.5 * mm,
        "Check this document against the ledger: sampleloans verify-document FILE.pdf",
    )
    c.restoreState()


def _draw_qr(c: Any, payload: str) -> None:
    size = 30 * mm
    widget = QrCodeWidget(payload, barLevel="M")
    x0, y0, x1, y1 = widget.getBounds()
    drawing = Drawing(size, size, transform=[size / (x1 - x0), 0, 0, size / (y1 - y0), 0, 0])
    drawing.add(widget)
    renderPDF.draw(drawing, c, PAGE[0] - MARGIN - size, PAGE[1] - 14 * mm - size)


def build_pdf(
    story: list[Any],
    *,
    title: str,
    scope: str,
    head: str,
    digest: str,
    generated_at: str,
    doc_title: str,
    subject: str,
    keywords: str,
    qr_payload: str,
) -> bytes:
    """Lay out a story on A4 pages with header, footer and QR code; return the PDF bytes."""
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
    canvasmaker = _numbered_canvas(title, scope, head, digest, generated_at, qr_payload)
    doc.build(story, canvasmaker=canvasmaker)
    return buffer.getvalue()


def title_block(title: str, lines: Sequence[tuple[str, str]]) -> list[Any]:
    """The first page's title and header facts (leaves room for the QR code at the right)."""
    st = styles()
    usable = PAGE[0] - 2 * MARGIN - 34 * mm
    return [para(title, st["h1"]), key_values(lines, usable), Spacer(1, 4 * mm)]
