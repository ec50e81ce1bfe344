"""A right-to-left name longer than a line wraps in reading order, its words whole.

Before (report layout 21, statement layout 16): a paragraph holding Urdu text (a report's party
block, a statement's) was put in drawing order first and its right-to-left run joined by
no-break spaces, so a run wider than the line was cut by reportlab between characters in
*drawing* order: the first line showed the end of the name, a word ("خان") was cut in two across
lines. After: such a paragraph is broken into lines in reading order, each line then put in
drawing order (`layout.para`); a name that fits on its line is drawn as before, byte for byte.
"""

import io
from pathlib import Path

from pypdf import PdfReader

from sampleloans.reports.scripts import shaped
from tests.i15_statement_helpers import env_for, invoke, make_checkpoint, make_demo

PI = "pi@suparco.example"
FIRST_NAMES = "محمد عمران خان علی حسن احمد زبیر زینب یاسر بلال عثمان نادر یوسف شاکر نعمان"
# Urdu's own letters too (ہ heh goal, ے yeh barree): long enough to wrap in Noto Naskh Arabic
WORDS = [*FIRST_NAMES.split(), "طارق", "کامران", "سلیم", "فاطمہ", "عائشہ", "مریم", "ثانیہ",
         "بی", "بیگم", "راحیل", "شہزاد", "جاوید", "ارشد", "فرحان", "کے"]  # fmt: skip
LONG_NAME = " ".join(WORDS)


def page_lines(pdf: Path) -> list[str]:
    """The first page's extracted lines, runs of white space (a no-break space too) one space."""
    text = PdfReader(io.BytesIO(pdf.read_bytes())).pages[0].extract_text()
    return [" ".join(line.split()) for line in text.splitlines()]


def drawn_words(line: str) -> set[str]:
    """The words of an extracted line, each as drawn and reversed (pypdf's order varies)."""
    return {form for word in line.split() for form in (word, word[::-1])}


def line_of(lines: list[str], word: str) -> int:
    """The index of the first line holding `word` whole (shaped), or -1."""
    return next((i for i, line in enumerate(lines) if shaped(word) in drawn_words(line)), -1)


def test_a_long_urdu_name_wraps_in_reading_order_with_whole_words(tmp_path: Path) -> None:
    ledger = make_demo(tmp_path)
    env = env_for(ledger)
    renamed = invoke(env, "people", "rename", PI, "--name", LONG_NAME, "--reason", "in Urdu")
    assert renamed.exit_code == 0, renamed.stderr
    make_checkpoint(ledger, tmp_path)
    custody, statements = tmp_path / "custody.pdf", tmp_path / "statements"
    for args in (
        ("report", "custody", "--loan", "L-2025-SUPARCO", "--out", str(custody)),
        ("report", "statement", "--institution", "SUPARCO", "--out", str(statements)),
    ):
        made = invoke(env, *args)
        assert made.exit_code == 0, made.stderr
    (statement,) = statements.iterdir()
    for pdf in (custody, statement):
        lines = page_lines(pdf)
        at = [line_of(lines, word) for word in WORDS]
        assert -1 not in at, (pdf.name, [w for w, i in zip(WORDS, at, strict=True) if i < 0])
        assert at == sorted(at), (pdf.name, at)  # the first words on the first line
        assert at[0] < at[-1], (pdf.name, at)  # longer than a line: it did wrap
        checked = invoke(env, "verify-document", str(pdf))
        assert checked.exit_code == 0 and "byte-identical" in checked.stdout, checked.stdout


def test_reading_lines_keep_reading_order_and_whole_words() -> None:
    """Service level (`layout.reading_lines`): the lines, joined, are the text; each fits; only a
    word wider than a line is cut."""
    from sampleloans.reports.layout import reading_lines, text_width

    text = f"Dr. {LONG_NAME} (SUPARCO) 2025 — {PI}"
    lines = reading_lines(text, 120.0, 9)
    assert len(lines) > 2 and " ".join(lines) == text
    assert all(text_width(line, 9) <= 120.0 for line in lines)
    cut = reading_lines("x" * 80, 120.0, 9)  # one word wider than a line: cut between characters
    assert len(cut) > 1 and "".join(cut) == "x" * 80
