"""Sweep "the PDFs a compliance officer hands on": no table cell draws beyond its column.

The custody report's chain table printed "Return shippedCarsten Münker": a string of up to 14
characters (`WRAP_OVER`) was never wrapped, however wide, and ran into the next column. From
page layout 5 (statement layout 3) every cell is wrapped to its column; an archived report
re-renders in its own layout, byte-identical.

The check reads each page's own content stream (not pypdf's text extraction, whose `T*` keeps
the x where the previous string ended) and measures every string with the widths its PDF font
declares, so it sees what a reader sees: two strings on one baseline that overlap, or that come
closer than the two cell paddings between columns, or a string past the right margin. From
page layout 6 (statement layout 4) it also reads every rule and shading the page draws (`re`,
`m`, `l`): every table ends at the right margin, where before a full-width table, as wide as the
page between its margins but starting at reportlab's 6 pt frame padding, ended 6 pt past it.
"""

import shutil
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from pypdf.generic import ContentStream
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from typer.testing import CliRunner

from sampleloans.cli import app
from sampleloans.reports import statement
from sampleloans.reports.custody import (
    EVENT_HEADER,
    FITTED_EVENT_WIDTHS,
    FITTED_RECORDED_WIDTHS,
    FITTED_SIGNATURE_WIDTHS,
    FRAMED_EVENT_WIDTHS,
    FRAMED_SIGNATURE_WIDTHS,
)
from sampleloans.reports.layout import MARGIN, PAGE, full_width
from sampleloans.reports.tables import CELL_PADDING, measurer
from tests.conftest import GOLDEN, demo_env

CURATOR = "curator@naoc.example"
COMPLIANCE = "compliance@naoc.example"
NOW = "2026-11-30T12:00:00Z"
LONG_PI = "woelfle@uni-muenster.example"
LONG_NAME = "Ægidius Wölfle-Ñúñez von und zu Hohenzollern-Sigmaringen-Hechingen"
LONG_PLACE = "NAOC building N2 cabinet A-17/drawer 3 (nitrogen-purged glovebox, west wall)"
LOANS = ("L-2025-UoC", "L-2025-OU", "L-2025-IPGP", "L-2025-Osaka", "L-2025-SUPARCO", "L-W")
SAMPLE = "CE5C0000YJYX070"
# Where every table must end: the right margin (the page's ruled head and foot end there too).
RIGHT_EDGE = PAGE[0] - MARGIN
LEFT_EDGE = MARGIN
FOOT_TOP = 17 * mm  # the body's bottom margin: below it, only the page's foot is written


