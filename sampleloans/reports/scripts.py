"""Right-to-left scripts on a PDF page: Arabic letters joined and words put in reading order.

A PDF draws the glyphs of a string left to right, one per character: it neither joins Arabic
letters (each has an isolated, initial, medial and final form) nor reads a right-to-left word
from the right. Names typed in Urdu or Arabic (SUPARCO is in Pakistan) are therefore shaped
here into Unicode's Arabic presentation forms, each letter in the form its neighbours give it,
and every right-to-left run of a line is written in visual order (its words, and the letters of
each, reversed), as a reader expects. The forms come from Unicode's own decompositions
(`unicodedata`), so no table is kept here; a letter with no form of a kind keeps the one it has.

Names are typed one script per word (`text.clean_name`), so a run is whole words: the Unicode
bidirectional algorithm's full rules (numbers inside a right-to-left run, embeddings) are not
needed for them, and a digit or a Latin word ends a run.
"""

import re
import unicodedata
from functools import cache

ISOLATED, INITIAL, MEDIAL, FINAL = "<isolated>", "<initial>", "<medial>", "<final>"
_LAM = "\u0644"
_TATWEEL = "\u0640"  # the joining stroke, which joins on both sides
# Closing and opening brackets swap in a right-to-left run, as the bidi algorithm mirrors them.
_MIRRORED = str.maketrans("()[]{}<>«»", ")(][}{><»«")
_SPACES = re.compile(r"(\s+)")


@cache
def _forms() -> dict[str, dict[str, str]]:
    """Each Arabic letter's presentation forms by kind ({'ب': {'<final>': 'ﺐ', …}}), and each
    lam-alef ligature's under the two letters together ('لا')."""
    forms: dict[str, dict[str, str]] = {}
    for code in (*range(0xFB50, 0xFE00), *range(0xFE70, 0xFF00)):
        parts = unicodedata.decomposition(chr(code)).split()
        if len(parts) < 2 or parts[0] not in (ISOLATED, INITIAL, MEDIAL, FINAL):
            continue
        letters = "".join(chr(int(part, 16)) for part in parts[1:])
        if len(letters) == 1 or (len(letters) == 2 and letters[0] == _LAM):
            forms.setdefault(letters, {}).setdefault(parts[0], chr(code))
    return forms


def _joins_next(char: str) -> bool:
    """Whether a letter joins the letter after it (it has an initial or medial form)."""
    kinds = _forms().get(char, {})
    return char == _TATWEEL or INITIAL in kinds or MEDIAL in kinds


def _joins_previous(char: str) -> bool:
    """Whether a letter joins the letter before it (it has a final or medial form)."""
    kinds = _forms().get(char, {})
    return char == _TATWEEL or FINAL in kinds or MEDIAL in kinds


def _is_mark(letter: str) -> bool:
    """A combining mark (a harakat): it takes no part in joining (a lam-alef is no mark)."""
    return len(letter) == 1 and unicodedata.category(letter) == "Mn"


def is_right_to_left(char: str) -> bool:
    """Whether a character is written right to left (Arabic, Hebrew, Syriac, Thaana …)."""
    return unicodedata.bidirectional(char) in ("R", "AL")


def shaped(word: str) -> str:
    """A word's Arabic letters in the presentation form their neighbours give each, lam-alef as
    its ligature; every other character as it is (logical order kept)."""
    if not any(char in _forms() for char in word):
        return word
    letters = _ligated(word)
    out: list[str] = []
    for index, letter in enumerate(letters):
        out.append(_form_of(letter, _neighbour(letters, index, -1), _neighbour(letters, index, 1)))
    return "".join(out)


def _ligated(word: str) -> list[str]:
    """The word's characters, a lam followed by an alef taken as one letter (their ligature)."""
    letters: list[str] = []
    for char in word:
        if letters and letters[-1] == _LAM and _LAM + char in _forms():
            letters[-1] = _LAM + char
        else:
            letters.append(char)
    return letters


def _neighbour(letters: list[str], index: int, step: int) -> str:
    """The nearest letter before (`step` -1) or after (+1) `index`, skipping combining marks;
    "" at the word's edge."""
    index += step
    while 0 <= index < len(letters) and _is_mark(letters[index]):
        index += step
    return letters[index] if 0 <= index < len(letters) else ""


def _form_of(letter: str, before: str, after: str) -> str:
    """A letter's form: joined to the letter before when both join that way, and to the one
    after likewise (a lam-alef joins only before, as alef does)."""
    kinds = _forms().get(letter)
    if not kinds:
        return letter
    tail = letter[-1]  # a lam-alef joins on as its alef does
    joined_before = bool(before) and _joins_next(before[-1]) and _joins_previous(letter[0])
    joined_after = bool(after) and _joins_next(tail) and _joins_previous(after[0])
    kind = {
        (True, True): MEDIAL,
        (True, False): FINAL,
        (False, True): INITIAL,
        (False, False): ISOLATED,
    }[(joined_before, joined_after)]
    fallback = kinds.get(FINAL if joined_before else ISOLATED, kinds.get(ISOLATED, letter))
    return kinds.get(kind, fallback)


def visual(line: str, joiner: str = " ") -> str:
    """A line in the order its glyphs are drawn left to right: every run of right-to-left
    words reversed word by word, each word shaped and its characters reversed, the words
    `joiner`-separated (a no-break space keeps a run on one line of a paragraph); a line with
    no right-to-left character as it is."""
    if not any(map(is_right_to_left, line)):
        return line
    out: list[str] = []
    run: list[str] = []
    for token in _SPACES.split(line):
        between = bool(run) and (not token or token.isspace())  # spaces inside a run
        if between or any(map(is_right_to_left, token)):
            run.append(token)
        else:
            out.extend(_closed(run, joiner))
            run = []
            out.append(token)
    out.extend(_closed(run, joiner))
    return "".join(out)


_TRAILING_STOPS = re.compile(r"[,;:.!?]+$")


def _closed(run: list[str], joiner: str) -> list[str]:
    """A right-to-left run (its words in logical order) in drawing order: the words reversed,
    each shaped and written from the right; the spaces and the stops that end it (a comma
    before a Latin word) kept at its end, where a left-to-right line reads them."""
    trailing: list[str] = []
    while run and (not run[-1] or run[-1].isspace()):
        trailing.insert(0, run.pop())
    if run:
        stops = _TRAILING_STOPS.search(run[-1])
        if stops:
            run[-1] = run[-1][: stops.start()]
            trailing.insert(0, stops.group())
    drawn = [joiner if word.isspace() else shaped(word)[::-1].translate(_MIRRORED) for word in run]
    return [*drawn[::-1], *trailing]
