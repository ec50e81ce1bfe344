"""Right-to-left scripts on a PDF page: Arabic letters joined and words put in reading order.

A PDF draws the glyphs of a string left to right, one per character: it neither joins Arabic
letters (each has an isolated, initial, medial and final form) nor reads a right-to-left word
from the right. Names typed in Urdu or Arabic (SUPARCO is in Pakistan) are therefore shaped
into Unicode's Arabic presentation forms by `arabic_reshaper`, and each line is put in the
order its glyphs are drawn by the Unicode bidirectional algorithm (`python-bidi`), in a
left-to-right paragraph, as the rest of a report is.
"""

import re
import unicodedata
from functools import cache

from arabic_reshaper import ArabicReshaper
from bidi.algorithm import get_display

LAM_ALEF_LIGATURES = (
    "ARABIC LIGATURE LAM WITH ALEF",
    "ARABIC LIGATURE LAM WITH ALEF WITH HAMZA ABOVE",
    "ARABIC LIGATURE LAM WITH ALEF WITH HAMZA BELOW",
    "ARABIC LIGATURE LAM WITH ALEF WITH MADDA ABOVE",
)
"""The ligatures drawn: lam-alef, which Arabic writing requires, and no other (the fallback
font has no glyph for the others, e.g. ALLAH, which would print blank)."""

_SPACES = re.compile(r"\s+")


@cache
def _reshaper() -> ArabicReshaper:
    """The shaper: marks (harakat) kept as typed, only the lam-alef ligatures."""
    configuration: dict[str, object] = {"delete_harakat": False, "support_ligatures": True}
    from arabic_reshaper.ligatures import LIGATURES

    for name, _forms in LIGATURES:
        configuration[name] = name in LAM_ALEF_LIGATURES
    return ArabicReshaper(configuration=configuration)


def is_right_to_left(char: str) -> bool:
    """Whether a character is written right to left (Arabic, Hebrew, Syriac, Thaana …)."""
    return unicodedata.bidirectional(char) in ("R", "AL")


def shaped(word: str) -> str:
    """A word's Arabic letters in the presentation form their neighbours give each, lam-alef as
    its ligature; every other character as it is (logical order kept)."""
    return _reshaper().reshape(word) if any(map(is_right_to_left, word)) else word


def visual(line: str, joiner: str = " ") -> str:
    """A line in the order its glyphs are drawn left to right, its Arabic letters shaped; the
    spaces between two right-to-left words become `joiner` (a no-break space keeps a run on one
    line of a paragraph); a line with no right-to-left character as it is."""
    if not any(map(is_right_to_left, line)):
        return line
    if joiner != " ":
        line = _SPACES.sub(lambda space: _joined(line, space, joiner), line)
    drawn = get_display(_reshaper().reshape(line), base_dir="L")
    assert isinstance(drawn, str)  # a str in, a str out
    return drawn


def _joined(line: str, space: "re.Match[str]", joiner: str) -> str:
    """`joiner` for a run of spaces between two right-to-left characters, else the spaces."""
    start, end = space.span()
    between = start > 0 and end < len(line)
    if between and is_right_to_left(line[start - 1]) and is_right_to_left(line[end]):
        return joiner
    return space.group()