def cli(env: dict[str, str], *args: str, code: int = 0) -> Any:
    """Invoke the CLI; check the exit code."""
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == code, (args, result.stdout, result.stderr)
    return result


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo round, plus a PI with a long name requesting a loan, a sample moved to a long
    location, and a signed checkpoint (statements are built on one)."""
    env = {**demo_env(tmp_path_factory, CURATOR, NOW), "COLUMNS": "120"}
    folder = Path(env["SAMPLELOANS_DB"]).parent
    person = ["--name", LONG_NAME, "--institution", "OU", "--role", "researcher"]
    cli(env, "people", "add", LONG_PI, *person)
    cli(env, "samples", "move", SAMPLE, "--location", LONG_PLACE, "--reason", "glovebox")
    request = ["--agreement", "AG-2025-OU", "--pi", LONG_PI, "--sample", SAMPLE]
    cli(env, "loans", "request", "L-W", *request)
    cli(env, "keys", "generate", "--out", str(folder / "naoc.key"), "--name", "naoc")
    cli(env, "checkpoint", "--key", str(folder / "naoc.key"))
    return env


def reports(env: dict[str, str], out: Path) -> list[Path]:
    """Every kind of report of the ledger, through the CLI, as the compliance officer."""
    out.mkdir()
    as_compliance = ["--as", COMPLIANCE, "report"]
    for loan in LOANS:
        for kind in ("custody", "return", "inventory"):
            target = out / f"{kind}-{loan}.pdf"
            cli(env, *as_compliance, kind, "--loan", loan, "--out", str(target))
    cli(env, *as_compliance, "custody", "--sample", SAMPLE, "--out", str(out / "sample.pdf"))
    for institution in ("UoC", "OU"):
        target = out / f"custody-{institution}.pdf"
        cli(env, *as_compliance, "custody", "--institution", institution, "--out", str(target))
    cli(env, *as_compliance, "overdue", "--institution", "OU", "--out", str(out / "overdue.pdf"))
    statements = out / "statements"
    cli(env, *as_compliance, "statement", "--institution", "OU", "--out", str(statements))
    return sorted(out.glob("*.pdf")) + sorted(statements.glob("*.pdf"))


@dataclass(frozen=True)
class Run:
    """One string drawn on a page: its baseline, left and right x (points), its bytes."""

    y: float
    left: float
    right: float
    text: bytes


def _times(a: list[float], b: list[float]) -> list[float]:
    """The product of two PDF matrices [a b c d e f]."""
    return [
        a[0] * b[0] + a[1] * b[2],
        a[0] * b[1] + a[1] * b[3],
        a[2] * b[0] + a[3] * b[2],
        a[2] * b[1] + a[3] * b[3],
        a[4] * b[0] + a[5] * b[2] + b[4],
        a[4] * b[1] + a[5] * b[3] + b[5],
    ]


def _widths(font: Any) -> tuple[int, list[float]]:
    """A simple font's first code and its glyph widths (thousandths of the size); a standard
    font (reportlab's initial Helvetica) declares none: reportlab's own metrics."""
    font = font.get_object()
    if "/Widths" not in font:
        name = str(font["/BaseFont"])[1:]
        return 0, [stringWidth(chr(code), name, 1000) for code in range(256)]
    return int(font["/FirstChar"]), [float(w) for w in font["/Widths"]]


def page_runs(page: Any) -> list[Run]:
    """The strings the page's own content draws (forms such as the running head left out)."""
    fonts = page["/Resources"]["/Font"]
    ops = ContentStream(page.get_contents(), page.pdf).operations
    identity = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0]
    ctm, stack = identity, []
    tm = tlm = identity
    size = leading = word_space = 0.0
    first, widths = 0, [0.0]
    runs: list[Run] = []
    for operands, op in ops:
        if op == b"q":
            stack.append(ctm)
        elif op == b"Q":
            ctm = stack.pop()
        elif op == b"cm":
            ctm = _times([float(v) for v in operands], ctm)
        elif op == b"BT":
            tm = tlm = identity
        elif op == b"Tf":
            first, widths = _widths(fonts[operands[0]])
            size = float(operands[1])
        elif op == b"TL":
            leading = float(operands[0])
        elif op == b"Tw":
            word_space = float(operands[0])
        elif op == b"Tm":
            tm = tlm = [float(v) for v in operands]
        elif op in (b"Td", b"TD", b"T*"):
            dx, dy = (0.0, -leading) if op == b"T*" else (float(operands[0]), float(operands[1]))
            tm = tlm = _times([1, 0, 0, 1, dx, dy], tlm)
        elif op in (b"Tj", b"TJ"):
            parts = operands[0] if op == b"TJ" else [operands[0]]
            advance = 0.0
            text = b""
            for part in parts:
                if isinstance(part, (int, float)) or hasattr(part, "as_numeric"):
                    advance -= float(part) / 1000 * size
                    continue
                data = part.original_bytes if hasattr(part, "original_bytes") else bytes(part)
                text += data
                glyphs = sum(widths[c - first] for c in data if 0 <= c - first < len(widths))
                advance += glyphs / 1000 * size + word_space * data.count(b" ")
            at = _times(tm, ctm)
            if text.strip():
                runs.append(Run(round(at[5], 1), at[4], at[4] + advance * at[0], text))
            tm = _times([1, 0, 0, 1, advance, 0], tm)
    return runs


_PATH_POINTS = {b"m": 1, b"l": 1, b"c": 3, b"v": 2, b"y": 2}  # points each path operator takes


def page_path_xs(page: Any) -> list[float]:
    """The x (points, on the page) of every point of every path the page's own content draws:
    table rules, row shading, boxes (forms such as the running head left out)."""
    ops = ContentStream(page.get_contents(), page.pdf).operations
    ctm, stack = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0], []
    xs: list[float] = []
    for operands, op in ops:
        if op == b"q":
            stack.append(ctm)
        elif op == b"Q":
            ctm = stack.pop()
        elif op == b"cm":
            ctm = _times([float(v) for v in operands], ctm)
        elif op == b"re":
            x, y, w, h = (float(v) for v in operands)
            xs += [_times([1, 0, 0, 1, px, y], ctm)[4] for px in (x, x + w)]
            xs += [_times([1, 0, 0, 1, px, y + h], ctm)[4] for px in (x, x + w)]
        elif op in _PATH_POINTS:
            values = [float(v) for v in operands]
            points = zip(values[0::2], values[1::2], strict=True)
            xs += [_times([1, 0, 0, 1, px, py], ctm)[4] for px, py in points]
    return xs


def past_the_margins(pdf: Path) -> list[str]:
    """Every page whose drawn paths (a table's rules and shading) reach past a margin."""
    found: list[str] = []
    for number, page in enumerate(PdfReader(pdf).pages, 1):
        xs = page_path_xs(page)
        if xs and (max(xs) > RIGHT_EDGE + 0.05 or min(xs) < LEFT_EDGE - 0.05):
            found.append(f"{pdf.name} p{number}: drawn from x={min(xs):.1f} to {max(xs):.1f}")
    return found


def crossings(pdf: Path) -> list[str]:
    """Every place a string runs into its neighbour on the same baseline or past the margin."""
    found: list[str] = []
    for number, page in enumerate(PdfReader(pdf).pages, 1):
        runs = sorted(page_runs(page), key=lambda r: (r.y, r.left))
        for a, b in pairwise(runs):
            continuing = abs(b.left - a.right) < 0.05  # one line written in two pieces
            if a.y == b.y and not continuing and b.left - a.right < 2 * CELL_PADDING - 0.05:
                found.append(f"{pdf.name} p{number}: {a.text!r} runs into {b.text!r}")
        for run in runs:
            # in the body a cell's string ends a cell padding inside its table; in the foot,
            # 'page N of M' ends at the margin, as the rule above it does
            room = CELL_PADDING if run.y > FOOT_TOP else 0.0
            if run.right > RIGHT_EDGE - room + 0.05:
                found.append(f"{pdf.name} p{number}: {run.text!r} past the right edge")
    return found


def test_no_cell_of_any_report_runs_into_the_next_column(
    ledger: dict[str, str], tmp_path: Path
) -> None:
    """Every report kind, long names, codes and locations included: no string crosses its
    column (the demo's 'Return shipped' ran into 'Carsten Münker' before), and every table's
    rules and shading end within the margins (they ended 6 pt past the right one before)."""
    pdfs = reports(ledger, tmp_path / "out")
    assert len(pdfs) >= len(LOANS) * 3 + 5
    found = [line for pdf in pdfs for line in crossings(pdf)]
    assert found == []
    assert all(page_path_xs(page) for page in PdfReader(pdfs[0]).pages[:1])  # paths are read
    assert [line for pdf in pdfs for line in past_the_margins(pdf)] == []


def test_the_margin_check_sees_a_table_of_the_layouts_before(
    ledger: dict[str, str], tmp_path: Path
) -> None:
    """The check above can fail: a layout-5 custody report (tables as wide as the page between
    its margins) is found past the right margin, by 6 pt (reportlab's frame padding)."""
    old = tmp_path / "custody-layout5.pdf"
    shutil.copyfile(GOLDEN / "report-layout5-custody.pdf", old)
    found = past_the_margins(old)
    assert found and all(f"to {RIGHT_EDGE + 6:.1f}" in line for line in found), found


@pytest.mark.parametrize("kind", ("custody", "return", "overdue", "inventory"))
def test_an_old_layout_report_still_verifies_byte_for_byte(
    golden_ledger: Path, kind: str, tmp_path: Path
) -> None:
    """A report printed under layout 2 (short cells never wrapped) still re-renders to the
    same bytes: the new rule applies from layout 5 on only."""
    copy = tmp_path / f"{kind}.pdf"
    shutil.copyfile(GOLDEN / f"report-layout2-{kind}.pdf", copy)
    result = CliRunner().invoke(app, ["--as", COMPLIANCE, "verify-document", str(copy)])
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "byte-identical to a fresh rendering" in result.stdout


@pytest.mark.parametrize(
    "widths",
    [
        FITTED_EVENT_WIDTHS,
        FITTED_RECORDED_WIDTHS,
        FITTED_SIGNATURE_WIDTHS,
        statement.FITTED_EVENT_WIDTHS,
        FRAMED_EVENT_WIDTHS,
        FRAMED_SIGNATURE_WIDTHS,
    ],
    ids=["chain", "descriptions", "signatures", "statement events", "chain 6", "signatures 6"],
)
def test_a_seven_digit_event_number_stays_whole(widths: tuple[float, ...]) -> None:
    """Layout 5 (statement 3) wraps every cell, so the Seq columns are wide enough for event
    9,999,999 on one line (a ledger of a million events; 1–4 let a 5-digit one run over), and
    the columns still fill the page's width."""
    usable = full_width()
    assert measurer()("9999999") <= usable * widths[0] - 2 * CELL_PADDING
    assert sum(widths) == pytest.approx(1.0)


def test_a_mass_stays_whole_in_the_chain_of_custody() -> None:
    """The widest mass `format_mass` prints ('999.999 mg') fits the chain table's Mass column
    on one line in layout 5 (in 1–4 it ran over the column's padding)."""
    usable = full_width()
    mass_column = EVENT_HEADER.index("Mass")
    width = usable * FRAMED_EVENT_WIDTHS[mass_column] - 2 * CELL_PADDING
    assert measurer()("999.999 mg") <= width
